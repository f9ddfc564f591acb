"""Tensors of a model as llama.cpp names and shapes them.

The tensor list is the single source of truth for parameter counts and weight bytes:
from a GGUF header it is read exactly; from an architecture it is generated here the
way llama.cpp's converter lays it out (names from ``src/llama-arch.cpp``, shapes from
each model's ``load_tensors`` in ``src/llama-model.cpp`` / ``src/models/*.cpp`` of
ggml-org/llama.cpp), and the quant recipe (sizing.core.quant) assigns each tensor its type.

Shapes are ggml order: ``ne0`` (the row length, the one quant blocks run along) first.
"""

from __future__ import annotations

from functools import lru_cache
from math import prod
from typing import Callable

from pydantic import BaseModel, ConfigDict

from sizing.errors import SizingError
from sizing.core.fastmodel import build
from sizing.core.arch import ModelArch


class TensorSpec(BaseModel):
    """One weight tensor: llama.cpp name, ggml shape (ne0 first), and ggml type if known."""

    model_config = ConfigDict(frozen=True)

    name: str
    shape: tuple[int, ...]
    ggml_type: str | None = None  # e.g. "Q4_K", "F32"; None until a recipe assigns one

    @property
    def n_elements(self) -> int:
        return prod(self.shape)

    @property
    def layer(self) -> int:
        """Block index (``blk.N.``), or -1 for model-level tensors."""
        return layer_of(self.name)

    @property
    def is_expert(self) -> bool:
        """A routed-expert tensor (stacked over experts): only n_used of n are active."""
        return "_exps." in self.name


@lru_cache(maxsize=65536)
def layer_of(name: str) -> int:
    """Block index in a tensor name (``blk.N.``), or -1. Cached: every model repeats the
    same few thousand names, and the recipe, the sort and the traffic model all ask."""
    if name.startswith("blk."):
        head = name[4:].split(".", 1)[0]
        if head.isdigit():
            return int(head)
    return -1


@lru_cache(maxsize=1 << 14)  # ~200 B each: the tensors of the models a server shows, every quant's
def tensor_role(name: str, shape: tuple[int, ...]) -> tuple[int, bool, int, bool, bool]:
    """What the per-quant passes over a tensor list ask of a tensor whatever its type:
    (block index or -1, routed expert, elements, a ``.weight``, a matrix). Cached: every
    quant of a model walks the same names and shapes, and each asked these one by one."""
    return layer_of(name), "_exps." in name, prod(shape), name.endswith(".weight"), len(shape) >= 2


@lru_cache(maxsize=1 << 14)  # ~150 B each; a model's tensors, a few times over
def shared_spec(name: str, shape: tuple[int, ...], ggml_type: str | None) -> TensorSpec:
    """A TensorSpec from values already known valid, without pydantic's validation, and
    shared (it is frozen): a catalog sweep types ~150k tensors but only ~60k distinct ones,
    since quants and sibling models repeat the same name, shape and type."""
    return build(TensorSpec, name=name, shape=shape, ggml_type=ggml_type)


def llama_order(tensors: list[TensorSpec]) -> list[TensorSpec]:
    """Sort like llama.cpp's ``weight_name_comparer``: by block number, then name.

    The quantizer walks tensors in this order, and its per-layer schedules count in it.
    """
    return sorted(tensors, key=lambda t: (layer_of(t.name), t.name))


# --------------------------------------------------------------------------------------
# building blocks


