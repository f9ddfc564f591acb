"""The memory estimator without running llama.cpp: captured llama.cpp logs, facts, speed.

Numbers asserted here come from llama.cpp (its logs captured in tests/data/llama_logs, or
rules of its code seen in measurements), never from a copy of our formulas.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sizing.errors import SizingError
from sizing.estimate import build_scenario, estimate
from sizing.live.llamacpp_log import parse_llama_log
from harness.truth_cases import compare
from sizing.core.memory.estimate import MemoryEstimate, estimate_memory
from sizing.sources.catalog import load_catalog

LOGS = Path(__file__).parent / "data" / "llama_logs"


def _checks(est, log_name):
    meas = parse_llama_log((LOGS / log_name).read_text())
    return meas, compare(est.memory, meas)


def test_smollm2_matches_captured_llama_log(smollm2_gguf):
    # the log: SmolLM2-135M Q4_1, ctx 4096, f16 cache, flash attention auto (on for CPU)
    est = estimate(str(smollm2_gguf), ctx=4096)
    meas, checks = _checks(est, "smollm2_fit_on.log")
    assert all(c.ok for c in checks), checks
    assert est.params == 134_515_008  # llama.cpp: "model params = 134.52 M"
    assert est.memory.context.n_ctx == meas.n_ctx


def test_gemma3_sliding_window_matches_captured_llama_log(gemma3_gguf):
    est = estimate(str(gemma3_gguf), ctx=8192, kv_type="q8_0")
    meas, checks = _checks(est, "gemma3_270m_q8kv_8192.log")
    assert all(c.ok for c in checks), checks
    # the two caches llama.cpp made: full-attention layers at 8192 cells, windowed at 1024
    assert [(p.kind, p.cells, p.layers) for p in est.memory.kv.parts] == [
        (c.kind, c.cells, c.layers) for c in meas.kv_caches
    ]
    repack = est.memory.item("model (CPU_REPACK)")
    assert repack is not None and abs(repack.bytes - meas.repack_bytes) < 0.006 * 2**20


def test_context_padding_and_streams_seen_in_llama_cpp():
    # xllamacpp 2026.10: ctx 1000 -> 1024 cells; 3 non-unified sequences of ctx 5000 ->
    # 3 streams of 1792 cells (n_ctx 5376); see sizing/core/memory/kv_cache.py
    a = load_catalog().get("HuggingFaceTB/SmolLM2-135M-Instruct")
    e = estimate(a, "Q8_0", 1000)
    assert e.n_ctx == 1024
    e = estimate(a, "Q8_0", 5000, parallel=3, kv_unified=False)
    (part,) = e.memory.kv.parts
    assert (e.n_ctx, part.cells, part.streams) == (5376, 1792, 3)


def test_q8_0_cache_is_34_bytes_per_32_elements():
    a = load_catalog().get("meta-llama/Llama-3.1-8B-Instruct")
    f16 = estimate(a, "Q4_K_M", 8192, kv_type="f16").kv_cache_bytes
    q8 = estimate(a, "Q4_K_M", 8192, kv_type="q8_0").kv_cache_bytes
    assert q8 * 64 == f16 * 34
    # 32 layers x 8192 cells x (8 heads x 128) x 2 bytes, K and V: the published 1 GiB
    assert f16 == 2**30


def test_mla_keeps_the_whole_cache_in_k():
    e = estimate("deepseek-ai/DeepSeek-V3", "Q4_K_M", 4096)
    assert e.memory.kv.v_bytes == 0 and e.memory.kv.k_bytes > 0


def test_moe_active_params_and_swa_cap():
    q = estimate("Qwen/Qwen3-30B-A3B", "Q4_K_M", 4096)
    assert 30e9 < q.params < 31e9 and 3.0e9 < q.active_params < 3.5e9  # "30B-A3B"
    g = estimate("google/gemma-3-27b-it", "Q4_K_M", 131072)
    swa = g.memory.kv.part("swa")
    assert swa is not None and swa.cells < 2048  # window 1024 + ubatch 512, padded


def test_gpu_backend_keeps_token_embeddings_on_host_and_adds_a_context():
    cpu = estimate("meta-llama/Llama-3.1-8B-Instruct", "Q4_K_M", 8192)
    cuda = estimate("meta-llama/Llama-3.1-8B-Instruct", "Q4_K_M", 8192, backend="cuda")
    assert cuda.memory_by_device["host"].weights_bytes > 0
    assert cuda.memory_by_device["gpu"].kv_cache_bytes == cpu.kv_cache_bytes
    assert cpu.memory.item("model (CPU_REPACK)") is not None
    assert all("REPACK" not in i.name for i in cuda.items)
    assert cuda.overhead_bytes > cpu.overhead_bytes
    assert any("457 MiB" in b.method for b in cuda.basis)


def test_every_estimate_carries_parts_items_and_basis():
    e = estimate("google/gemma-3-4b-it", "Q5_K_M", 16384)
    j = e.to_json()
    for key in (
        "model",
        "quant",
        "ctx",
        "params",
        "active_params",
        "weights_bytes",
        "kv_cache_bytes",
        "compute_bytes",
        "overhead_bytes",
        "total_bytes",
    ):
        assert key in j
    assert j["total_bytes"] == sum(j[k] for k in ("weights_bytes", "kv_cache_bytes", "compute_bytes", "overhead_bytes"))
    assert sum(i["bytes"] for i in j["items"]) == j["total_bytes"]
    assert len(j["basis"]) >= 4 and all(b["source"] and b["method"] for b in j["basis"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(ctx=0), "must be positive"),
        (dict(ctx=10**9), "absurdly large"),
        (dict(kv_type="q3_k"), "unknown KV cache type"),
        (dict(batch=-1), "--batch must be positive"),
        (dict(kv_type="q8_0", flash_attn=False), "needs flash attention"),
        (dict(quant="Q9_X"), "unknown quant"),
        (dict(backend="tpu"), "unknown backend"),
    ],
)
def test_bad_settings_fail_with_one_clear_message(kwargs, message):
    args = dict(quant="Q4_K_M", ctx=4096) | kwargs
    with pytest.raises(SizingError, match=message):
        estimate("meta-llama/Llama-3.1-8B-Instruct", **args)


def test_fast_results_round_trip_through_validation():
    for mid in ("meta-llama/Llama-3.1-8B-Instruct", "openai/gpt-oss-120b", "deepseek-ai/DeepSeek-V3"):
        sc, _, _ = build_scenario(mid, "Q4_K_M", 8192)
        e = estimate_memory(sc)
        assert MemoryEstimate.model_validate(e.model_dump()) == e
