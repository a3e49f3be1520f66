"""Qwen3-0.6B on a paged KV cache, run as CUDA graphs.

Shapes are Qwen3-0.6B's (hidden 1024, 16 query / 8 KV heads of 128, gated
MLP 3072, 28 layers, vocabulary 151936, tied embeddings, QK-norm, RoPE theta
1e6). Weights are random bf16: timing does not depend on their values.

A step's inputs live in one flat int64 buffer on the GPU, laid out for the
step's padded sizes (Layout); the host fills a pinned copy and sends it with
one copy. Everything a step does reads only that buffer, the persistent
block table and the sampled-token buffer, so one CUDA graph per padded size
replays any step of that size:
- decode-only steps (every sequence computes one token): graphs at padded
  batch sizes DECODE_SIZES, split-K decode attention;
- steps with prefill tokens: graphs at padded token counts MIXED_SIZES, one
  decode launch for sequences with one query and one prefill launch for the
  rest;
- larger steps run the same code eagerly at their exact sizes.
Sampling is greedy argmax on the GPU into the per-request token buffer that
the next step's decode inputs read, so no step waits for the host.
"""
import torch
import torch.nn.functional as F

from . import kernels as K

E, QH, KVH, HD, FF, V, LAYERS = 1024, 16, 8, 128, 3072, 151936, 28
QW, KW = QH * HD, KVH * HD
EPS, THETA = 1e-6, 1e6
DT = torch.bfloat16
BLOCK = 16
PREFILL_BLOCK_Q = 32  # the smallest prefill query tile any tuning may choose (sizes the tile bound)

DECODE_SIZES = [1, 2, 4, 8] + list(range(16, 257, 8))
DECODE_ROWS = 256  # decode rows of a step the attention buffers and step inputs hold (no step may have more sequences)
MIXED_SIZES = list(range(64, 513, 64)) + list(range(640, 2049, 128))


DEFAULT_TUNING = dict(prefill=dict(block_q=32, block_n=64, num_warps=4, num_stages=3),
                      decode=dict(block_n=128, num_warps=4, num_stages=2, part_min=256))


def load_tuning(path):
    """tune.py's choice from its output file, or None (the untuned defaults) for an empty path."""
    if not path:
        return None
    import json
    with open(path) as f:
        return json.load(f)["tuning"]


ALIGN = 8  # int64 elements: 64 bytes


