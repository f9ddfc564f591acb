"""The memory estimate against llama.cpp's own buffer log, for 10 architectures.

Each case loads one GGUF (a real one from PyPI, or a synthetic one with the real
architecture's header over a sparse hole) in xllamacpp at 3 contexts × 2 KV cache types
(f16 and q8_0, flash attention on), all in one child process, and holds every part of
the estimate to the tolerance the estimator claims (harness.truth_cases). Synthetic
cases cut layer counts; each case's note says how.
"""

from __future__ import annotations

import pytest

from harness.truth_cases import CASES, compare, run_case


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("truth")


def _table(rows) -> str:
    return "\n".join(
        f"  ctx {cfg['ctx']:>6} kv {cfg['kv_type_k']:<5} {c.part:<9} est {c.estimate:>13,} "
        f"llama.cpp {c.measured:>13,} err {c.error:+.3%} {'ok' if c.ok else 'FAIL'}"
        for cfg, checks in rows
        for c in checks
    )


@pytest.mark.live
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_estimate_matches_llama_cpp(case, workdir):
    rows = []
    for cfg, _scenario, est, meas in run_case(case, workdir):
        # llama.cpp agrees with us on the context it built and the caches it made
        assert meas.n_ctx == est.context.n_ctx
        assert [c.cells for c in meas.kv_caches] == [p.cells for p in est.kv.parts if p.kind != "recurrent"]
        # and on the parameter count, which llama.cpp prints as "%.2f" K/M/B/T
        unit = max(u for u in (1e3, 1e6, 1e9, 1e12) if u <= meas.model_params)
        assert abs(est.params - meas.model_params) <= 0.005 * unit
        rows.append((cfg, compare(est, meas, compute_tolerance=case.compute_tolerance)))
    bad = [c for _, checks in rows for c in checks if not c.ok]
    assert not bad, f"{case.name} ({case.note}):\n{_table(rows)}"


@pytest.mark.live
def test_cpu_overhead_matches_the_measured_heap(smollm2_gguf):
    from sizing.estimate import estimate
    from sizing.live.probe import probe_host_heap

    heap = probe_host_heap(smollm2_gguf)
    est = estimate(str(smollm2_gguf), ctx=512).overhead_bytes
    assert abs(est - heap) <= max(0.5 * heap, 8 * 2**20), (est, heap)


SETTINGS = [
    dict(ctx=4096, n_parallel=4, kv_unified=True),
    dict(ctx=5000, n_parallel=3, kv_unified=False),
    dict(ctx=4096, n_ubatch=128),
    dict(ctx=3000, n_batch=256, n_ubatch=256, kv_type_k="q8_0", kv_type_v="q4_0"),
    dict(ctx=8192, flash_attn=False),
]


@pytest.mark.live
def test_run_settings_match_llama_cpp(gemma3_gguf):
    """Parallel sequences (unified or not), micro-batches, mixed cache types, no flash
    attention: on the real Gemma-3 file, whose sliding-window cache depends on all of them."""
    from sizing.estimate import build_scenario
    from sizing.live.probe import probe_many
    from sizing.core.memory.estimate import estimate_memory
    from sizing.sources.resolve import resolve_model

    rm = resolve_model(str(gemma3_gguf))
    rows = []
    for cfg, meas in zip(SETTINGS, probe_many(gemma3_gguf, SETTINGS)):
        sc, _, _ = build_scenario(
            rm,
            None,
            cfg["ctx"],
            kv_type_k=cfg.get("kv_type_k", "f16"),
            kv_type_v=cfg.get("kv_type_v", "f16"),
            batch=cfg.get("n_batch", 2048),
            ubatch=cfg.get("n_ubatch", 512),
            parallel=cfg.get("n_parallel", 1),
            kv_unified=cfg.get("kv_unified", True),
            flash_attn=cfg.get("flash_attn", True),
        )
        est = estimate_memory(sc)
        assert (meas.n_ctx, meas.n_ctx_seq) == (est.context.n_ctx, est.context.n_ctx_seq), cfg
        assert [c.cells for c in meas.kv_caches] == [p.cells for p in est.kv.parts], cfg
        assert all(c.seqs == sc.n_parallel for c in meas.kv_caches), cfg
        checks = compare(est, meas, flash_attn=sc.flash_attn)
        rows.append((dict(cfg, kv_type_k=sc.kv_type_k), checks))
    bad = [c for _, checks in rows for c in checks if not c.ok]
    assert not bad, _table(rows)
