"""KV cache size, cell for cell as llama.cpp allocates it.

The rules follow llama.cpp's own code (ggml-org/llama.cpp, checked against the build in
xllamacpp 2026.10 by ``tests/test_memory_truth.py``):

* ``llama_context``: the context is padded to a multiple of 256; with several sequences
  and a non-unified cache each sequence gets ``n_ctx / n_seq`` cells, padded to 256.
* ``llama_kv_cache``: one K and one V tensor per attention layer, ``row × cells × streams``
  (one stream per sequence unless the cache is unified), rows of ``n_kv_heads × head_dim``
  in the cache type (``ggml_row_size``).
* ``llama_kv_cache_iswa``: windowed layers get their own cache of
  ``pad256(min(cells, window × (unified ? n_seq : 1) + n_ubatch))`` cells.
* MLA (DeepSeek-V2/V3): one latent row of ``kv_lora_rank + rope dim`` per token, all in K.
* Recurrent layers (Mamba-2, gated delta-net, short convolution) and FFN-only blocks hold
  no KV; the recurrent ones keep a fixed F32 state per sequence (``llama_memory_recurrent``,
  one cell per sequence), held against llama.cpp's ``RS buffer`` by the truth tests.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import BaseModel, ConfigDict

from sizing.core.fastmodel import build

from sizing.errors import SizingError
from sizing.core.arch import ModelArch
from sizing.core.quant import kv_block_size, row_bytes

CTX_PAD = 256  # llama_context pads n_ctx (per sequence) to this
SWA_PAD = 256  # llama_kv_cache_iswa pads the windowed cache to this


def _pad(n: int, to: int) -> int:
    return (n + to - 1) // to * to


class ContextSize(BaseModel):
    """The context llama.cpp actually builds for a requested one."""

    model_config = ConfigDict(frozen=True)

    n_ctx: int  # total cells over all sequences
    n_ctx_seq: int  # cells one sequence can use
    n_stream: int  # KV streams: 1 when unified, else one per sequence
    n_seq: int
    n_batch: int
    n_ubatch: int  # tokens in the worst-case micro-batch the compute graph is reserved for


def context_size(
    ctx: int, *, n_parallel: int = 1, kv_unified: bool = True, n_batch: int = 2048, n_ubatch: int = 512
) -> ContextSize:
    """Apply llama.cpp's padding and clamping to the requested context and batches."""
    if kv_unified or n_parallel == 1:
        n_ctx_seq = _pad(ctx, CTX_PAD)
        n_ctx = n_ctx_seq
        n_stream = 1
    else:
        n_ctx_seq = _pad(ctx // n_parallel, CTX_PAD)
        n_ctx = n_ctx_seq * n_parallel
        n_stream = n_parallel
    # llama.cpp clamps the logical batch to the requested context, the micro-batch to the batch
    nb = min(n_batch, ctx)
    nub = min(n_ubatch, nb)
    # build(): every field is computed here from validated ints (hot path of sweeps)
    return build(
        ContextSize, n_ctx=n_ctx, n_ctx_seq=n_ctx_seq, n_stream=n_stream, n_seq=n_parallel, n_batch=nb, n_ubatch=nub
    )


class KVCachePart(BaseModel):
    """One cache: the full-attention cache, the windowed one, or the recurrent state."""

    model_config = ConfigDict(frozen=True)

    kind: str  # 'kv' (single cache), 'non-swa', 'swa', 'indexer' (DSA keys), 'recurrent'
    cells: int  # per stream
    streams: int
    layers: int
    k_type: str
    v_type: str
    k_bytes: int
    v_bytes: int

    @property
    def bytes(self) -> int:
        return self.k_bytes + self.v_bytes


class KVCacheEstimate(BaseModel):
    model_config = ConfigDict(frozen=True)

    context: ContextSize
    parts: tuple[KVCachePart, ...]

    @property
    def bytes(self) -> int:
        return sum(p.bytes for p in self.parts)

    @property
    def k_bytes(self) -> int:
        return sum(p.k_bytes for p in self.parts)

    @property
    def v_bytes(self) -> int:
        return sum(p.v_bytes for p in self.parts)

    def part(self, kind: str) -> KVCachePart | None:
        return next((p for p in self.parts if p.kind == kind), None)

    @property
    def mask_sizes(self) -> tuple[int, ...]:
        """KV cells one attention mask spans, one per attention cache (for the compute buffer)."""
        return tuple(p.cells for p in self.parts if p.kind not in ("recurrent", "indexer"))


def kv_row_dims(arch: ModelArch, windowed: bool = False) -> tuple[int, int]:
    """Elements one token adds to one layer's K and V rows (``windowed``: on a
    sliding-window layer, whose heads may be fewer or narrower: gemma4)."""
    if arch.is_mla:
        # llama.cpp caches the compressed latent plus the shared rope part, as K only
        return arch.kv_lora_rank + arch.qk_rope_head_dim, 0
    if windowed and (arch.swa_head_dim or arch.swa_n_kv_heads):
        n, d = arch.swa_n_kv_heads or arch.n_kv_heads, arch.swa_head_dim or arch.head_dim_k
        return n * d, n * (arch.swa_head_dim or arch.head_dim_v)
    return arch.n_kv_heads * arch.head_dim_k, arch.n_kv_heads * arch.head_dim_v


@lru_cache(maxsize=1024)
def cache_row_bytes(t: str, n: int, what: str = "K") -> int:
    """Bytes one token adds to one layer's K (or V) cache of type ``t`` (ggml_row_size)."""
    if not n:
        return 0
    if n % kv_block_size(t):
        raise SizingError(
            f"KV cache type {t} needs rows that are a multiple of {kv_block_size(t)} elements; "
            f"this model's {what} rows have {n}"
        )
    return row_bytes(t.upper(), n)


def estimate_kv_cache(
    arch: ModelArch,
    ctx: int,
    *,
    kv_type_k: str = "f16",
    kv_type_v: str = "f16",
    n_parallel: int = 1,
    kv_unified: bool = True,
    n_batch: int = 2048,
    n_ubatch: int = 512,
    swa_full: bool = False,
) -> KVCacheEstimate:
    """Bytes of the KV cache (and recurrent state) llama.cpp allocates for this context."""
    cs = context_size(ctx, n_parallel=n_parallel, kv_unified=kv_unified, n_batch=n_batch, n_ubatch=n_ubatch)
    n_attn, n_swa = _layer_counts(arch)
    n_full = n_attn - n_swa

    def part(kind: str, layers: int, cells: int) -> KVCachePart:
        nk, nv = kv_row_dims(arch, windowed=kind == "swa")
        rk = cache_row_bytes(kv_type_k, nk, "K")
        rv = cache_row_bytes(kv_type_v, nv, "V")
        n = layers * cells * cs.n_stream
        return build(
            KVCachePart,
            kind=kind,
            cells=cells,
            streams=cs.n_stream,
            layers=layers,
            k_type=kv_type_k,
            v_type=kv_type_v,
            k_bytes=n * rk,
            v_bytes=n * rv,
        )

    parts: list[KVCachePart] = []
    if arch.is_swa and n_swa and not swa_full:
        window = arch.sliding_window or 0
        seqs_in_stream = n_parallel if kv_unified else 1
        swa_cells = _pad(min(cs.n_ctx_seq, window * seqs_in_stream + cs.n_ubatch), SWA_PAD)
        parts.append(part("non-swa", n_full, cs.n_ctx_seq))
        parts.append(part("swa", n_swa, swa_cells))
    elif n_attn:
        parts.append(part("kv", n_attn, cs.n_ctx_seq))
    if arch.arch == "deepseek32" and n_attn:
        # DSA: a second cache of the lightning indexer's keys, one head of
        # indexer_head_size per token and layer, in the K cache type (llama_kv_cache_dsa)
        rk = cache_row_bytes(kv_type_k, int(arch.extra.get("indexer_head_size", 0)), "indexer K")
        n = n_attn * cs.n_ctx_seq * cs.n_stream
        parts.append(
            build(
                KVCachePart,
                kind="indexer",
                cells=cs.n_ctx_seq,
                streams=cs.n_stream,
                layers=n_attn,
                k_type=kv_type_k,
                v_type=kv_type_v,
                k_bytes=n * rk,
                v_bytes=0,
            )
        )
    if arch.recurrent_layers:
        parts.append(_recurrent_state(arch, n_parallel))
    return build(KVCacheEstimate, context=cs, parts=tuple(parts))


_LAYER_COUNTS: dict[int, tuple[ModelArch, tuple[int, int]]] = {}


def _layer_counts(arch: ModelArch) -> tuple[int, int]:
    """(attention layers, windowed attention layers), memoized per architecture object."""
    hit = _LAYER_COUNTS.get(id(arch))
    if hit is not None and hit[0] is arch:
        return hit[1]
    att, swa = arch.attention_flags, arch.swa_flags
    attn = [i for i in range(arch.n_layers) if att[i]]
    counts = (len(attn), sum(1 for i in attn if swa[i]))
    if len(_LAYER_COUNTS) > 1024:
        _LAYER_COUNTS.clear()
    _LAYER_COUNTS[id(arch)] = (arch, counts)
    return counts


def recurrent_row_dims(arch: ModelArch) -> tuple[int, int]:
    """F32 elements of one sequence's (R, S) state in one recurrent layer.

    llama.cpp's ``llama_hparams::n_embd_r`` / ``n_embd_s`` (src/llama-hparams.cpp):
    R keeps the convolution's last ``d_conv - 1`` inputs. For Mamba-2 and the gated
    delta-net those inputs are ``d_inner + 2·n_group·d_state`` channels wide (x, B and C;
    q, k and v for the delta-net), and S is ``d_state × d_inner`` (the SSM state; the
    delta-net's per-head ``d_k × d_v`` matrices). A short convolution (LFM2) keeps
    ``L - 1`` inputs of ``n_embd`` channels and no S.
    """
    if arch.recurrent_kind == "shortconv":
        return arch.hidden_size * (arch.ssm_d_conv - 1), 0
    conv_ch = arch.ssm_d_inner + 2 * arch.ssm_n_group * arch.ssm_d_state
    return max(arch.ssm_d_conv - 1, 0) * conv_ch, arch.ssm_d_state * arch.ssm_d_inner


def _recurrent_state(arch: ModelArch, n_seq: int) -> KVCachePart:
    """The recurrent layers' state: one F32 cell per sequence (``llama_memory_recurrent``
    sizes its cache to ``max(1, n_seq_max)`` cells, whatever the context)."""
    n = len(arch.recurrent_layers)
    r, s = recurrent_row_dims(arch)
    return KVCachePart(
        kind="recurrent",
        cells=n_seq,
        streams=1,
        layers=n,
        k_type="f32",
        v_type="f32",
        k_bytes=4 * r * n * n_seq,
        v_bytes=4 * s * n * n_seq,
    )
