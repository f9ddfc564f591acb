"""Synthetic GGUFs: real headers over sparse holes, read back by us and loaded by llama.cpp."""

from __future__ import annotations

import os

import pytest

from sizing.errors import SizingError
from sizing.live.synthetic import write_synthetic_gguf
from sizing.core.arch import ModelArch
from sizing.sources.gguf_reader import read_gguf
from sizing.core.tensors import tensors_for
from sizing.core.quant import apply_recipe, tensor_bytes, weights_bytes


def _m(**kw) -> ModelArch:
    kw.setdefault("name", kw["id"])
    kw.setdefault("source", "test")
    return ModelArch(**kw)


# Shapes from each model's config.json on Hugging Face; "_s" variants keep every width
# and cut the layer count (and DeepSeek's expert count, 256 -> 12) so llama.cpp loads them in seconds.
LLAMA31_8B = _m(
    id="meta-llama/Llama-3.1-8B",
    arch="llama",
    n_layers=32,
    hidden_size=4096,
    n_heads=32,
    n_kv_heads=8,
    head_dim_k=128,
    head_dim_v=128,
    ffn_size=14336,
    vocab_size=128256,
    max_context=131072,
    rope_factor_tensors=("rope_freqs",),
)
LLAMA32_1B = _m(
    id="meta-llama/Llama-3.2-1B",
    arch="llama",
    n_layers=16,
    hidden_size=2048,
    n_heads=32,
    n_kv_heads=8,
    head_dim_k=64,
    head_dim_v=64,
    ffn_size=8192,
    vocab_size=128256,
    max_context=131072,
    tied_embeddings=True,
    rope_factor_tensors=("rope_freqs",),
)
QWEN25_05B = _m(
    id="Qwen/Qwen2.5-0.5B",
    arch="qwen2",
    n_layers=24,
    hidden_size=896,
    n_heads=14,
    n_kv_heads=2,
    head_dim_k=64,
    head_dim_v=64,
    ffn_size=4864,
    vocab_size=151936,
    tied_embeddings=True,
    attn_qkv_bias=True,
    max_context=32768,
)
QWEN3_30B_A3B_S = _m(
    id="Qwen/Qwen3-30B-A3B",
    arch="qwen3moe",
    n_layers=4,
    hidden_size=2048,
    n_heads=32,
    n_kv_heads=4,
    head_dim_k=128,
    head_dim_v=128,
    ffn_size=6144,
    vocab_size=151936,
    qk_norm=True,
    n_experts=128,
    n_experts_used=8,
    expert_ffn_size=768,
    max_context=40960,
)
GEMMA2_2B = _m(
    id="google/gemma-2-2b",
    arch="gemma2",
    n_layers=26,
    hidden_size=2304,
    n_heads=8,
    n_kv_heads=4,
    head_dim_k=256,
    head_dim_v=256,
    ffn_size=9216,
    vocab_size=256000,
    tied_embeddings=True,
    post_norms=True,
    sliding_window=4096,
    swa_pattern=2,
    max_context=8192,
)
PHI3_MINI_S = _m(
    id="microsoft/Phi-3-mini-4k-instruct",
    arch="phi3",
    n_layers=4,
    hidden_size=3072,
    n_heads=32,
    n_kv_heads=32,
    head_dim_k=96,
    head_dim_v=96,
    ffn_size=8192,
    vocab_size=32064,
    max_context=4096,
)
GPT_OSS_20B_S = _m(
    id="openai/gpt-oss-20b",
    arch="gpt-oss",
    n_layers=4,
    hidden_size=2880,
    n_heads=64,
    n_kv_heads=8,
    head_dim_k=64,
    head_dim_v=64,
    ffn_size=2880,
    vocab_size=201088,
    attn_qkv_bias=True,
    attn_out_bias=True,
    attn_sinks=True,
    n_experts=32,
    n_experts_used=4,
    expert_ffn_size=2880,
    expert_bias=True,
    sliding_window=128,
    swa_pattern=2,
    max_context=131072,
)
DEEPSEEK_V3_S = _m(
    id="deepseek-ai/DeepSeek-V3",
    arch="deepseek2",
    n_layers=4,
    hidden_size=7168,
    n_heads=128,
    n_kv_heads=128,
    head_dim_k=192,
    head_dim_v=128,
    ffn_size=18432,
    vocab_size=129280,
    n_experts=12,
    n_experts_used=8,
    expert_ffn_size=2048,
    n_shared_experts=1,
    shared_expert_ffn_size=2048,
    n_dense_leading_layers=3,
    q_lora_rank=1536,
    kv_lora_rank=512,
    qk_rope_head_dim=64,
    qk_nope_head_dim=128,
    expert_score_bias=True,
    max_context=163840,
)

