"""The architecture of a language model: everything sizing needs, nothing it doesn't.

One schema serves every source (catalog YAML, Hugging Face ``config.json``, a GGUF
header), so the estimators never care where a model came from. Field names follow the
concepts, not any one framework; ``arch`` is llama.cpp's ``general.architecture`` name
because llama.cpp is what we size for and it decides the tensor layout.

Parameter counts are *derived* from the tensor list (``sizing.core.tensors``), never
stored, so they cannot drift from the shapes we size.
"""

from __future__ import annotations

from functools import cached_property
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FFNActivation = Literal["gated", "plain"]
RecurrentKind = Literal["mamba2", "gated_delta", "shortconv"]

#: llama.cpp's own limit (LLAMA_MAX_LAYERS in src/llama-hparams.h). A header or config
#: declaring more cannot load there, and would make every per-layer walk here endless.
MAX_LAYERS = 512


class ModelArch(BaseModel):
    """A transformer (dense, MoE, SWA, MLA or hybrid) as llama.cpp lays it out."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # --- identity and provenance -------------------------------------------------
    id: str = Field(description="Hugging Face repo id, or a path-free name for local files")
    name: str = Field(description="human-readable name")
    arch: str = Field(description="llama.cpp general.architecture, e.g. llama, qwen3moe, gemma3")
    source: str = Field(description="where the numbers come from: a config.json URL, a file, …")
    aliases: tuple[str, ...] = ()

    # --- core shape -----------------------------------------------------------------
    n_layers: int = Field(gt=0, le=MAX_LAYERS)
    hidden_size: int = Field(gt=0)
    n_heads: int = Field(gt=0)
    n_kv_heads: int = Field(gt=0)
    head_dim_k: int = Field(gt=0, description="key (and query) length per head")
    head_dim_v: int = Field(gt=0, description="value length per head")
    ffn_size: int = Field(ge=0, description="dense FFN intermediate size (0 if none)")
    ffn_activation: FFNActivation = "gated"
    vocab_size: int = Field(gt=0)
    tied_embeddings: bool = False
    max_context: int = Field(gt=0)

    # --- small tensors that make the parameter count exact ---------------------------
    attn_qkv_bias: bool = False  # Qwen2: q/k/v biases
    attn_out_bias: bool = False
    qk_norm: bool = False  # Qwen3, Gemma-3, OLMo-2: per-head RMSNorm on q and k
    post_norms: bool = False  # Gemma-2/3: extra norms after attention and FFN
    attn_sinks: bool = False  # gpt-oss: one learned sink logit per head
    rope_dim: int = Field(0, ge=0, description="rotary dims per head; 0 means head_dim_k")
    rope_factor_tensors: tuple[str, ...] = Field(
        (),
        description=(
            "llama.cpp's per-model RoPE tensors, each of rope_dim/2 floats: "
            "('rope_freqs',) for Llama-3.1 scaling, ('rope_factors_long', 'rope_factors_short') "
            "for Phi-3 LongRoPE"
        ),
    )

    # --- mixture of experts ------------------------------------------------------------
    n_experts: int = Field(0, ge=0)
    n_experts_used: int = Field(0, ge=0)
    expert_ffn_size: int = Field(0, ge=0)
    n_shared_experts: int = Field(0, ge=0)
    shared_expert_ffn_size: int = Field(0, ge=0, description="per shared expert")
    n_dense_leading_layers: int = Field(0, ge=0, description="first N layers use the dense FFN")
    expert_bias: bool = False  # gpt-oss: biases on router and expert projections
    expert_score_bias: bool = False  # DeepSeek-V3: router score-correction bias (exp_probs_b)
    native_types: tuple[tuple[str, str], ...] = Field(
        (),
        description=(
            "tensors the checkpoint ships already quantized, as (name part, ggml type): "
            "gpt-oss's experts are MXFP4 in the release itself, the converter writes them "
            "as is, and the published GGUFs keep them so at every file quant"
        ),
    )

    # --- sliding-window attention ----------------------------------------------------
    sliding_window: int | None = Field(None, gt=0)
    swa_pattern: int | None = Field(
        None,
        ge=0,
        description=(
            "llama.cpp's set_swa_pattern(n): layer i uses the window iff "
            "n == 0 or i % n < n - 1 (Gemma-3: 6 = five local, one global)"
        ),
    )
    swa_layers: tuple[int, ...] | None = Field(
        None, description="explicit list of windowed layers; overrides swa_pattern"
    )
    swa_head_dim: int = Field(
        0,
        ge=0,
        description="K and V length per head on windowed layers where it differs from the "
        "full-attention layers' (gemma4: 256 windowed, 512 full); 0 means the same",
    )
    swa_n_kv_heads: int = Field(
        0,
        ge=0,
        description="KV heads on windowed layers where they differ (gemma4: 8 windowed, 2 full); 0 means n_kv_heads",
    )

    # --- multi-head latent attention (DeepSeek-V2/V3) -----------------------------------
    q_lora_rank: int = Field(0, ge=0)
    kv_lora_rank: int = Field(0, ge=0)
    qk_rope_head_dim: int = Field(0, ge=0)
    qk_nope_head_dim: int = Field(0, ge=0)

    # --- recurrent / hybrid layers ------------------------------------------------------
    recurrent_layers: tuple[int, ...] = ()
    recurrent_kind: RecurrentKind | None = Field(
        None,
        description=(
            "what the recurrent layers are: 'mamba2' (granitehybrid, nemotron_h), "
            "'gated_delta' (qwen3next, qwen35: gated delta-net linear attention), "
            "'shortconv' (lfm2: a gated short convolution, ssm_d_conv is its L cache)"
        ),
    )
    ssm_d_state: int = Field(0, ge=0)
    ssm_d_conv: int = Field(0, ge=0)
    ssm_d_inner: int = Field(0, ge=0)
    ssm_n_group: int = Field(0, ge=0)
    ssm_dt_rank: int = Field(0, ge=0, description="Mamba-2 heads / delta-net value heads")
    ffn_only_layers: tuple[int, ...] = Field(
        (), description="blocks that are only an FFN, no attention nor recurrence (nemotron_h)"
    )
    n_kv_layers: int | None = Field(
        None,
        gt=0,
        description="only the first N layers hold KV; later ones reuse it (llama.cpp "
        "n_layer_kv_from_start: gemma3n keeps 20)",
    )
    moe_layer_step: int = Field(1, ge=1, description="MoE on layer i iff (i + 1) % step == 0, dense otherwise (llama4)")

    # --- free-form facts a specific arch needs (documented where used) --------------------
    extra: dict[str, int | float | bool | str] = Field(default_factory=dict)

    def __hash__(self) -> int:
        """By value, so ``functools`` caches key on the architecture itself (bounded, no
        identity tricks); ``extra`` is a dict, hashed by its sorted items."""
        d = self.__dict__
        return hash(tuple(tuple(sorted(d[n].items())) if n == "extra" else d[n] for n in _FIELDS))

    @model_validator(mode="after")
    def _consistent(self) -> "ModelArch":
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({self.n_kv_heads})")
        if self.n_experts:
            if not (0 < self.n_experts_used <= self.n_experts):
                raise ValueError("n_experts_used must be in 1..n_experts for an MoE model")
            if self.expert_ffn_size <= 0:
                raise ValueError("expert_ffn_size must be > 0 for an MoE model")
        elif self.n_experts_used or self.n_shared_experts:
            raise ValueError("n_experts_used/n_shared_experts set on a model without experts")
        if (self.swa_pattern is not None or self.swa_layers) and not self.sliding_window:
            raise ValueError("swa_pattern/swa_layers given without sliding_window")
        if self.swa_n_kv_heads and self.n_heads % self.swa_n_kv_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must be a multiple of swa_n_kv_heads ({self.swa_n_kv_heads})")
        if self.swa_layers and max(self.swa_layers) >= self.n_layers:
            raise ValueError("swa_layers names a layer beyond n_layers")
        if self.recurrent_layers and max(self.recurrent_layers) >= self.n_layers:
            raise ValueError("recurrent_layers names a layer beyond n_layers")
        if self.ffn_only_layers and max(self.ffn_only_layers) >= self.n_layers:
            raise ValueError("ffn_only_layers names a layer beyond n_layers")
        if self.recurrent_layers and self.recurrent_kind is None:
            raise ValueError("recurrent_layers given without recurrent_kind")
        if (
            self.recurrent_kind in ("mamba2", "gated_delta")
            and self.recurrent_layers
            and not (self.ssm_d_state and self.ssm_d_conv and self.ssm_d_inner and self.ssm_dt_rank)
        ):
            raise ValueError("recurrent layers need ssm_d_state, ssm_d_conv, ssm_d_inner and ssm_dt_rank")
        if self.recurrent_kind == "shortconv" and self.recurrent_layers and self.ssm_d_conv < 2:
            raise ValueError("short-convolution layers need ssm_d_conv (the L cache) of at least 2")
        return self

    # --- derived views ------------------------------------------------------------------
    @property
    def is_moe(self) -> bool:
        return self.n_experts > 0

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def is_swa(self) -> bool:
        return self.sliding_window is not None

    @cached_property
    def swa_flags(self) -> tuple[bool, ...]:
        """Per layer: does it attend through the sliding window?"""
        if not self.sliding_window:
            return (False,) * self.n_layers
        if self.swa_layers is not None:
            s = set(self.swa_layers)
            return tuple(i in s for i in range(self.n_layers))
        n = self.swa_pattern if self.swa_pattern is not None else 0
        return tuple(n == 0 or i % n < n - 1 for i in range(self.n_layers))

    @cached_property
    def recurrent_flags(self) -> tuple[bool, ...]:
        s = set(self.recurrent_layers)
        return tuple(i in s for i in range(self.n_layers))

    @cached_property
    def attention_flags(self) -> tuple[bool, ...]:
        """Per layer: does it attend (and so hold KV cells)? Not a recurrent or FFN-only block."""
        rec, ffn_only = self.recurrent_flags, set(self.ffn_only_layers)
        n_kv = self.n_kv_layers or self.n_layers
        return tuple(not rec[i] and i not in ffn_only and i < n_kv for i in range(self.n_layers))

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> ModelArch:
        """A copy whose per-layer views are computed afresh: pydantic copies the instance
        dict, cached properties included, so a copy with other ``n_layers`` or
        ``swa_layers`` would otherwise keep the original's flags."""
        copied = super().model_copy(update=update, deep=deep)
        for name in _PER_LAYER_VIEWS:
            copied.__dict__.pop(name, None)
        return copied

    def is_moe_layer(self, layer: int) -> bool:
        return self.is_moe and layer >= self.n_dense_leading_layers and (layer + 1) % self.moe_layer_step == 0


_FIELDS: tuple[str, ...] = tuple(ModelArch.model_fields)
_PER_LAYER_VIEWS = ("swa_flags", "recurrent_flags", "attention_flags")
