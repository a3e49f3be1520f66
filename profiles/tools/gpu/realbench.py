#!/usr/bin/env python3
"""A minimal but real continuous-batching Qwen3-0.6B server loop on one GPU.

It replays a workload's arrivals in real time, schedules iterations with
Sarathi-Serve's rules (decodes first, then partial prefills, then new
requests, under a token budget and a batch cap) or vLLM v0's (prefill-only
batches first), runs the model's real kernels (qwen3_ops, random bf16
weights, paged KV slots, greedy sampling) and writes request_metrics.csv and
token_metrics.csv in servesim's schema with real timestamps, plus
batch_log.csv: one row per iteration with its shape and wall time, from
which servesim derives this loop's host overhead.

Usage: python3 realbench.py WORKLOAD_DIR OUTDIR [--scheduler sarathi|vllm]
WORKLOAD_DIR holds trace_lengths.csv + trace_intervals.csv.
"""
import argparse
import csv
import math
import os
import time

import torch

import qwen3_ops as q

dev = "cuda"
BLOCK = 16


def load(workdir):
    with open(os.path.join(workdir, "trace_lengths.csv")) as f:
        lens = list(csv.DictReader(f))
    with open(os.path.join(workdir, "trace_intervals.csv")) as f:
        ivs = list(csv.DictReader(f))
    return [dict(id=i, P=int(a["num_prefill_tokens"]), D=int(a["num_decode_tokens"]), arrival=int(b["arrival_time_ns"]))
            for i, (a, b) in enumerate(zip(lens, ivs))]


class Req:
    def __init__(self, d):
        self.__dict__.update(d)
        self.processed = 0
        self.generated = 0
        self.prefill_done = False
        self.slots = []
        self.tokens = []  # completion times, ns since start
        self.last = 1  # last token id