class Layout:
    """Offsets of a step's fields in the flat metadata buffer, for padded
    token count tp, sequence bound sp, prefill tile bound ptp and decode work
    item bound dwp."""

    FIELDS = ("ids", "pos", "slot", "upd_idx", "upd_val", "seq_slot", "seq_len", "q_start",
              "dtile_seq", "dtile_q0", "dtile_part", "dnp", "dpart", "ptile_seq", "ptile_q0", "logit_row", "logit_slot")

    def __init__(self, tp, sp, ptp, dwp):
        self.tp, self.sp, self.ptp, self.dwp = tp, sp, ptp, dwp
        sizes = dict(ids=tp, pos=tp, slot=tp, upd_idx=tp, upd_val=tp, seq_slot=sp, seq_len=sp, q_start=sp + 1,
                     dtile_seq=dwp, dtile_q0=dwp, dtile_part=dwp, dnp=sp, dpart=1, ptile_seq=ptp, ptile_q0=ptp,
                     logit_row=sp, logit_slot=sp)
        # every field starts on a 64-byte boundary: Triton specializes a kernel on each pointer argument's 16-byte
        # alignment, so offsets packed end to end gave an eager step's kernels a new variant to compile (0.7-1.9 s,
        # mid-run) at every new parity of its sizes; aligned, one variant serves every layout
        self.off, o = {}, 0
        for f in self.FIELDS:
            self.off[f] = (o, sizes[f])
            o += -(-sizes[f] // ALIGN) * ALIGN
        self.total = o

    def views(self, buf):
        return {f: buf[o:o + n] for f, (o, n) in self.off.items()}


class Model:
    def __init__(self, max_slots=1024, max_blocks_per_seq=1024, num_blocks=None, kv_fraction=0.80,
                 max_tokens=16384, device="cuda", seed=0, tuning=None):
        torch.manual_seed(seed)
        self.tuning = tuning or DEFAULT_TUNING
        self.pcfg = dict(self.tuning["prefill"])
        self.dcfg = dict(self.tuning["decode"])
        self.part_min = self.dcfg.pop("part_min", 256)
        self.pbq = self.pcfg.pop("block_q")
        assert self.pbq >= PREFILL_BLOCK_Q
        self.dev = device
        s = 0.02
        self.layers = []
        for _ in range(LAYERS):
            self.layers.append(dict(
                ln1=torch.ones(E, device=device, dtype=DT) + 0.01 * torch.randn(E, device=device).to(DT),
                ln2=torch.ones(E, device=device, dtype=DT),
                qn=torch.ones(HD, device=device, dtype=DT), kn=torch.ones(HD, device=device, dtype=DT),
                wqkv=(torch.randn(QW + 2 * KW, E, device=device) * s).to(DT),
                wo=(torch.randn(E, QW, device=device) * s).to(DT),
                wup=(torch.randn(2 * FF, E, device=device) * s).to(DT),
                wdown=(torch.randn(E, FF, device=device) * s).to(DT)))
        self.wemb = (torch.randn(V, E, device=device) * s).to(DT)
        self.lnf = torch.ones(E, device=device, dtype=DT)
        self.max_tokens = max_tokens
        self.cos, self.sin = K.rope_tables(max_blocks_per_seq * BLOCK + 16, HD, THETA, device)
        if num_blocks is None:
            free, _ = torch.cuda.mem_get_info()
            per_block = 2 * LAYERS * BLOCK * KW * 2
            num_blocks = int(free * kv_fraction) // per_block
        self.num_blocks = num_blocks
        self.kc = [torch.zeros(num_blocks * BLOCK, KVH, HD, device=device, dtype=DT) for _ in range(LAYERS)]
        self.vc = [torch.zeros(num_blocks * BLOCK, KVH, HD, device=device, dtype=DT) for _ in range(LAYERS)]
        self.max_slots = max_slots
        self.maxb = max_blocks_per_seq
        # block table [slots + 1 scratch row, maxb]; its flat last element absorbs padded updates
        self.bt = torch.zeros(max_slots + 1, max_blocks_per_seq, device=device, dtype=torch.int64)
        self.bt_flat = self.bt.view(-1)
        self.tok = torch.zeros(max_slots + 1, device=device, dtype=torch.int64)  # last sampled token per slot
        self.meta = torch.zeros(8 * max_tokens + 8 * DECODE_ROWS + 4096, device=device, dtype=torch.int64)
        self.attn_bufs = K.AttnBuffers(DECODE_ROWS, QH, HD, device)
        self.graphs = {}
        self.pool = None

    # -- one step's compute, on the views of a layout -----------------------
    def forward(self, m, lay, n_dtiles, n_ptiles, combine_tokens):
        T = lay.tp
        self.bt_flat.index_copy_(0, m["upd_idx"], m["upd_val"])
        src = m["ids"]
        ids = torch.where(src >= 0, src, self.tok[(-1 - src).clamp_min(0)])
        x = F.embedding(ids, self.wemb)
        residual = x
        h = K.add_rmsnorm(x, None, self.layers[0]["ln1"], EPS)
        attn = torch.empty(T, QW, device=self.dev, dtype=DT)
        d = None
        for li, L in enumerate(self.layers):
            if li > 0:
                h = K.add_rmsnorm(d, residual, L["ln1"], EPS)
            qkv = F.linear(h, L["wqkv"])
            K.qknorm_rope(qkv, m["pos"], self.cos, self.sin, L["qn"], L["kn"], EPS, QH, KVH, HD)
            K.kv_write(qkv, m["slot"], self.kc[li], self.vc[li], QW, KW)
            K.paged_attention(qkv, self.kc[li], self.vc[li], attn, self.bt, m["seq_slot"], m["seq_len"], m["q_start"],
                              m["dtile_seq"], m["dtile_q0"], n_dtiles, QH, KVH, HD, BLOCK, 1, tile_part=m["dtile_part"],
                              part_len=m["dpart"], bufs=self.attn_bufs, combine_tokens=combine_tokens,
                              num_parts=m["dnp"], **self.dcfg)
            K.paged_attention(qkv, self.kc[li], self.vc[li], attn, self.bt, m["seq_slot"], m["seq_len"], m["q_start"],
                              m["ptile_seq"], m["ptile_q0"], n_ptiles, QH, KVH, HD, BLOCK, self.pbq, **self.pcfg)
            o = F.linear(attn, L["wo"])
            h = K.add_rmsnorm(o, residual, L["ln2"], EPS)
            d = F.linear(K.silu_mul(F.linear(h, L["wup"])), L["wdown"])
        rows = m["logit_row"]
        xr = residual.index_select(0, rows) + d.index_select(0, rows)
        hf = K.add_rmsnorm(xr, None, self.lnf, EPS)
        nxt = torch.argmax(F.linear(hf, self.wemb), dim=-1)
        self.tok.index_copy_(0, m["logit_slot"], nxt)

    # -- graphs ---------------------------------------------------------------
    @staticmethod
    def layout_for(kind, size):
        if kind == "decode":
            return Layout(size, size, 0, K.decode_bound(size))
        sp = min(size, DECODE_ROWS)
        return Layout(size, sp, size // PREFILL_BLOCK_Q + sp, K.decode_bound(sp))

    def _run_args(self, kind, lay):
        return dict(n_dtiles=lay.dwp, n_ptiles=lay.ptp, combine_tokens=lay.sp)

    def capture(self, decode_sizes=DECODE_SIZES, mixed_sizes=MIXED_SIZES):
        """Capture one graph per size, largest first, sharing one memory pool."""
        self.pool = torch.cuda.graph_pool_handle()
        todo = [("mixed", s) for s in sorted(mixed_sizes, reverse=True)] + \
               [("decode", s) for s in sorted(decode_sizes, reverse=True)]
        stream = torch.cuda.Stream()
        for kind, size in todo:
            lay = self.layout_for(kind, size)
            self.fill_padding(lay)
            m = lay.views(self.meta)
            args = self._run_args(kind, lay)
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                for _ in range(2):
                    self.forward(m, lay, **args)
            torch.cuda.current_stream().wait_stream(stream)
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g, pool=self.pool):
                self.forward(m, lay, **args)
            self.graphs[(kind, size)] = (g, lay)
        torch.cuda.synchronize()

    def fill_padding(self, lay):
        """A step of no sequences in layout lay (every field at its padding value)."""
        import numpy as np
        host = np.zeros(lay.total, dtype=np.int64)
        pad_fields(host, lay, self)
        self.meta[: lay.total].copy_(torch.from_numpy(host))

    def scratch_update_index(self):
        return self.bt_flat.numel() - 1


def pad_fields(host, lay, model, t_used=0, s_used=0, pt_used=0, dt_used=0, dnp_used=0):
    """Padding values for the unused tail of each field."""
    def tail(f, start, val):
        o, n = lay.off[f]
        if start < n:
            host[o + start:o + n] = val
    tail("ids", t_used, 0)
    tail("pos", t_used, 0)
    tail("slot", t_used, -1)
    tail("upd_idx", t_used, model.scratch_update_index())
    tail("upd_val", t_used, 0)
    tail("seq_slot", s_used, model.max_slots)
    tail("seq_len", s_used, 0)
    o, n = lay.off["q_start"]
    host[o + s_used + 1:o + n] = host[o + s_used] if s_used > 0 else 0
    tail("dtile_seq", dt_used, -1)
    tail("dtile_q0", dt_used, 0)
    tail("dtile_part", dt_used, 0)
    tail("dnp", dnp_used, 0)
    tail("ptile_seq", pt_used, -1)
    tail("ptile_q0", pt_used, 0)
    tail("logit_row", s_used, 0)
    tail("logit_slot", s_used, model.max_slots)
