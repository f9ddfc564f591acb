"""One rerun of "Can I run it?" computes each thing once, and an input change recomputes only
what reads that input (real page in AppTest, the real core; calls are counted, not faked)."""

from __future__ import annotations

from collections import Counter

import pytest
from streamlit.testing.v1 import AppTest

import sizing.core.memory.estimate as memory_estimate
from sizing.core import solver
from sizing.ui import services

PAGE = "from sizing.ui.pages.run import render\nrender()"


@pytest.fixture()
def counted(monkeypatch):
    """Count the memory estimates, the fit maps and the largest-context searches the page asks for."""
    for cached in (
        services._estimate,
        services._answer,
        services._fit_grid,
        services._largest_context,
        services._best_quant,
    ):
        cached.clear()
    calls: Counter[str] = Counter()

    def counting(name, real):
        def wrapper(*a, **k):
            calls[name] += 1
            return real(*a, **k)

        return wrapper

    monkeypatch.setattr(services, "core_estimate", counting("estimate", services.core_estimate))
    monkeypatch.setattr(memory_estimate, "repack_explanation", counting("fit map", memory_estimate.repack_explanation))
    monkeypatch.setattr(solver, "largest_context", counting("largest context", solver.largest_context))
    monkeypatch.setattr(solver, "best_quant", counting("best quant", solver.best_quant))
    return calls


def _shown(at) -> dict:
    return {m.label: m.value for m in at.metric}


def test_a_rerun_estimates_once_and_a_change_recomputes_only_what_reads_it(counted):
    at = AppTest.from_string(PAGE, default_timeout=120)
    at.query_params.update(
        {"model": "Qwen/Qwen3-8B", "quant": "Q4_K_M", "ctx": "8192", "hw": "db", "gpu": "nvidia-rtx-3090"}
    )
    at.run()
    assert not at.exception and any("Verdict" in m.value for m in at.markdown)
    # the Answer, the limits and the fit map share one memory estimate (it was three)
    assert counted == {"estimate": 1, "fit map": 1, "largest context": 1, "best quant": 1}
    first = _shown(at)

    at.number_input(key="run.ctx").set_value(16384).run()
    assert not at.exception
    # a new context: a new estimate and best quant; the fit map and the largest context at
    # this quant do not read the context, so they are reused
    assert counted == {"estimate": 2, "fit map": 1, "largest context": 1, "best quant": 2}

    at.selectbox(key="run.quant").set_value("Q8_0").run()
    assert counted == {"estimate": 3, "fit map": 1, "largest context": 2, "best quant": 2}

    at.selectbox(key="run.quant").set_value("Q4_K_M").run()
    at.number_input(key="run.ctx").set_value(8192).run()
    assert not at.exception
    # back to the first inputs: everything from the caches, the same numbers on the page
    assert counted == {"estimate": 3, "fit map": 1, "largest context": 2, "best quant": 2}
    assert _shown(at) == first


def test_a_rerun_with_nothing_changed_computes_nothing(counted):
    at = AppTest.from_string(PAGE, default_timeout=120)
    at.query_params.update({"hw": "custom", "mem": "48"})
    at.run()
    before = dict(counted)
    at.run()
    assert not at.exception and dict(counted) == before and before["estimate"] == 1