class Server:
    def __init__(self, pool_tokens, chunk, cap, scheduler, max_tokens_in_batch=4096):
        torch.manual_seed(0)
        self.layers = [q.Layer(dev) for _ in range(q.LAYERS)]
        self.wemb = (torch.randn(q.V, q.E, device=dev) * 0.02).to(q.DT)
        self.lnf = torch.ones(q.E, device=dev, dtype=q.DT)
        self.cos, self.sin = q.rope_cache(pool_tokens, dev)
        self.kc = [torch.zeros(pool_tokens, q.KVH, q.HD, device=dev, dtype=q.DT) for _ in range(q.LAYERS)]
        self.vc = [torch.zeros(pool_tokens, q.KVH, q.HD, device=dev, dtype=q.DT) for _ in range(q.LAYERS)]
        self.free_blocks = list(range(pool_tokens // BLOCK - 1, -1, -1))
        self.chunk, self.cap, self.scheduler, self.mtb = chunk, cap, scheduler, max_tokens_in_batch
        self.waiting, self.running = [], []

    # --- KV slots (paged, block 16); a request reserves its whole P+D at admission
    def can_admit(self, r):
        return len(self.free_blocks) >= math.ceil((r.P + r.D) / BLOCK)

    def admit(self, r):
        n = math.ceil((r.P + r.D) / BLOCK)
        blocks = [self.free_blocks.pop() for _ in range(n)]
        r.slots = [b * BLOCK + i for b in blocks for i in range(BLOCK)]
        r.slot_t = torch.tensor(r.slots, device=dev)

    def release(self, r):
        for s in r.slots[::BLOCK]:
            self.free_blocks.append(s // BLOCK)
        r.slots = []

    # --- schedulers (servesim's semantics, without preemption: the pool is sized to avoid it)
    def next_batch(self):
        if self.scheduler == "vllm":
            return self.next_vllm()
        batch, tokens, prefills = [], 0, []
        keep = []
        for r in self.running:
            if len(batch) >= self.cap:
                keep.append(r)
                continue
            if not r.prefill_done:
                prefills.append(r)
                continue
            batch.append((r, 1))
            tokens += 1
        for r in prefills:
            n = max(0, min(r.P - r.processed, self.chunk - tokens))
            if n == 0:
                keep.append(r)
                continue
            batch.append((r, n))
            tokens += n
        self.running = sorted(keep, key=lambda r: (r.arrival, r.id))
        while self.waiting:
            r = self.waiting[0]
            in_flight = len(self.running) + len(batch)
            n = min(r.P, self.chunk - tokens)
            if in_flight >= self.cap or n <= 0 or not self.can_admit(r):
                break
            self.waiting.pop(0)
            self.admit(r)
            batch.append((r, n))
            tokens += n
        return batch

    def next_vllm(self):
        batch, longest = [], 0
        while self.waiting:
            r = self.waiting[0]
            if (len(batch) + 1) * max(longest, r.P) > self.mtb or len(self.running) + len(batch) >= self.cap or not self.can_admit(r):
                break
            self.waiting.pop(0)
            self.admit(r)
            batch.append((r, r.P))
            longest = max(longest, r.P)
        if batch:
            return batch
        batch = [(r, 1) for r in sorted(self.running, key=lambda r: (r.arrival, r.id))[: self.cap]]
        ids = {id(r) for r, _ in batch}
        self.running = [r for r in self.running if id(r) not in ids]
        return batch

    # --- one iteration of the model
    @torch.inference_mode()
    def step(self, batch):
        decodes = [(r, n) for r, n in batch if r.prefill_done]
        prefills = [(r, n) for r, n in batch if not r.prefill_done]
        order = decodes + prefills
        ids, pos, slots = [], [], []
        for r, n in order:
            # a decode's input is the last generated token, at position processed-1
            start = r.processed - 1 if r.prefill_done else r.processed
            ids += [r.last] * n
            pos += list(range(start, start + n))
            slots += r.slots[start:start + n]
        T = len(ids)
        ids_t = torch.tensor(ids, device=dev)
        pos_t = torch.tensor(pos, device=dev)
        slots_t = torch.tensor(slots, device=dev)
        B = len(decodes)
        if B:
            lens = [r.processed for r, _ in decodes]  # keys: every processed token, the current one included
            table = torch.nn.utils.rnn.pad_sequence([r.slot_t[:n] for (r, _), n in zip(decodes, lens)], batch_first=True)
            pad = -table.shape[1] % 64  # key lengths padded to a multiple of 64 (masked): few distinct shapes
            if pad:
                table = torch.nn.functional.pad(table, (0, pad))
            lens_t = torch.tensor(lens, device=dev)
            mask = (torch.arange(table.shape[1], device=dev).unsqueeze(0) < lens_t.unsqueeze(1)).view(B, 1, 1, -1)
        pf = []
        off = B
        for r, n in prefills:
            m = r.processed + n
            kv_slots = r.slot_t[:m]
            pmask = None if r.processed == 0 else q.prefill_mask(n, m, dev)
            pf.append((off, n, kv_slots, pmask))
            off += n
        x = q.emb(ids_t, self.wemb)
        for li, L in enumerate(self.layers):
            h = q.input_layernorm(x, L)
            qkv = q.attn_pre_proj(h, L)
            qq, kk, vv = qkv.split([q.QW, q.KW, q.KW], dim=-1)
            qq, kk = qq.reshape(T, q.QH, q.HD), kk.reshape(T, q.KVH, q.HD)
            vv = vv.reshape(T, q.KVH, q.HD)
            qq, kk = q.qk_norm(qq, kk, L)
            qq, kk = q.attn_rope(qq, kk, self.cos, self.sin, pos_t)
            q.kv_cache_save(self.kc[li], self.vc[li], slots_t, kk, vv)
            outs = []
            if B:
                outs.append(q.attn_decode(qq[:B], self.kc[li], self.vc[li], table, mask))
            for o, n, kv_slots, pmask in pf:
                outs.append(q.attn_prefill(qq[o:o + n], self.kc[li], self.vc[li], kv_slots, pmask))
            a = outs[0] if len(outs) == 1 else torch.cat(outs, 0)
            x = q.add(x, q.attn_post_proj(a, L))
            h = q.post_attention_layernorm(x, L)
            x = q.add(x, q.mlp_down_proj(q.mlp_act(q.mlp_up_proj(h, L)), L))
        # logits for every sequence that produces a token this iteration
        rows, producers = [], []
        off = 0
        for r, n in order:
            off += n
            if r.prefill_done or r.processed + n == r.P:
                rows.append(off - 1)
                producers.append(r)
        if rows:
            h = torch.nn.functional.rms_norm(x[rows], (q.E,), self.lnf, q.EPS)
            nxt = q.lm_head(h, self.wemb).argmax(-1).tolist()  # synchronizes
        else:
            torch.cuda.synchronize()
            nxt = []
        return dict(zip(map(id, producers), nxt))


def run(workdir, outdir, scheduler, chunk, cap, pool_tokens):
    reqs = [Req(d) for d in load(workdir)]
    srv = Server(pool_tokens, chunk, cap, scheduler)
    # warm-up: compile/cache kernels for typical shapes, outside the timed run
    warm = [Req(dict(id=-1 - i, P=p, D=4, arrival=0)) for i, p in enumerate([7, 64, 512])]
    for r in warm:
        srv.waiting.append(r)
    while srv.waiting or srv.running:
        b = srv.next_batch()
        res = srv.step(b)
        finish(srv, b, res, 0, None)
    os.makedirs(outdir, exist_ok=True)
    log = open(os.path.join(outdir, "batch_log.csv"), "w")
    log.write("iteration,start_ns,end_ns,batch_size,num_tokens,num_decodes,decode_context_sum,prefills,new_requests,logit_seqs,decode_context_max\n")
    pending = sorted(reqs, key=lambda r: (r.arrival, r.id))
    t0 = time.perf_counter_ns()
    it = 0
    done = 0
    while done < len(reqs):
        now = time.perf_counter_ns() - t0
        while pending and pending[0].arrival <= now:
            srv.waiting.append(pending.pop(0))
        batch = srv.next_batch()
        if not batch:
            if pending:
                wait = (pending[0].arrival - now) / 1e9
                if wait > 0.0005:
                    time.sleep(wait - 0.0003)
            continue
        start = time.perf_counter_ns() - t0
        shape = (len(batch), sum(n for _, n in batch), sum(1 for r, _ in batch if r.prefill_done),
                 sum(r.processed for r, _ in batch if r.prefill_done),
                 ";".join(f"{n}:{r.processed}" for r, n in batch if not r.prefill_done),
                 sum(1 for r, _ in batch if not r.prefill_done and r.processed == 0),
                 max([r.processed for r, _ in batch if r.prefill_done], default=0))
        res = srv.step(batch)
        end = time.perf_counter_ns() - t0
        logits = len(res)
        done += finish(srv, batch, res, end, None)
        log.write(f"{it},{start},{end},{shape[0]},{shape[1]},{shape[2]},{shape[3]},{shape[4]},{shape[5]},{logits},{shape[6]}\n")
        it += 1
    log.close()
    with open(os.path.join(outdir, "request_metrics.csv"), "w") as f:
        f.write("request_id,arrival_time_ns,first_token_time_ns,ttft_ns,completion_time_ns,num_prefill_tokens,num_decode_tokens,num_decode_tokens_actual,status\n")
        for r in reqs:
            f.write(f"{r.id},{r.arrival},{r.tokens[0]},{r.tokens[0] - r.arrival},{r.tokens[-1]},{r.P},{r.D},{len(r.tokens)},ok\n")
    with open(os.path.join(outdir, "token_metrics.csv"), "w") as f:
        f.write("request_id,token_index,token_time_ns,token_latency_ns\n")
        for r in reqs:
            prev = None
            for k, t in enumerate(r.tokens):
                f.write(f"{r.id},{k},{t},{0 if prev is None else t - prev}\n")
                prev = t
    print(f"{workdir} ({scheduler}): {len(reqs)} requests, {it} iterations, {(time.perf_counter_ns() - t0) / 1e9:.2f} s", flush=True)


def finish(srv, batch, res, end, _):
    """Advance each member (servesim's request.on_batch_end) and requeue."""
    done = 0
    for r, n in batch:
        r.processed += n
        produced = False
        if not r.prefill_done:
            if r.processed == r.P:
                r.prefill_done = True
                r.processed += 1
                produced = True
        else:
            produced = True
        if produced:
            r.generated += 1
            r.last = res.get(id(r), 1)
            r.tokens.append(end)
        if r.generated == r.D:
            srv.release(r)
            done += 1
        else:
            srv.running.append(r)
    return done


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("workload")
    ap.add_argument("out")
    ap.add_argument("--scheduler", default="sarathi", choices=["sarathi", "vllm"])
    ap.add_argument("--chunk", type=int, default=512)
    ap.add_argument("--cap", type=int, default=128)
    ap.add_argument("--pool_tokens", type=int, default=1 << 18)
    a = ap.parse_args()
    run(a.workload, a.out, a.scheduler, a.chunk, a.cap, a.pool_tokens)
