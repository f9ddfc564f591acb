"""The memory estimate against llama.cpp's own buffer log, for 10 architectures.

Each case loads one GGUF (a real one from PyPI, or a synthetic one with the real
architecture's header over a sparse hole) in xllamacpp at 3 contexts × 2 KV cache types
(f16 and q8_0, flash attention on), all in one child process, and holds every part of
the estimate to the tolerance the estimator claims (sizing.live.truth_cases). Synthetic
cases cut layer counts; each case's note says how.
"""

from __future__ import annotations

import pytest

from sizing.live.truth_cases import CASES, compare, run_case


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("truth")


def _table(rows) -> str:
    return "\n".join(
        f"  ctx {cfg['ctx']:>6} kv {cfg['kv_type_k']:<5} {c.part:<9} est {c.estimate:>13,} "
        f"llama.cpp {c.measured:>13,} err {c.error:+.3%} {'ok' if c.ok else 'FAIL'}"
        for cfg, checks in rows for c in checks
    )


@pytest.mark.live
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_estimate_matches_llama_cpp(case, workdir):
    rows = []
    for cfg, scenario, est, meas in run_case(case, workdir):
        # llama.cpp agrees with us on the context it built and the caches it made
        assert meas.n_ctx == est.context.n_ctx
        assert [c.cells for c in meas.kv_caches] == [p.cells for p in est.kv.parts if p.kind != "recurrent"]
        # and on the parameter count, which llama.cpp prints as "%.2f" K/M/B/T
        unit = max(u for u in (1e3, 1e6, 1e9, 1e12) if u <= meas.model_params)
        assert abs(est.params - meas.model_params) <= 0.005 * unit
        rows.append((cfg, compare(est, meas)))
    bad = [c for _, checks in rows for c in checks if not c.ok]
    assert not bad, f"{case.name} ({case.note}):\n{_table(rows)}"


@pytest.mark.live
def test_cpu_overhead_matches_the_measured_heap(smollm2_gguf):
    from sizing.estimate import estimate
    from sizing.live.probe import probe_host_heap

    heap = probe_host_heap(smollm2_gguf)
    est = estimate(str(smollm2_gguf), ctx=512).overhead_bytes
    assert abs(est - heap) <= max(0.5 * heap, 4 * 2**20), (est, heap)
