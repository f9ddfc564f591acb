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


def test_filled_weights_are_finite_nonzero_and_keep_the_layout(tmp_path):
    """A speed run's synthetic file has its weights written: every tensor dequantizes to
    finite values that are not all zero, and the header (so every size llama.cpp reads) is
    the sparse file's, byte for byte."""
    import numpy as np
    from gguf import GGUFReader
    from gguf.quants import dequantize

    from sizing.live.synthetic import fill_weights

    small = LLAMA32_1B.model_copy(update={"n_layers": 1, "vocab_size": 512})
    sparse = write_synthetic_gguf(small, "Q4_K_M", tmp_path / "sparse.gguf")
    filled = fill_weights(write_synthetic_gguf(small, "Q4_K_M", tmp_path / "filled.gguf"))
    assert sparse.stat().st_size == filled.stat().st_size
    start = GGUFReader(sparse).data_offset
    assert sparse.read_bytes()[:start] == filled.read_bytes()[:start]
    assert filled.stat().st_blocks * 512 >= filled.stat().st_size - start  # written, not a hole
    r = GGUFReader(filled)
    assert len(r.tensors) == len(tensors_for(small))
    types = set()
    for t in r.tensors:
        values = dequantize(t.data, t.tensor_type)
        types.add(t.tensor_type.name)
        assert np.isfinite(values).all(), t.name
        assert np.count_nonzero(values) > values.size // 2, t.name
    assert {"Q4_K", "Q6_K", "F32"} <= types  # the recipe's mix: block scales and plain floats alike


@pytest.mark.live
def test_a_filled_synthetic_model_runs_in_llama_cpp(tmp_path):
    """llama.cpp loads a filled file and decodes every token asked for: no NaN or infinity
    in the weights stops it (random bytes would put NaN scales in one block in 32)."""
    from sizing.live.embedded import EmbeddedRunner
    from sizing.live.runner import Check
    from sizing.live.synthetic import fill_weights

    small = LLAMA32_1B.model_copy(update={"n_layers": 2, "vocab_size": 512})
    path = fill_weights(write_synthetic_gguf(small, "Q4_K_M", tmp_path / "m.gguf"))
    m = EmbeddedRunner().run(Check(model_path=str(path), ctx=512, n_prompt=16, n_gen=16, timeout_s=300))
    assert m.ok, m.message
    assert m.n_gen == 16 and m.decode_tokens_per_s and m.decode_tokens_per_s > 0


@pytest.mark.live
def test_only_a_calibration_run_writes_its_synthetic_weights(tmp_path, monkeypatch):
    """A synthetic live check measures memory, and its header over a hole costs a few MB; a
    calibration run's speed is fitted, so its weights are written (a sparse hole's zeros
    decode faster than real weights on a CPU)."""
    from sizing.live.check import run_check

    monkeypatch.setenv("LLM_SIZING_HOME", str(tmp_path / "home"))
    disk = {}
    for purpose in ("check", "calibration"):
        r = run_check(
            "HuggingFaceTB/SmolLM2-135M-Instruct",
            quant="Q4_0",
            ctx=512,
            n_prompt=16,
            n_gen=8,
            synthetic=True,
            purpose=purpose,
            timeout_s=300,
        )
        assert r.status == "ok", r.measured.message if r.measured else r.refused
        disk[purpose] = r.synthetic_disk_bytes
    weights = 70 * 1024 * 1024  # SmolLM2-135M at Q4_0: about 80 MB of tensor data
    assert disk["check"] < 10 * 1024 * 1024 < weights < disk["calibration"]
