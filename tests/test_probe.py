"""The llama.cpp probe: its log parser on captured real logs, and live loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from sizing.errors import SizingError
from sizing.live.llamacpp_log import parse_llama_log
from sizing.live.probe import probe_many, probe_memory
from sizing.units import MIB

LOGS = Path(__file__).parent / "data" / "llama_logs"


def test_parser_skips_the_fit_pass_and_reads_every_buffer():
    # Captured from xllamacpp 2026.10 loading SmolLM2-135M Q4_1 with its fit step on:
    # the first (no_alloc) load logs 0.00 MiB buffers and must not count.
    mm = parse_llama_log((LOGS / "smollm2_fit_on.log").read_text())
    assert mm.model_buffers == {"CPU_Mapped": round(92.10 * MIB)}
    assert mm.kv_buffers == {"CPU": 90 * MIB}
    (cache,) = mm.kv_caches
    assert (cache.kind, cache.cells, cache.layers, cache.seqs) == ("kv", 4096, 30, 1)
    assert cache.k_bytes == cache.v_bytes == 45 * MIB and cache.k_type == "f16"
    # the destructor's four-decimal figure refines the two-decimal one
    assert mm.compute_buffers == {"CPU": round(18.6426 * MIB)}
    assert mm.output_buffers == {"CPU": round(0.19 * MIB)}
    assert (mm.n_ctx, mm.n_batch, mm.n_ubatch, mm.kv_unified) == (4096, 2048, 512, False)
    assert mm.breakdown["Host"] == {"self": 200, "model": 92, "context": 90, "compute": 18}
    assert mm.backends == ["CPU"] and mm.devices == ["CPU (AMD EPYC)"]
    assert mm.model_params == 134_520_000  # "model params = 134.52 M"
    assert mm.total_bytes == mm.weights_bytes + mm.kv_cache_bytes + mm.compute_bytes + mm.output_bytes


def test_parser_separates_swa_and_full_caches_and_repack():
    mm = parse_llama_log((LOGS / "gemma3_270m_q8kv_8192.log").read_text())
    assert set(mm.model_buffers) == {"CPU_Mapped", "CPU_REPACK"}
    assert mm.repack_bytes == round(12.66 * MIB)
    full, swa = mm.cache("non-swa"), mm.cache("swa")
    assert full is not None and swa is not None
    assert (full.cells, full.layers, swa.cells, swa.layers) == (8192, 3, 1024, 15)
    assert full.k_type == full.v_type == "q8_0"
    assert mm.kv_cache_bytes == full.bytes + swa.bytes
    assert mm.flash_attn == "enabled" and mm.n_ctx == 8192


def test_parser_rejects_a_log_without_a_model():
    with pytest.raises(SizingError, match="did not load"):
        parse_llama_log("llama_model_load: error loading model: tensor data is not within bounds\n")


@pytest.mark.live
def test_probe_smollm2_in_a_child(smollm2_gguf):
    # Two configs in one child; the context is padded by llama.cpp to a multiple of 256.
    a, b = probe_many(smollm2_gguf, [dict(ctx=1000), dict(ctx=2048, kv_type_k="q8_0", kv_type_v="q8_0")])
    assert a.n_ctx == 1024 and a.kv_caches[0].cells == 1024
    assert b.kv_caches[0].k_type == "q8_0" and b.kv_cache_bytes < 2 * a.kv_cache_bytes
    # the whole file is mapped: model buffer == tensor data size, within the 0.005 MiB print
    from gguf import GGUFReader

    data = sum(int(t.n_bytes) for t in GGUFReader(smollm2_gguf).tensors)
    assert abs(a.weights_bytes - data) <= 0.006 * MIB
    assert a.llama_build and a.llama_build.startswith("xllamacpp")


@pytest.mark.live
def test_probe_bad_inputs_fail_cleanly(tmp_path):
    with pytest.raises(SizingError, match="no such GGUF"):
        probe_memory(tmp_path / "missing.gguf", ctx=512)
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf at all" * 100)
    with pytest.raises(SizingError, match="junk.gguf: llama.cpp failed to load"):
        probe_memory(junk, ctx=512, timeout_s=60)
    with pytest.raises(SizingError, match="unknown K cache type"):
        probe_memory(junk, ctx=512, kv_type_k="q9_9")
