"""Triton kernels of the reference engine, each with a plain PyTorch
reference that test_kernels.py (GPU) compares it with.

- add_rmsnorm: residual += x; out = RMSNorm(residual) (vLLM's fused_add_rms_norm)
- qknorm_rope: per-head RMSNorm of q and k, then rotate-half RoPE, in place on the QKV output
- kv_write: k and v of each token into the paged cache slot it owns (slot < 0: padding, skipped)
- silu_mul: SiLU(gate) * up
- paged_attention: queries of any length over keys read where they lie in the
  paged cache (no gather copy): one program per (query tile, KV head, split);
  a lower-right causal mask, GQA heads of one KV head in one tile, online
  softmax; decode queries' keys cut into equal partitions (a long sequence
  into many, a short one into one) with a combine pass, so that one long
  sequence never leaves the rest of the GPU idle. Its grid depends only on bounds, never on the batch's content, so
  it is captured in CUDA graphs; programs past the batch exit at once.
"""
import torch
import triton
import triton.language as tl


@triton.jit
def _add_rmsnorm_kernel(x_ptr, res_ptr, w_ptr, out_ptr, eps, N: tl.constexpr, HAS_RES: tl.constexpr,
                        BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    offs = tl.arange(0, BLOCK)
    m = offs < N
    x = tl.load(x_ptr + row * N + offs, mask=m, other=0.0).to(tl.float32)
    if HAS_RES:
        x += tl.load(res_ptr + row * N + offs, mask=m, other=0.0).to(tl.float32)
        tl.store(res_ptr + row * N + offs, x.to(res_ptr.dtype.element_ty), mask=m)
    var = tl.sum(x * x, axis=0) / N
    y = x * tl.rsqrt(var + eps)
    w = tl.load(w_ptr + offs, mask=m, other=0.0).to(tl.float32)
    tl.store(out_ptr + row * N + offs, (y * w).to(out_ptr.dtype.element_ty), mask=m)


def add_rmsnorm(x, residual, weight, eps, out=None):
    """If residual is None: out = norm(x). Else residual += x (in place) and out = norm(residual)."""
    T, N = x.shape
    out = torch.empty_like(x) if out is None else out
    if T == 0:
        return out
    _add_rmsnorm_kernel[(T,)](x, residual if residual is not None else x, weight, out, eps, N=N,
                              HAS_RES=residual is not None, BLOCK=triton.next_power_of_2(N), num_warps=4)
    return out


def add_rmsnorm_ref(x, residual, weight, eps):
    if residual is not None:
        residual.copy_((x.float() + residual.float()).to(x.dtype))
        x = residual
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps) * weight.float()).to(x.dtype)


@triton.jit
def _qknorm_rope_kernel(qkv_ptr, pos_ptr, cos_ptr, sin_ptr, qw_ptr, kw_ptr, eps, stride_t,
                        NH: tl.constexpr, QH: tl.constexpr, HD: tl.constexpr, NH_PAD: tl.constexpr):
    t = tl.program_id(0).to(tl.int64)
    HALF: tl.constexpr = HD // 2
    h = tl.arange(0, NH_PAD)
    d = tl.arange(0, HALF)
    hm = (h < NH)[:, None]
    base = qkv_ptr + t * stride_t + h[:, None] * HD + d[None, :]
    x1 = tl.load(base, mask=hm, other=0.0).to(tl.float32)
    x2 = tl.load(base + HALF, mask=hm, other=0.0).to(tl.float32)
    r = tl.rsqrt((tl.sum(x1 * x1, 1) + tl.sum(x2 * x2, 1)) / HD + eps)[:, None]
    isq = (h < QH)[:, None]
    w1 = tl.where(isq, tl.load(qw_ptr + d)[None, :].to(tl.float32), tl.load(kw_ptr + d)[None, :].to(tl.float32))
    w2 = tl.where(isq, tl.load(qw_ptr + HALF + d)[None, :].to(tl.float32),
                  tl.load(kw_ptr + HALF + d)[None, :].to(tl.float32))
    x1 = x1 * r * w1
    x2 = x2 * r * w2
    p = tl.load(pos_ptr + t)
    c = tl.load(cos_ptr + p * HALF + d)[None, :]
    s = tl.load(sin_ptr + p * HALF + d)[None, :]
    tl.store(base, (x1 * c - x2 * s).to(qkv_ptr.dtype.element_ty), mask=hm)
    tl.store(base + HALF, (x2 * c + x1 * s).to(qkv_ptr.dtype.element_ty), mask=hm)


