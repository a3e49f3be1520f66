"""Qwen3-0.6B's per-layer operations in PyTorch (bf16, real shapes), shared by
the profiler and the real benchmark so that the profile times exactly the
kernels the benchmark's server loop runs.

Shapes: hidden 1024, 16 query heads and 8 KV heads of head_dim 128 (q width
2048, kv width 1024), gated MLP 1024 -> 2x3072, down 3072 -> 1024, 28 layers,
vocabulary 151936, RoPE theta 1e6, per-head RMSNorm on q and k (QK-norm).
Weights are random: timing does not depend on their values.
"""
import torch
import torch.nn.functional as F

E, QH, KVH, HD, FF, V, LAYERS = 1024, 16, 8, 128, 3072, 151936, 28
QW, KW = QH * HD, KVH * HD
EPS = 1e-6
THETA = 1e6
DT = torch.bfloat16

# cuDNN's SDPA builds a plan per new shape (hundreds of ms each time a decode
# step's key length grows); the memory-efficient kernel does not. Profile and
# server both use this setting, so they run the same attention kernels.
torch.backends.cuda.enable_cudnn_sdp(False)


class Layer:
    def __init__(self, dev):
        s = 0.02
        self.ln1 = torch.ones(E, device=dev, dtype=DT)
        self.ln2 = torch.ones(E, device=dev, dtype=DT)
        self.qn = torch.ones(HD, device=dev, dtype=DT)
        self.kn = torch.ones(HD, device=dev, dtype=DT)
        self.wqkv = (torch.randn(QW + 2 * KW, E, device=dev) * s).to(DT)
        self.wo = (torch.randn(E, QW, device=dev) * s).to(DT)
        self.wup = (torch.randn(2 * FF, E, device=dev) * s).to(DT)
        self.wdown = (torch.randn(E, FF, device=dev) * s).to(DT)


def rope_cache(max_pos, dev):
    inv = 1.0 / (THETA ** (torch.arange(0, HD, 2, device=dev, dtype=torch.float32) / HD))
    t = torch.arange(max_pos, device=dev, dtype=torch.float32)
    f = torch.outer(t, inv)
    emb = torch.cat([f, f], dim=-1)
    return emb.cos().to(DT), emb.sin().to(DT)


# --- the ops, as Vidur names them ---------------------------------------

def input_layernorm(x, layer):
    return F.rms_norm(x, (E,), layer.ln1, EPS)


def post_attention_layernorm(x, layer):
    return F.rms_norm(x, (E,), layer.ln2, EPS)


def attn_pre_proj(h, layer):
    return F.linear(h, layer.wqkv)


def qk_norm(q, k, layer):
    return F.rms_norm(q, (HD,), layer.qn, EPS), F.rms_norm(k, (HD,), layer.kn, EPS)


def _rotate_half(x):
    a, b = x[..., : HD // 2], x[..., HD // 2:]
    return torch.cat((-b, a), dim=-1)


def attn_rope(q, k, cos, sin, pos):
    c, s = cos[pos].unsqueeze(1), sin[pos].unsqueeze(1)
    return q * c + _rotate_half(q) * s, k * c + _rotate_half(k) * s


def attn_post_proj(a, layer):
    return F.linear(a, layer.wo)


def mlp_up_proj(h, layer):
    return F.linear(h, layer.wup)


def mlp_act(gu):
    g, u = gu.split(FF, dim=-1)
    return F.silu(g) * u


def mlp_down_proj(a, layer):
    return F.linear(a, layer.wdown)


def add(x, y):
    return x + y


def kv_cache_save(kcache, vcache, slots, k, v):
    kcache.index_copy_(0, slots, k)
    vcache.index_copy_(0, slots, v)


def _sdpa(q, k, v, mask=None, causal=False):
    try:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, enable_gqa=True)
    except TypeError:  # torch without enable_gqa: expand the KV heads
        r = q.shape[1] // k.shape[1]
        return F.scaled_dot_product_attention(q, k.repeat_interleave(r, 1), v.repeat_interleave(r, 1), attn_mask=mask, is_causal=causal)


def prefill_mask(c, n, dev):
    """Lower-right causal mask for c new queries over n keys (n - c cached)."""
    i = torch.arange(c, device=dev).unsqueeze(1)
    j = torch.arange(n, device=dev).unsqueeze(0)
    return j <= i + (n - c)


def attn_prefill(q, kcache, vcache, kv_slots, mask):
    """One request's prefill chunk: q [c, QH, HD]; kv_slots covers its cached
    and current keys in the slot pool; mask is prefill_mask(c, n) or None
    when nothing is cached."""
    c = q.shape[0]
    k = kcache.index_select(0, kv_slots).transpose(0, 1).unsqueeze(0)  # [1, KVH, n, HD]
    vv = vcache.index_select(0, kv_slots).transpose(0, 1).unsqueeze(0)
    qq = q.transpose(0, 1).unsqueeze(0)  # [1, QH, c, HD]
    o = _sdpa(qq, k, vv, causal=True) if mask is None else _sdpa(qq, k, vv, mask=mask)
    return o.squeeze(0).transpose(0, 1).reshape(c, QW)


def attn_decode(q, kcache, vcache, slot_table, mask):
    """Batched decode: q [B, QH, HD]; slot_table [B, K] (padded), mask [B, 1, 1, K]
    True where valid."""
    B, K = slot_table.shape
    flat = slot_table.reshape(-1)
    k = kcache.index_select(0, flat).view(B, K, KVH, HD).transpose(1, 2)
    vv = vcache.index_select(0, flat).view(B, K, KVH, HD).transpose(1, 2)
    o = _sdpa(q.unsqueeze(2), k, vv, mask=mask)
    return o.squeeze(2).reshape(B, QW)


def emb(ids, wemb):
    return F.embedding(ids, wemb)


def lm_head(h, wemb):
    return F.linear(h, wemb)