class _Builder:
    """Collects tensors; helpers for the pieces most architectures share."""

    def __init__(self, a: ModelArch) -> None:
        self.a = a
        self.out: list[TensorSpec] = []

    def add(self, name: str, *shape: int) -> None:
        # the builder's own values need no validation, and an estimate of a 61-layer MoE
        # model creates over a thousand of these
        self.out.append(shared_spec(name, tuple(map(int, shape)), None))

    def blk(self, i: int, name: str, *shape: int) -> None:
        self.add(f"blk.{i}.{name}", *shape)

    # model-level ------------------------------------------------------------------
    def embeddings(self) -> None:
        a = self.a
        self.add("token_embd.weight", a.hidden_size, a.vocab_size)
        self.add("output_norm.weight", a.hidden_size)
        if not a.tied_embeddings:
            self.add("output.weight", a.hidden_size, a.vocab_size)
        rope = (a.rope_dim or a.head_dim_k) // 2
        for t in a.rope_factor_tensors:
            self.add(f"{t}.weight", rope)

    # attention ----------------------------------------------------------------------
    def attention(self, i: int) -> None:
        """Separate q/k/v/o projections with optional biases, q/k norms and sinks."""
        a = self.a
        h, q, kv_k, kv_v = (
            a.hidden_size,
            a.n_heads * a.head_dim_k,
            a.n_kv_heads * a.head_dim_k,
            a.n_kv_heads * a.head_dim_v,
        )
        o_in = a.n_heads * a.head_dim_v
        self.blk(i, "attn_q.weight", h, q)
        self.blk(i, "attn_k.weight", h, kv_k)
        self.blk(i, "attn_v.weight", h, kv_v)
        self.blk(i, "attn_output.weight", o_in, h)
        if a.attn_qkv_bias:
            self.blk(i, "attn_q.bias", q)
            self.blk(i, "attn_k.bias", kv_k)
            self.blk(i, "attn_v.bias", kv_v)
        if a.attn_out_bias:
            self.blk(i, "attn_output.bias", h)
        if a.qk_norm:
            self.blk(i, "attn_q_norm.weight", a.head_dim_k)
            self.blk(i, "attn_k_norm.weight", a.head_dim_k)
        if a.attn_sinks:
            self.blk(i, "attn_sinks.weight", a.n_heads)

    # feed-forward -------------------------------------------------------------------
    def dense_ffn(self, i: int, size: int | None = None) -> None:
        a = self.a
        f = a.ffn_size if size is None else size
        if a.ffn_activation == "gated":
            self.blk(i, "ffn_gate.weight", a.hidden_size, f)
        self.blk(i, "ffn_up.weight", a.hidden_size, f)
        self.blk(i, "ffn_down.weight", f, a.hidden_size)

    def moe_ffn(self, i: int) -> None:
        a = self.a
        h, fe, e = a.hidden_size, a.expert_ffn_size, a.n_experts
        self.blk(i, "ffn_gate_inp.weight", h, e)
        if a.expert_score_bias:
            self.blk(i, "exp_probs_b.bias", e)
        self.blk(i, "ffn_gate_exps.weight", h, fe, e)
        self.blk(i, "ffn_up_exps.weight", h, fe, e)
        self.blk(i, "ffn_down_exps.weight", fe, h, e)
        if a.expert_bias:
            self.blk(i, "ffn_gate_inp.bias", e)
            self.blk(i, "ffn_gate_exps.bias", fe, e)
            self.blk(i, "ffn_up_exps.bias", fe, e)
            self.blk(i, "ffn_down_exps.bias", h, e)
        if a.n_shared_experts:
            fs = a.shared_expert_ffn_size * a.n_shared_experts
            if a.arch == "qwen2moe":  # Qwen-MoE gates its shared expert with a sigmoid
                self.blk(i, "ffn_gate_inp_shexp.weight", h)
            self.blk(i, "ffn_gate_shexp.weight", h, fs)
            self.blk(i, "ffn_up_shexp.weight", h, fs)
            self.blk(i, "ffn_down_shexp.weight", fs, h)

    def ffn(self, i: int) -> None:
        if self.a.is_moe_layer(i):
            self.moe_ffn(i)
        else:
            self.dense_ffn(i)


# --------------------------------------------------------------------------------------
# per-architecture layouts


def _llama_like(b: _Builder) -> None:
    """llama / mistral / mixtral / smollm2 / qwen2 / qwen3 / qwen2moe / qwen3moe."""
    b.embeddings()
    for i in range(b.a.n_layers):
        b.blk(i, "attn_norm.weight", b.a.hidden_size)
        b.attention(i)
        b.blk(i, "ffn_norm.weight", b.a.hidden_size)
        b.ffn(i)