def rope_tables(max_pos, head_dim, theta, device):
    """cos and sin [max_pos, head_dim/2] in fp32."""
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    f = torch.outer(torch.arange(max_pos, device=device, dtype=torch.float32), inv)
    return f.cos().contiguous(), f.sin().contiguous()


def qknorm_rope(qkv, pos, cos, sin, qw, kw, eps, qh, kvh, hd):
    """In place on qkv [T, (qh + 2 kvh) * hd]: q and k heads normalised and rotated."""
    T = qkv.shape[0]
    if T == 0:
        return
    nh = qh + kvh
    _qknorm_rope_kernel[(T,)](qkv, pos, cos, sin, qw, kw, eps, qkv.stride(0), NH=nh, QH=qh, HD=hd,
                              NH_PAD=triton.next_power_of_2(nh), num_warps=4)


def qknorm_rope_ref(qkv, pos, cos, sin, qw, kw, eps, qh, kvh, hd):
    T = qkv.shape[0]
    x = qkv[:, : (qh + kvh) * hd].view(T, qh + kvh, hd).float()
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    w = torch.cat([qw.float().expand(qh, hd), kw.float().expand(kvh, hd)], 0)
    x = x * w
    half = hd // 2
    c, s = cos[pos].unsqueeze(1), sin[pos].unsqueeze(1)
    x1, x2 = x[..., :half], x[..., half:]
    out = torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], -1)
    qkv[:, : (qh + kvh) * hd] = out.reshape(T, -1).to(qkv.dtype)


@triton.jit
def _kv_write_kernel(qkv_ptr, slot_ptr, k_ptr, v_ptr, stride_t, KOFF: tl.constexpr, W: tl.constexpr):
    t = tl.program_id(0).to(tl.int64)
    slot = tl.load(slot_ptr + t)
    if slot < 0:
        return
    offs = tl.arange(0, W)
    k = tl.load(qkv_ptr + t * stride_t + KOFF + offs)
    v = tl.load(qkv_ptr + t * stride_t + KOFF + W + offs)
    tl.store(k_ptr + slot * W + offs, k)
    tl.store(v_ptr + slot * W + offs, v)


def kv_write(qkv, slots, kcache, vcache, qw, kvw):
    """kcache/vcache [num_slots, kvh, hd]; k at columns [qw, qw+kvw) of qkv, v after it."""
    T = qkv.shape[0]
    if T == 0:
        return
    _kv_write_kernel[(T,)](qkv, slots, kcache, vcache, qkv.stride(0), KOFF=qw, W=kvw, num_warps=4)


def kv_write_ref(qkv, slots, kcache, vcache, qw, kvw):
    ok = slots >= 0
    s = slots[ok]
    kcache.view(-1, kvw)[s] = qkv[ok, qw:qw + kvw]
    vcache.view(-1, kvw)[s] = qkv[ok, qw + kvw:qw + 2 * kvw]


@triton.jit
def _silu_mul_kernel(gu_ptr, out_ptr, FF: tl.constexpr, BLOCK: tl.constexpr):
    t = tl.program_id(0).to(tl.int64)
    offs = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    m = offs < FF
    g = tl.load(gu_ptr + t * 2 * FF + offs, mask=m, other=0.0).to(tl.float32)
    u = tl.load(gu_ptr + t * 2 * FF + FF + offs, mask=m, other=0.0).to(tl.float32)
    tl.store(out_ptr + t * FF + offs, (g / (1.0 + tl.exp(-g)) * u).to(out_ptr.dtype.element_ty), mask=m)


def silu_mul(gu, out=None):
    T, W = gu.shape
    ff = W // 2
    out = torch.empty(T, ff, device=gu.device, dtype=gu.dtype) if out is None else out
    if T == 0:
        return out
    _silu_mul_kernel[(T, triton.cdiv(ff, 1024))](gu, out, FF=ff, BLOCK=1024, num_warps=4)
    return out


def silu_mul_ref(gu):
    g, u = gu.float().chunk(2, -1)
    return (torch.nn.functional.silu(g) * u).to(gu.dtype)


