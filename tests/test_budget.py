"""The per-rerun CPU budget: a page that computes too long stops with one message.

The real Plan page is asked for many large models under a tiny budget
(``LLM_SIZING_RERUN_CPU_S``): the rerun must end (AppTest would time out otherwise)
with the budget's message instead of results, and no exception. The same page with one
model and the default budget answers, so the message comes from the budget alone.
"""

from __future__ import annotations

import threading

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from sizing.sources.catalog import load_catalog

PAGE = "from sizing.ui.navigation import within_budget\nfrom sizing.ui.pages.plan import render\nwithin_budget(render)"


def _largest(n: int) -> list[str]:
    models = sorted(load_catalog().models, key=lambda m: m.n_layers * m.hidden_size, reverse=True)
    return [m.id for m in models[:n]]


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _texts(at: AppTest) -> str:
    return " ".join(str(e.value) for kind in ("error", "warning", "success") for e in at.get(kind))


@pytest.mark.timeout(120)
def test_many_large_models_stop_at_the_budget(monkeypatch):
    # Earlier tests in this process may have cached these very results (st.cache_data is
    # process-wide): cleared, the page must compute again. A warm process on this kind of
    # machine still needs about 0.6 s of CPU for 16 large models; the budget is a sixth.
    st.cache_data.clear()
    st.cache_resource.clear()
    monkeypatch.setenv("LLM_SIZING_RERUN_CPU_S", "0.1")
    at = AppTest.from_string(PAGE, default_timeout=60)
    at.query_params["models"] = _largest(32)  # repeated parameters, as the page writes lists
    at.run()
    assert not at.exception
    assert "was stopped" in _texts(at)
    assert not [t for t in threading.enumerate() if t.name == "llm-sizing-cpu-budget"]  # the watchdog ended too


@pytest.mark.timeout(120)
def test_one_model_answers_within_the_default_budget(monkeypatch):
    monkeypatch.delenv("LLM_SIZING_RERUN_CPU_S", raising=False)
    at = AppTest.from_string(PAGE, default_timeout=60)
    at.run()
    assert not at.exception
    assert "was stopped" not in _texts(at)
    assert at.dataframe or at.get("plotly_chart")