def _gemma(b: _Builder) -> None:
    """gemma2 / gemma3: sandwich norms around attention and FFN, tied output."""
    h = b.a.hidden_size
    b.embeddings()
    for i in range(b.a.n_layers):
        b.blk(i, "attn_norm.weight", h)
        b.attention(i)
        b.blk(i, "post_attention_norm.weight", h)
        b.blk(i, "ffn_norm.weight", h)
        b.ffn(i)
        b.blk(i, "post_ffw_norm.weight", h)


def _phi3(b: _Builder) -> None:
    """phi3 (Phi-3, Phi-4): fused attn_qkv and a fused gate+up projection."""
    a = b.a
    h = a.hidden_size
    qkv = a.n_heads * a.head_dim_k + 2 * a.n_kv_heads * a.head_dim_k
    b.embeddings()
    for i in range(a.n_layers):
        b.blk(i, "attn_norm.weight", h)
        b.blk(i, "attn_qkv.weight", h, qkv)
        b.blk(i, "attn_output.weight", a.n_heads * a.head_dim_v, h)
        b.blk(i, "ffn_norm.weight", h)
        b.blk(i, "ffn_up.weight", h, 2 * a.ffn_size)
        b.blk(i, "ffn_down.weight", a.ffn_size, h)


def _deepseek2(b: _Builder) -> None:
    """deepseek2 (DeepSeek-V2/V3/R1, Kimi-K2): MLA attention, shared experts, dense lead.

    The current converter splits ``kv_b_proj`` into ``attn_k_b`` (3-D, per head) and
    ``attn_v_b``; only legacy files carry the fused ``attn_kv_b``.
    """
    a = b.a
    h, nh = a.hidden_size, a.n_heads
    rope = a.qk_rope_head_dim
    nope = a.qk_nope_head_dim or (a.head_dim_k - rope)
    k_mla = nope + rope
    if not (a.kv_lora_rank and rope and nope > 0):
        raise SizingError(f"model {a.id!r}: deepseek2 needs kv_lora_rank, qk_rope_head_dim and qk_nope_head_dim")
    b.embeddings()
    # deepseek32 keeps its multi-token-prediction blocks after the last layer, as glm4moe
    # does (llama.cpp DeepseekV32Model: skip_mtp = False); deepseek2 files drop them
    nextn = int(a.extra.get("nextn_predict_layers", 0)) if a.arch == "deepseek32" else 0
    for i in range(a.n_layers + nextn):
        b.blk(i, "attn_norm.weight", h)
        if a.q_lora_rank:
            b.blk(i, "attn_q_a_norm.weight", a.q_lora_rank)
            b.blk(i, "attn_q_a.weight", h, a.q_lora_rank)
            b.blk(i, "attn_q_b.weight", a.q_lora_rank, nh * k_mla)
        else:
            b.blk(i, "attn_q.weight", h, nh * k_mla)
        b.blk(i, "attn_kv_a_norm.weight", a.kv_lora_rank)
        b.blk(i, "attn_kv_a_mqa.weight", h, a.kv_lora_rank + rope)
        b.blk(i, "attn_k_b.weight", nope, a.kv_lora_rank, nh)
        b.blk(i, "attn_v_b.weight", a.kv_lora_rank, a.head_dim_v, nh)
        b.blk(i, "attn_output.weight", nh * a.head_dim_v, h)
        b.blk(i, "ffn_norm.weight", h)
        if a.arch == "deepseek32":
            _dsa_indexer(b, i)
        if i < a.n_layers:
            b.ffn(i)
        else:
            b.moe_ffn(i)
            _nextn_head(b, i)


def _nextn_head(b: _Builder, i: int) -> None:
    """What a kept multi-token-prediction block adds to a full layer: the projection of
    [embedding; hidden], its two norms, and the block's own copies of the token embedding
    and output head, which the checkpoints carry and the converters write (llama.cpp
    LLM_TENSOR_NEXTN_*; the copies load as optional tensors)."""
    a = b.a
    h = a.hidden_size
    b.blk(i, "nextn.eh_proj.weight", 2 * h, h)
    b.blk(i, "nextn.embed_tokens.weight", h, a.vocab_size)
    b.blk(i, "nextn.enorm.weight", h)
    b.blk(i, "nextn.hnorm.weight", h)
    b.blk(i, "nextn.shared_head_head.weight", h, a.vocab_size)
    b.blk(i, "nextn.shared_head_norm.weight", h)