@triton.jit
def _paged_attn_kernel(q_ptr, k_ptr, v_ptr, o_ptr, opart_ptr, lse_ptr,
                       bt_ptr, seq_slot_ptr, seq_len_ptr, q_start_ptr, tile_seq_ptr, tile_q0_ptr, tile_part_ptr,
                       part_len_ptr, stride_qt, stride_ot, stride_bt, scale,
                       QH: tl.constexpr, KVH: tl.constexpr, HD: tl.constexpr, G: tl.constexpr,
                       BS: tl.constexpr, BLOCK_Q: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                       SPLITS: tl.constexpr):
    tile = tl.program_id(0)
    kvh = tl.program_id(1)
    seq = tl.load(tile_seq_ptr + tile)
    if seq < 0:
        return
    q0 = tl.load(tile_q0_ptr + tile)
    qs = tl.load(q_start_ptr + seq)
    qlen = tl.load(q_start_ptr + seq + 1) - qs
    L = tl.load(seq_len_ptr + seq)
    row_bt = tl.load(seq_slot_ptr + seq).to(tl.int64) * stride_bt
    ctx0 = L - qlen
    rows = tl.arange(0, BLOCK_M)
    tok = rows // G
    head = kvh * G + rows % G
    qi = q0 + tok
    valid = (tok < BLOCK_Q) & (qi < qlen)
    d = tl.arange(0, HD)
    qtok = (qs + qi).to(tl.int64)
    q = tl.load(q_ptr + qtok[:, None] * stride_qt + head[:, None] * HD + d[None, :], mask=valid[:, None], other=0.0)
    qpos = ctx0 + qi
    kend = tl.minimum(L, ctx0 + q0 + BLOCK_Q)
    if SPLITS == 1:
        part = 0
        ks = 0
        ke = kend
    else:
        # a work item is one partition of part_len keys of one sequence (PagedAttention-v2 style):
        # long and short sequences split into equal pieces, so no program is a long tail
        part = tl.load(tile_part_ptr + tile)
        plen = tl.load(part_len_ptr)
        ks = part * plen
        ke = tl.minimum(kend, ks + plen)
    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, HD], tl.float32)
    qk_scale = scale * 1.4426950408889634
    for start in range(ks, ke, BLOCK_N):
        j = start + tl.arange(0, BLOCK_N)
        jm = j < ke
        blk = tl.load(bt_ptr + row_bt + j // BS, mask=jm, other=0).to(tl.int64)
        slot = blk * BS + j % BS
        koff = slot[:, None] * (KVH * HD) + kvh * HD + d[None, :]
        k = tl.load(k_ptr + koff, mask=jm[:, None], other=0.0)
        s = tl.dot(q, tl.trans(k)) * qk_scale
        s = tl.where((j[None, :] <= qpos[:, None]) & jm[None, :], s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        p = tl.math.exp2(s - m_safe[:, None])
        alpha = tl.math.exp2(m_i - m_safe)
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(v_ptr + koff, mask=jm[:, None], other=0.0)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m_i = m_new
    l_safe = tl.where(l_i == 0.0, 1.0, l_i)
    out = acc / l_safe[:, None]
    if SPLITS == 1:
        tl.store(o_ptr + qtok[:, None] * stride_ot + head[:, None] * HD + d[None, :], out.to(o_ptr.dtype.element_ty),
                 mask=valid[:, None])
    else:
        # lse in log2 units; an empty partition has -inf
        lse = tl.where(l_i == 0.0, float("-inf"), m_i + tl.math.log2(l_safe))
        pidx = (qtok * QH + head) * SPLITS + part
        tl.store(opart_ptr + pidx[:, None] * HD + d[None, :], out, mask=valid[:, None])
        tl.store(lse_ptr + pidx, lse, mask=valid)


@triton.jit
def _combine_kernel(opart_ptr, lse_ptr, o_ptr, np_ptr, stride_ot, QH: tl.constexpr, HD: tl.constexpr,
                    SPLITS: tl.constexpr):
    t = tl.program_id(0).to(tl.int64)
    h = tl.program_id(1)
    n = tl.load(np_ptr + t)
    if n <= 0:
        return
    s = tl.arange(0, SPLITS)
    d = tl.arange(0, HD)
    base = (t * QH + h) * SPLITS
    sm = s < n
    lse = tl.load(lse_ptr + base + s, mask=sm, other=float("-inf"))
    m = tl.max(lse, 0)
    m = tl.where(m == float("-inf"), 0.0, m)
    w = tl.where(sm, tl.math.exp2(lse - m), 0.0)
    o = tl.load(opart_ptr + (base + s)[:, None] * HD + d[None, :], mask=sm[:, None], other=0.0)
    den = tl.sum(w, 0)
    den = tl.where(den == 0.0, 1.0, den)
    out = tl.sum(o * w[:, None], 0) / den
    tl.store(o_ptr + t * stride_ot + h * HD + d, out.to(o_ptr.dtype.element_ty))


MAX_PARTS = 64  # partitions per decode sequence (the combine pass's width)


class AttnBuffers:
    """Partial results of partitioned decode attention for up to max_tokens decode queries."""

    def __init__(self, max_tokens, qh, hd, device, max_parts=MAX_PARTS):
        self.max_parts = max_parts
        self.opart = torch.zeros(max_tokens * qh * max_parts * hd, device=device, dtype=torch.float32)
        self.lse = torch.full((max_tokens * qh * max_parts,), float("-inf"), device=device, dtype=torch.float32)


def decode_work(lens, bound, part_min, block_n, max_parts=MAX_PARTS):
    """Split decode sequences of key lengths lens into at most bound work items of
    equal length (a multiple of block_n, at least part_min, and few enough that no
    sequence needs more than max_parts). Returns (part_len, items [(seq, part)],
    parts per sequence)."""
    if not lens:
        return part_min, [], []
    total, longest = sum(lens), max(lens)
    spare = max(1, bound - len(lens))
    plen = max(part_min, -(-total // spare), -(-longest // max_parts))
    plen = -(-plen // block_n) * block_n
    nps = [max(1, -(-n // plen)) for n in lens]
    while sum(nps) > bound:  # rounding can overshoot by a few: coarser pieces
        plen *= 2
        nps = [max(1, -(-n // plen)) for n in lens]
    items = [(i, j) for i, n in enumerate(nps) for j in range(n)]
    return plen, items, nps


def decode_bound(sp):
    """Work items of a graph's decode launch for up to sp decode sequences."""
    return max(2 * sp, 80)


def paged_attention(q, kcache, vcache, out, bt, seq_slot, seq_len, q_start, tile_seq, tile_q0, n_tiles,
                    qh, kvh, hd, block_size, block_q, tile_part=None, part_len=None, bufs=None, combine_tokens=0,
                    num_parts=None, block_n=64, num_warps=4, num_stages=2):
    """q [T, >= qh*hd] (row stride may be wider: the QKV output); out [T, qh*hd].
    Tiles: tile_seq[i] is the batch sequence of tile i (< 0: none), tile_q0[i] its first query.
    Partitioned (decode) launches give tile_part (the partition of each tile), part_len (a
    1-element tensor: keys per partition), bufs, and num_parts (partitions of each of the first
    combine_tokens query rows) for the combine pass."""
    if n_tiles == 0:
        return
    g = qh // kvh
    block_m = max(16, triton.next_power_of_2(block_q * g))
    split = tile_part is not None
    splits = bufs.max_parts if split else 1
    _paged_attn_kernel[(n_tiles, kvh)](
        q, kcache, vcache, out, bufs.opart if split else out, bufs.lse if split else out,
        bt, seq_slot, seq_len, q_start, tile_seq, tile_q0, tile_part if split else tile_seq,
        part_len if split else tile_seq, q.stride(0), out.stride(0), bt.stride(0), hd ** -0.5,
        QH=qh, KVH=kvh, HD=hd, G=g, BS=block_size, BLOCK_Q=block_q, BLOCK_M=block_m, BLOCK_N=block_n,
        SPLITS=splits, num_warps=num_warps, num_stages=num_stages)
    if split and combine_tokens > 0:
        _combine_kernel[(combine_tokens, qh)](bufs.opart, bufs.lse, out, num_parts, out.stride(0), QH=qh, HD=hd,
                                              SPLITS=splits, num_warps=4)


def paged_attention_ref(q, kcache, vcache, bt, seq_slot, seq_len, q_start, num_seqs, qh, kvh, hd, block_size):
    """Gather each sequence's keys and run SDPA with a lower-right causal mask."""
    T = q.shape[0]
    out = torch.zeros(T, qh * hd, device=q.device, dtype=q.dtype)
    for i in range(num_seqs):
        qs, qe = int(q_start[i]), int(q_start[i + 1])
        L = int(seq_len[i])
        n = qe - qs
        row = bt[int(seq_slot[i])]
        j = torch.arange(L, device=q.device)
        slots = row[j // block_size].long() * block_size + j % block_size
        k = kcache[slots].transpose(0, 1).float()  # [kvh, L, hd]
        v = vcache[slots].transpose(0, 1).float()
        qq = q[qs:qe, : qh * hd].view(n, qh, hd).transpose(0, 1).float()
        k = k.repeat_interleave(qh // kvh, 0)
        v = v.repeat_interleave(qh // kvh, 0)
        s = qq @ k.transpose(1, 2) * hd ** -0.5
        mask = j.unsqueeze(0) <= (torch.arange(n, device=q.device) + (L - n)).unsqueeze(1)
        s = s.masked_fill(~mask, float("-inf"))
        o = torch.softmax(s, -1) @ v
        out[qs:qe] = o.transpose(0, 1).reshape(n, qh * hd).to(q.dtype)
    return out