CASES = [
    (LLAMA32_1B, "Q4_K_M"),
    (QWEN25_05B, "Q8_0"),
    (QWEN3_30B_A3B_S, "Q4_K_M"),
    (GEMMA2_2B, "Q4_0"),
    (PHI3_MINI_S, "Q5_K_M"),
    (GPT_OSS_20B_S, "MXFP4"),
    (DEEPSEEK_V3_S, "Q4_K_M"),
]


def _disk_bytes(p) -> int:
    return os.stat(p).st_blocks * 512


def test_llama_8b_q4_k_m_costs_a_few_mb(tmp_path):
    p = write_synthetic_gguf(LLAMA31_8B, "Q4_K_M", tmp_path / "llama.gguf")
    m = read_gguf(p)
    assert m.file_size > 4.5e9  # the logical size of the real file
    assert _disk_bytes(p) < 10 * 1024 * 1024
    assert m.file_type == "Q4_K_M"
    assert sum(tensor_bytes(t) for t in m.tensors) == weights_bytes(LLAMA31_8B, "Q4_K_M")


@pytest.mark.parametrize("arch,quant", CASES, ids=[a.arch for a, _ in CASES])
def test_reader_recovers_the_architecture(arch, quant, tmp_path):
    m = read_gguf(write_synthetic_gguf(arch, quant, tmp_path / "m.gguf"))
    same = m.arch.model_copy(update={"id": arch.id, "name": arch.name, "source": arch.source})
    assert same == arch
    assert m.tensors == tuple(apply_recipe(arch, tensors_for(arch), quant))


def test_smaller_vocabulary(tmp_path):
    m = read_gguf(write_synthetic_gguf(LLAMA32_1B, "Q8_0", tmp_path / "v.gguf", n_vocab_tokens=1000))
    assert m.arch.vocab_size == 1000 and m.metadata["tokenizer.ggml.tokens"].length == 1000


def test_unknown_quant(tmp_path):
    with pytest.raises(SizingError, match="Q4_K_M"):
        write_synthetic_gguf(LLAMA32_1B, "Q4_K_Q", tmp_path / "x.gguf")


@pytest.mark.live
@pytest.mark.parametrize("arch,quant", CASES, ids=[a.arch for a, _ in CASES])
def test_llama_cpp_loads_it_and_maps_our_weight_bytes(arch, quant, tmp_path):
    from sizing.live.probe import probe_memory

    p = write_synthetic_gguf(arch, quant, tmp_path / "m.gguf")
    mm = probe_memory(p, ctx=1024, n_batch=512, n_ubatch=512, timeout_s=300)
    # on CPU every tensor is mmapped (CPU_Mapped spans the whole data region, tensors are
    # 32-byte aligned in the file); repacked copies come on top in CPU_REPACK.
    mapped = mm.model_buffers["CPU_Mapped"]
    expected = weights_bytes(arch, quant)
    n = len(tensors_for(arch))
    assert expected - 6 * 1024 <= mapped <= expected + 32 * n + 6 * 1024


def _reduced(model_id: str) -> ModelArch:
    """A catalog model cut to two blocks and at most 8 experts (every width kept)."""
    from sizing.sources.catalog import load_catalog

    a = load_catalog().get(model_id)
    upd: dict = {"n_layers": min(a.n_layers, a.n_dense_leading_layers + 2)}
    if a.is_moe:
        upd["n_experts"] = max(a.n_experts_used, min(a.n_experts, 8))
    return a.model_copy(update=upd)


# shapes not covered above: Qwen-MoE shared expert with its gate, Phi-4-mini's partial
# rotary with LongRoPE factor tensors and tied embeddings
CATALOG_CASES = ["Qwen/Qwen1.5-MoE-A2.7B", "microsoft/Phi-4-mini-instruct"]


@pytest.mark.live
@pytest.mark.parametrize("model_id", CATALOG_CASES)
def test_catalog_layouts_load_in_llama_cpp(model_id, tmp_path):
    from sizing.live.probe import probe_memory

    arch = _reduced(model_id)
    p = write_synthetic_gguf(arch, "Q8_0", tmp_path / "m.gguf", n_vocab_tokens=2048)
    mm = probe_memory(p, ctx=512, n_batch=512, n_ubatch=512, timeout_s=300)
    small = arch.model_copy(update={"vocab_size": 2048})
    expected = weights_bytes(small, "Q8_0")
    assert abs(mm.model_buffers["CPU_Mapped"] - expected) <= 32 * len(tensors_for(small)) + 6 * 1024