def _dsa_indexer(b: _Builder, i: int) -> None:
    """DeepSeek-V3.2's lightning indexer (DSA): one key head of ``indexer_head_size``
    with a biased LayerNorm, per-head weights, and query heads from the q latent
    (llama.cpp deepseek32 load_tensors, LLM_TENSOR_INDEXER_*). ``extra`` holds
    indexer_n_head and indexer_head_size."""
    a = b.a
    nh, hd = int(a.extra.get("indexer_n_head", 0)), int(a.extra.get("indexer_head_size", 0))
    if not (nh and hd and a.q_lora_rank):
        raise SizingError(f"model {a.id!r}: deepseek32 needs q_lora_rank, indexer_n_head and indexer_head_size")
    b.blk(i, "indexer.k_norm.weight", hd)
    b.blk(i, "indexer.k_norm.bias", hd)
    b.blk(i, "indexer.proj.weight", a.hidden_size, nh)
    b.blk(i, "indexer.attn_k.weight", a.hidden_size, hd)
    b.blk(i, "indexer.attn_q_b.weight", a.q_lora_rank, nh * hd)


def _gpt_oss(b: _Builder) -> None:
    """gpt-oss: biased attention with per-head sinks; MoE with biased experts."""
    h = b.a.hidden_size
    b.embeddings()
    for i in range(b.a.n_layers):
        b.blk(i, "attn_norm.weight", h)
        b.attention(i)
        b.blk(i, "post_attention_norm.weight", h)
        b.ffn(i)


def _llama4(b: _Builder) -> None:
    """llama4: MoE every ``moe_layer_step``-th layer with one shared expert of the experts'
    width, dense FFN (``ffn_size``) elsewhere (llama.cpp ``LLM_ARCH_LLAMA4`` in
    src/llama-model.cpp: ``n_moe_layer_step``, ``n_ff_exp`` for the shared expert)."""
    a = b.a
    h = a.hidden_size
    b.embeddings()
    for i in range(a.n_layers):
        b.blk(i, "attn_norm.weight", h)
        b.attention(i)
        b.blk(i, "ffn_norm.weight", h)
        b.ffn(i)


def _glm4moe(b: _Builder) -> None:
    """glm4moe (GLM-4.5/4.6/4.7, -Air): biased q/k/v, optional q/k norms, the post-attention
    norm feeds the FFN (no ffn_norm), sigmoid router with score bias, shared experts
    (llama.cpp src/models/glm4-moe.cpp, load_arch_tensors). The converter keeps the
    multi-token-prediction blocks (``extra['nextn_predict_layers']``) after the last
    layer: a full MoE block plus its NextN head (:func:`_nextn_head`), loaded but never run."""
    a = b.a
    h = a.hidden_size
    b.embeddings()
    nextn = int(a.extra.get("nextn_predict_layers", 0)) if a.arch == "glm4moe" else 0
    for i in range(a.n_layers + nextn):
        b.blk(i, "attn_norm.weight", h)
        b.attention(i)
        b.blk(i, "post_attention_norm.weight", h)
        if i < a.n_layers:
            b.ffn(i)
        else:
            b.moe_ffn(i)
            _nextn_head(b, i)


def _seed_oss(b: _Builder) -> None:
    """seed_oss: llama-like blocks whose FFN norm is named post_attention_norm."""
    _glm4moe(b)


