"""The compute buffer: scratch memory llama.cpp reserves for the largest forward pass.

llama.cpp builds the graph of a worst-case micro-batch (``n_ubatch`` tokens, every KV
cell visible) and lets ggml's graph allocator (``ggml-alloc.c``) place each intermediate
tensor, reusing memory once a tensor's last consumer has run. The buffer is the peak of
that packing. We model the peak as the largest of a few *branches*, each the sum of the
tensors alive together at one point of a layer, plus the inputs that stay alive for the
whole graph (the attention masks):

* FFN of a dense layer: gate, up and their product (``3·n_ff``) and five hidden-size
  activations (residual, normed input, output, and what the allocator cannot reuse);
* MoE FFN: the same per selected expert (``n_used`` rows each), plus router logits;
* attention with flash attention: Q and the attention output (``2·q``) plus hidden-size
  activations, or K and V when they are larger;
* attention without flash attention: the K·Q score matrix, ``n_kv × n_ubatch × n_head``
  F32, which dominates at long context;
* output: the logits of the rows the server keeps (``n_outputs``, one per sequence). This
  is llama-server's setting in the measured build (it reserves one output per sequence);
  tools that keep logits for a whole batch (perplexity, embeddings) reserve more.

Masks: one per attention cache (full and windowed), ``n_kv × n_ubatch``, F16 with flash
attention and F32 without.

The per-token coefficients (the 3s and 5s) are *calibrated*, not derived: they come from
loading synthetic GGUFs of varied shapes in llama.cpp (xllamacpp 2026.10, CPU backend)
and reading its ``compute buffer size`` (see ``tests/test_memory_truth.py`` and
``bench/accuracy_memory.py``). Accelerator backends reserve a buffer of the same graph; we
use the same model there and say so in the basis.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from sizing.core.fastmodel import build

from sizing.core.memory.kv_cache import KVCacheEstimate
from sizing.core.arch import ModelArch

F32 = 4
F16 = 2
# llama.cpp archs whose MoE feeds the raw top-k probabilities (no renormalization)
_UNNORMALIZED_MOE = frozenset({"qwen2moe"})
# 2025-26 MoE graphs whose shared expert does not add to the MoE peak
_SHARED_AFTER_ROUTED = frozenset({"glm4moe", "hunyuan-moe", "ernie4_5-moe"})
# ... and whose selected experts' down-projected rows are not held twice (measured)
_NO_DOUBLE_ROWS = frozenset({"minimax-m2", "hunyuan-moe"})
# MoE graphs of the delta-net families (qwen3next, qwen35moe)
_GATED_DELTA_MOE = frozenset({"qwen3next", "qwen35moe"})
INPUT_BYTES_PER_TOKEN = 40  # token ids, positions, output ids and alignment slack (measured)


class ComputeEstimate(BaseModel):
    model_config = ConfigDict(frozen=True)

    bytes: int  # the compute buffer (graph allocator)
    output_bytes: int  # the logits buffer llama_context allocates next to it
    branch: str  # which part of the graph sets the peak
    n_tokens: int
    n_outputs: int
    mask_bytes: int


def _dims(a: ModelArch) -> tuple[int, int, int, int]:
    """(hidden, q width, k+v width per token, heads) of one attention layer."""
    if a.is_mla:
        qk = a.qk_nope_head_dim + a.qk_rope_head_dim
        q = a.n_heads * max(qk, a.kv_lora_rank + a.qk_rope_head_dim)
        kv = a.kv_lora_rank + a.qk_rope_head_dim
        return a.hidden_size, q, kv, a.n_heads
    return (a.hidden_size, a.n_heads * max(a.head_dim_k, a.head_dim_v), a.n_kv_heads * a.head_dim_k, a.n_heads)


def _recurrent_branch(a: ModelArch, t: int, n_seq: int) -> int:
    """Peak bytes of one recurrent layer's graph, fitted to llama.cpp's compute buffer.

    Mamba-2 (``build_mamba2_layer``): the in-projection, the convolution input with its
    carried state, its output and the scan's output are alive together: per token about
    ``7.5·d_inner + 6·n_group·d_state + n_heads`` F32, plus one SSM state per sequence.
    Gated delta-net (``build_layer_attn_linear``, chunked): per token about
    ``5.8·key_dim + 3.6·value_dim`` F32 (q and k repeated to the value heads, the chunked
    decay matrices), plus the state and per-chunk copies of it, which grow with the
    value-to-key head ratio. Short convolutions (LFM2) stay below the FFN and are not a
    branch. Coefficients: least squares over synthetic loads of four shapes each
    (xllamacpp 2026.10, CPU), residuals under 0.1%.
    """
    if not a.recurrent_layers:
        return 0
    if a.recurrent_kind == "mamba2":
        per_tok = 7.5 * a.ssm_d_inner + 6 * max(a.ssm_n_group, 1) * a.ssm_d_state + a.ssm_dt_rank
        return int(t * F32 * per_tok) + F32 * a.ssm_d_state * a.ssm_d_inner * n_seq
    if a.recurrent_kind == "gated_delta":
        key_dim = a.ssm_d_state * a.ssm_n_group
        state = F32 * a.ssm_d_state * a.ssm_d_inner * n_seq
        ratio = a.ssm_dt_rank / max(a.ssm_n_group, 1)
        return int(t * F32 * (5.8 * key_dim + 3.575 * a.ssm_d_inner) + state * (0.2 + 0.45 * ratio))
    return 0


def estimate_compute_buffer(
    a: ModelArch,
    kv: KVCacheEstimate,
    *,
    flash_attn: bool,
    n_seq: int = 1,
) -> ComputeEstimate:
    """Peak scratch bytes of llama.cpp's reserved graph for this model and context."""
    t = kv.context.n_ubatch
    e, q, kvw, heads = _dims(a)
    masks = kv.mask_sizes
    mask_el = sum(masks) * t
    mask_bytes = mask_el * (F16 if flash_attn else F32)
    inputs = INPUT_BYTES_PER_TOKEN * t
    branches: dict[str, int] = {}

    # feed-forward (the largest of a dense layer and an MoE layer)
    if a.ffn_size and (not a.is_moe or a.n_dense_leading_layers):
        branches["dense FFN"] = t * F32 * (3 * a.ffn_size + 5 * e)
    if a.is_moe:
        k = a.n_experts_used
        shared = 3 * a.n_shared_experts * a.shared_expert_ffn_size
        f = a.expert_ffn_size
        moe = 3 * k * f + 5 * e  # gate, up and their product for each selected expert
        if a.arch not in _UNNORMALIZED_MOE and a.arch not in _NO_DOUBLE_ROWS:
            # with renormalized expert weights the down-projected rows of every selected
            # expert are alive twice (before and after weighting): measured on qwen3moe
            moe = max(moe, 2 * k * e + 256 * k + 5 * e)
        if a.arch == "llama4":
            # each selected expert's gate, up, product and weighted output row, then
            # three hidden-size rows and the attention's Q twice; the shared expert runs
            # once the routed rows are freed. Fitted to five synthetic shapes (hidden
            # 2048-5120, experts 8-32 of width 4096-8192, 1-2 used), residuals < 0.1%.
            moe, shared = k * (3 * f + e) + 3 * e + 2 * q, 0
        elif a.arch in _GATED_DELTA_MOE:
            # the down-projected rows of every selected expert alive twice, plus half the
            # hidden rows the other MoE models keep; the sigmoid-gated shared expert does
            # not add. ggml's packing is not monotonic here: over four synthetic shapes
            # (hidden 1024-2048, 4-10 of 32-64 experts of width 512-1024) the residuals
            # are 0%, -12.5%, +7% and +12.5%.
            moe, shared = 2 * k * e + e * 5 // 2, 0
        elif a.arch == "nemotron_h_moe":
            # experts without a gate (squared ReLU of up): each selected expert's up row
            # and its weighted output, five hidden rows; the shared expert does not add.
            # Fitted to five synthetic shapes (hidden 2048-4096, 4-8 of 16 experts of
            # width 1024-2048, shared 2048-4096): exact.
            moe, shared = k * (f + e) + 5 * e, 0
        elif a.arch == "gemma4":
            # the dense FFN's output waits beside the routed experts; each selected
            # expert's down-projected row alive twice, three hidden rows
            moe, shared = 2 * k * e + 3 * e, 0
        elif a.arch in _SHARED_AFTER_ROUTED:
            # the shared expert runs once the routed rows are freed, so it adds nothing
            # to the peak (measured on glm4moe and hunyuan-moe; on the GLM-4.5-Air shape
            # this is 1.2% high, on a small one, hidden 2048, ggml packs the routed rows
            # tighter and it is 29% high)
            shared = 0
        branches["MoE FFN"] = t * F32 * (moe + shared)
    ffn = max(branches.values(), default=0)
    if not flash_attn:
        # the F32 mask is copied once more while the FFN runs (measured)
        for name in list(branches):
            branches[name] = ffn + mask_el * F32

    if a.arch == "gemma3n":
        # the FFN runs while the per-layer inputs of every layer (n_embd_altup x n_layers)
        # and the AltUp streams and predictions (n_altup hidden rows each) stay alive
        pl = int(a.extra.get("n_embd_altup", 256)) * a.n_layers
        alt = int(a.extra.get("n_altup", 4))
        branches["dense FFN"] = int(t * F32 * (3 * a.ffn_size + pl + (2 * alt + 4.75) * e))
    rec = _recurrent_branch(a, t, n_seq)
    if rec:
        branches[f"{a.recurrent_kind} layer"] = rec

    # attention
    if flash_attn:
        if a.is_mla:
            # absorbed MLA: Q is projected into the latent space (kv_lora + rope per head)
            # and alive next to the attention output of the same width and the full Q
            q_lat = a.n_heads * (a.kv_lora_rank + a.qk_rope_head_dim)
            q_full = a.n_heads * (a.qk_nope_head_dim + a.qk_rope_head_dim)
            branches["attention"] = t * F32 * (2 * q_lat + q_full + 5 * e)
        else:
            branches["attention"] = t * F32 * max(2 * q + 5 * e, 2 * q + 3 * e + 2 * kvw)
    else:
        n_kv = max(masks, default=0)
        branches["attention (K·Q scores)"] = t * F32 * (4 * e + 2 * q + 2 * kvw) + n_kv * t * heads * F32

    # output head: logits of the kept rows, plus the final norm of all rows
    n_out = min(t, n_seq)
    branches["output"] = n_out * a.vocab_size * F32 + 2 * t * e * F32

    name, peak = max(branches.items(), key=lambda kv_: kv_[1])
    if a.arch == "deepseek32" and masks:
        # DSA: what the lightning indexer keeps beside the layer's peak (2 bytes per KV
        # cell and token, 16 per selected key and token), or, at long context, its F32
        # scores and the sparse mask (6 bytes per cell and token) beside the attention
        # rows, whichever is larger. Fitted to synthetic loads of two shapes (hidden 2048
        # and 7168) at 1k-32k cells (xllamacpp 2026.10, CPU): within 1.3%, but +3.5% on
        # the large shape at 16k.
        n_kv, top_k = max(masks), int(a.extra.get("indexer_top_k", 2048)) or max(masks)
        beside = peak + t * (2 * n_kv + 16 * min(n_kv, top_k))
        scores = branches.get("attention", 0) + t * 6 * n_kv
        if scores > beside:
            name = "DSA indexer scores"
        peak = max(beside, scores)
    if a.arch == "gemma4":
        # per-layer embeddings: every layer's input slice ([n_embd_per_layer, t, n_layer])
        # and its projection stay alive through the whole stack (measured: exact)
        peak += 2 * t * F32 * int(a.extra.get("n_embd_per_layer", 0)) * a.n_layers
    return build(
        ComputeEstimate,
        bytes=peak + mask_bytes + inputs,
        output_bytes=n_seq * a.vocab_size * F32,
        branch=name,
        n_tokens=t,
        n_outputs=n_out,
        mask_bytes=mask_bytes,
    )