def _mamba2_mixer(b: _Builder, i: int) -> None:
    """A Mamba-2 block (llama.cpp granite-hybrid.cpp / nemotron-h.cpp load_arch_tensors):
    in-projection to z, x, B, C and dt; a depthwise convolution over x, B, C; per-head
    A, D and dt bias; a grouped RMS norm; the out-projection."""
    a = b.a
    h, di, ds, g, nh = a.hidden_size, a.ssm_d_inner, a.ssm_d_state, max(a.ssm_n_group, 1), a.ssm_dt_rank
    conv_ch = di + 2 * g * ds
    b.blk(i, "ssm_in.weight", h, 2 * di + 2 * g * ds + nh)
    b.blk(i, "ssm_conv1d.weight", a.ssm_d_conv, conv_ch)
    b.blk(i, "ssm_conv1d.bias", conv_ch)
    b.blk(i, "ssm_dt.bias", nh)
    b.blk(i, "ssm_a", 1, nh)
    b.blk(i, "ssm_d", 1, nh)
    b.blk(i, "ssm_norm.weight", di // g, g)
    b.blk(i, "ssm_out.weight", di, h)


def _granitehybrid(b: _Builder) -> None:
    """granitehybrid (Granite 4.0-H): Mamba-2 or attention, then an FFN in every block."""
    a = b.a
    h = a.hidden_size
    rec = a.recurrent_flags
    b.embeddings()
    for i in range(a.n_layers):
        b.blk(i, "attn_norm.weight", h)
        if rec[i]:
            _mamba2_mixer(b, i)
        else:
            b.attention(i)
        b.blk(i, "ffn_norm.weight", h)
        b.ffn(i)


def _nemotron_h(b: _Builder) -> None:
    """nemotron_h / nemotron_h_moe: each block is one of Mamba-2, attention or an FFN
    (squared-ReLU up/down; for the MoE variant routed experts without a gate, a sigmoid
    router with score bias and a shared up/down expert). src/models/nemotron-h.cpp."""
    a = b.a
    h = a.hidden_size
    rec, ffn_only = a.recurrent_flags, set(a.ffn_only_layers)
    b.embeddings()
    for i in range(a.n_layers):
        b.blk(i, "attn_norm.weight", h)
        if rec[i]:
            _mamba2_mixer(b, i)
        elif i not in ffn_only:
            b.attention(i)
        elif a.is_moe:
            e, fe, fs = a.n_experts, a.expert_ffn_size, a.shared_expert_ffn_size * max(a.n_shared_experts, 1)
            b.blk(i, "ffn_gate_inp.weight", h, e)
            b.blk(i, "exp_probs_b.bias", e)
            b.blk(i, "ffn_up_exps.weight", h, fe, e)
            b.blk(i, "ffn_down_exps.weight", fe, h, e)
            b.blk(i, "ffn_up_shexp.weight", h, fs)
            b.blk(i, "ffn_down_shexp.weight", fs, h)
        else:
            b.blk(i, "ffn_up.weight", h, a.ffn_size)
            b.blk(i, "ffn_down.weight", a.ffn_size, h)


def _delta_net(b: _Builder, i: int, fused_ba: bool) -> None:
    """A gated delta-net block (qwen3next / qwen35 load_arch_tensors): q, k, v in one
    projection and the output gate z in another, a convolution over q, k, v, per-head
    decay (A) and dt bias, beta and alpha projections (one fused ``ssm_ba`` in Qwen3-Next
    files), a per-head-width norm and the out-projection."""
    a = b.a
    h, dk, nk, nv = a.hidden_size, a.ssm_d_state, a.ssm_n_group, a.ssm_dt_rank
    key_dim, value_dim = dk * nk, a.ssm_d_inner
    b.blk(i, "attn_qkv.weight", h, 2 * key_dim + value_dim)
    b.blk(i, "attn_gate.weight", h, value_dim)
    b.blk(i, "ssm_conv1d.weight", a.ssm_d_conv, 2 * key_dim + value_dim)
    b.blk(i, "ssm_dt.bias", nv)
    b.blk(i, "ssm_a", nv)
    if fused_ba:
        b.blk(i, "ssm_ba.weight", h, 2 * nv)
    else:
        b.blk(i, "ssm_beta.weight", h, nv)
        b.blk(i, "ssm_alpha.weight", h, nv)
    b.blk(i, "ssm_norm.weight", value_dim // nv)
    b.blk(i, "ssm_out.weight", value_dim, h)


def _gated_attention(b: _Builder, i: int) -> None:
    """Qwen3-Next / Qwen3.5 full attention: Q projected at twice its width (query and a
    sigmoid output gate), per-head q/k norms."""
    a = b.a
    h, hd = a.hidden_size, a.head_dim_k
    b.blk(i, "attn_q.weight", h, 2 * a.n_heads * hd)
    b.blk(i, "attn_k.weight", h, a.n_kv_heads * hd)
    b.blk(i, "attn_v.weight", h, a.n_kv_heads * a.head_dim_v)
    b.blk(i, "attn_output.weight", a.n_heads * a.head_dim_v, h)
    b.blk(i, "attn_q_norm.weight", hd)
    b.blk(i, "attn_k_norm.weight", hd)


def _qwen3next(b: _Builder) -> None:
    """qwen3next / qwen35 / qwen35moe: three delta-net blocks, then one gated full-attention
    block; the post-attention norm feeds the FFN (routed experts plus a sigmoid-gated
    shared expert, or a dense FFN for qwen35)."""
    a = b.a
    h = a.hidden_size
    rec = a.recurrent_flags
    b.embeddings()
    for i in range(a.n_layers):
        b.blk(i, "attn_norm.weight", h)
        b.blk(i, "post_attention_norm.weight", h)
        if rec[i]:
            _delta_net(b, i, fused_ba=a.arch == "qwen3next")
        else:
            _gated_attention(b, i)
        if a.is_moe:
            b.moe_ffn(i)
            b.blk(i, "ffn_gate_inp_shexp.weight", h)
        else:
            b.dense_ffn(i)


def _lfm2(b: _Builder) -> None:
    """lfm2 / lfm2moe: gated short-convolution blocks and attention blocks with q/k norms;
    the final norm is ``token_embd_norm`` (src/models/lfm2.cpp load_arch_tensors)."""
    a = b.a
    h = a.hidden_size
    rec = a.recurrent_flags
    b.add("token_embd.weight", h, a.vocab_size)
    b.add("token_embd_norm.weight", h)
    if not a.tied_embeddings:
        b.add("output.weight", h, a.vocab_size)
    for i in range(a.n_layers):
        b.blk(i, "ffn_norm.weight", h)
        b.ffn(i)
        b.blk(i, "attn_norm.weight", h)
        if rec[i]:
            b.blk(i, "shortconv.conv.weight", a.ssm_d_conv, h)
            b.blk(i, "shortconv.in_proj.weight", h, 3 * h)
            b.blk(i, "shortconv.out_proj.weight", h, h)
        else:
            b.attention(i)


def _minimax_m2(b: _Builder) -> None:
    """minimax-m2: q/k norms over the whole projection (not per head), sigmoid-routed
    experts with a score bias, no shared expert."""
    a = b.a
    h = a.hidden_size
    b.embeddings()
    for i in range(a.n_layers):
        b.blk(i, "attn_norm.weight", h)
        b.blk(i, "attn_q.weight", h, a.n_heads * a.head_dim_k)
        b.blk(i, "attn_k.weight", h, a.n_kv_heads * a.head_dim_k)
        b.blk(i, "attn_v.weight", h, a.n_kv_heads * a.head_dim_v)
        b.blk(i, "attn_output.weight", a.n_heads * a.head_dim_v, h)
        b.blk(i, "attn_q_norm.weight", a.n_heads * a.head_dim_k)
        b.blk(i, "attn_k_norm.weight", a.n_kv_heads * a.head_dim_k)
        b.blk(i, "ffn_norm.weight", h)
        b.ffn(i)


def _gemma3n(b: _Builder) -> None:
    """gemma3n: Gemma-3 blocks with AltUp (``n_altup`` parallel streams), LAuReL low-rank
    residuals and per-layer token embeddings (``n_embd_altup`` wide per layer), from
    llama.cpp src/models/gemma3n.cpp load_arch_tensors. ``extra`` holds n_altup,
    laurel_rank and n_embd_altup (llama.cpp's defaults 4, 64, 256)."""
    a = b.a
    h, n = a.hidden_size, a.n_layers
    alt, rank, pl = (
        int(a.extra.get("n_altup", 4)),
        int(a.extra.get("laurel_rank", 64)),
        int(a.extra.get("n_embd_altup", 256)),
    )
    b.embeddings()
    b.add("altup_proj.weight", h, h, alt - 1)
    b.add("altup_unembd_proj.weight", h, h, alt - 1)
    b.add("per_layer_token_embd.weight", pl * n, a.vocab_size)
    b.add("per_layer_model_proj.weight", h, pl * n)
    b.add("per_layer_proj_norm.weight", pl)
    for i in range(n):
        b.blk(i, "attn_norm.weight", h)
        b.attention(i)
        b.blk(i, "post_attention_norm.weight", h)
        b.blk(i, "ffn_norm.weight", h)
        b.dense_ffn(i)
        b.blk(i, "post_ffw_norm.weight", h)
        b.blk(i, "inp_gate.weight", h, pl)
        b.blk(i, "proj.weight", pl, h)
        b.blk(i, "post_norm.weight", h)
        b.blk(i, "altup_correct_coef.weight", alt, alt)
        b.blk(i, "altup_correct_scale.weight", h)
        b.blk(i, "altup_predict_coef.weight", alt, alt * alt)
        b.blk(i, "altup_router.weight", h, alt)
        b.blk(i, "altup_router_norm.weight", h)
        b.blk(i, "laurel_l.weight", h, rank)
        b.blk(i, "laurel_r.weight", rank, h)
        b.blk(i, "laurel_post_norm.weight", h)


def _gemma4(b: _Builder) -> None:
    """gemma4: Gemma blocks whose windowed and full-attention layers differ in head width
    and KV heads; full layers may take V from K (no ``attn_v``: ``attention_k_eq_v``);
    an optional MoE next to the dense FFN (a scaled router, fused gate+up experts, a
    per-expert output scale and three more norms); optional per-layer embeddings; a
    learned per-layer output scale; the full layers' proportional-RoPE factor table is
    ``rope_factor_tensors``. llama.cpp src/models/gemma4.cpp load_arch_tensors, names from
    gguf-py MODEL_TENSORS[GEMMA4]. ``extra``: n_embd_per_layer, attention_k_eq_v."""
    a = b.a
    h, n = a.hidden_size, a.n_layers
    pl = int(a.extra.get("n_embd_per_layer", 0))
    k_eq_v = bool(a.extra.get("attention_k_eq_v", False))
    swa = a.swa_flags
    b.embeddings()  # with rope_freqs (rope_factor_tensors), head_dim_k / 2 wide
    if pl:
        b.add("per_layer_token_embd.weight", pl * n, a.vocab_size)
        b.add("per_layer_model_proj.weight", h, pl * n)
        b.add("per_layer_proj_norm.weight", pl)
    for i in range(n):
        hd = (a.swa_head_dim or a.head_dim_k) if swa[i] else a.head_dim_k
        kv = (a.swa_n_kv_heads or a.n_kv_heads) if swa[i] else a.n_kv_heads
        b.blk(i, "attn_norm.weight", h)
        b.blk(i, "attn_q.weight", h, a.n_heads * hd)
        b.blk(i, "attn_k.weight", h, kv * hd)
        if swa[i] or not k_eq_v:
            b.blk(i, "attn_v.weight", h, kv * hd)
        b.blk(i, "attn_output.weight", a.n_heads * hd, h)
        b.blk(i, "attn_q_norm.weight", hd)
        b.blk(i, "attn_k_norm.weight", hd)
        b.blk(i, "post_attention_norm.weight", h)
        b.blk(i, "layer_output_scale.weight", 1)
        b.blk(i, "ffn_norm.weight", h)
        b.dense_ffn(i)
        b.blk(i, "post_ffw_norm.weight", h)
        if a.is_moe_layer(i):
            e, fe = a.n_experts, a.expert_ffn_size
            b.blk(i, "ffn_gate_inp.weight", h, e)
            b.blk(i, "ffn_gate_inp.scale", h)
            b.blk(i, "pre_ffw_norm_2.weight", h)
            b.blk(i, "post_ffw_norm_1.weight", h)
            b.blk(i, "post_ffw_norm_2.weight", h)
            b.blk(i, "ffn_gate_up_exps.weight", h, 2 * fe, e)
            b.blk(i, "ffn_down_exps.weight", fe, h, e)
            b.blk(i, "ffn_down_exps.scale", e)
        if pl:
            b.blk(i, "inp_gate.weight", h, pl)
            b.blk(i, "proj.weight", pl, h)
            b.blk(i, "post_norm.weight", h)


_LAYOUTS: dict[str, Callable[[_Builder], None]] = {
    "llama": _llama_like,
    "mistral": _llama_like,
    "qwen2": _llama_like,
    "qwen3": _llama_like,
    "qwen2moe": _llama_like,
    "qwen3moe": _llama_like,
    "gemma2": _gemma,
    "gemma3": _gemma,
    "phi3": _phi3,
    "deepseek2": _deepseek2,
    "deepseek32": _deepseek2,
    "gpt-oss": _gpt_oss,
    "llama4": _llama4,
    "mistral3": _llama_like,
    "smollm3": _llama_like,
    "qwen3vl": _llama_like,
    "qwen3vlmoe": _llama_like,
    "glm4moe": _glm4moe,
    "seed_oss": _seed_oss,
    "granitehybrid": _granitehybrid,
    "nemotron_h": _nemotron_h,
    "nemotron_h_moe": _nemotron_h,
    "qwen3next": _qwen3next,
    "qwen35": _qwen3next,
    "qwen35moe": _qwen3next,
    "lfm2": _lfm2,
    "lfm2moe": _lfm2,
    "ernie4_5-moe": _llama_like,
    "hunyuan-moe": _llama_like,
    "minimax-m2": _minimax_m2,
    "gemma3n": _gemma3n,
    "gemma4": _gemma4,
}

SUPPORTED_ARCHS: tuple[str, ...] = tuple(sorted(_LAYOUTS))


def _build(arch: ModelArch) -> list[TensorSpec]:
    layout = _LAYOUTS.get(arch.arch)
    if layout is None:
        raise SizingError(
            f"model {arch.id!r}: llama.cpp architecture {arch.arch!r} has no tensor layout here; "
            f"supported: {', '.join(SUPPORTED_ARCHS)} (or give a GGUF file, whose header lists its tensors)"
        )
    b = _Builder(arch)
    layout(b)
    return b.out


# Building a 61-layer MoE model's tensor list takes milliseconds, and sweeps ask for the
# same architecture once per quant and context: keep the last few dozen (bounded).
@lru_cache(maxsize=64)  # a model's untyped list, ~45 KiB
def _tensors(arch: ModelArch) -> tuple[TensorSpec, ...]:
    return tuple(llama_order(_build(arch)))


def tensors_for(arch: ModelArch) -> list[TensorSpec]:
    """Every weight tensor llama.cpp loads for ``arch``, untyped, in llama.cpp's order.

    A new list each call (callers may reorder it); the frozen TensorSpecs are shared."""
    return list(_tensors(arch))


def file_order(arch: ModelArch, tensors: list[TensorSpec]) -> list[TensorSpec]:
    """``tensors`` in the order a converter writes them: embeddings, blocks, output last.

    The order matters to llama.cpp's memory report: with mmap, a model buffer spans the
    file range from its first to its last tensor, so the order of tensors in the file
    (not only their sizes) sets the reported CPU_Mapped size when some are repacked.
    """
    rank = {t.name: i for i, t in enumerate(_build(arch))}
    tail = {"output_norm.weight": 1, "output.weight": 2}

    def key(t: TensorSpec) -> tuple[int, int, int]:
        if t.name in tail:
            return (2, tail[t.name], 0)
        return (0 if t.layer < 0 else 1, t.layer, rank.get(t.name, len(rank)))

    return sorted(tensors, key=key)


def count_params(
    tensors: list[TensorSpec] | tuple[TensorSpec, ...], n_experts: int, n_experts_used: int
) -> tuple[int, int]:
    """(total, active) parameters of a tensor list.

    Active counts each routed-expert tensor at ``n_experts_used / n_experts`` of its size
    (the experts a token actually runs through); shared experts and everything else count whole.
    """
    total = active = 0
    for t in tensors:
        n = prod(t.shape)
        total += n
        if n_experts > 0 and t.is_expert:
            active += n * n_experts_used // n_experts
        else:
            active += n
    return total, active


def param_counts(arch: ModelArch) -> tuple[int, int]:
    """(total, active) parameters, derived exactly from :func:`tensors_for`."""
    return count_params(tensors_for(arch), arch.n_experts, arch.n_experts_used)
