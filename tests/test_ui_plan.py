"""'Plan a purchase' through real Streamlit (AppTest): the page shows what the core's
planner ranks, draws the price × speed scatter and the cost comparison, and its inputs
live in the URL."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from sizing.core.speed.calibration import load_calibration
from sizing.hardware.db import load_gpus
from sizing.sources.catalog import load_catalog
from sizing.core.planner import plan_purchase
from sizing.ui import fmt

PAGE = "from sizing.ui.pages.plan import render\nrender()"


@pytest.fixture(scope="module")
def default_run() -> AppTest:
    return AppTest.from_string(PAGE, default_timeout=120).run()


def test_ranked_table_is_the_planners_ranking(default_run):
    at = default_run
    assert not at.exception
    core = plan_purchase([load_catalog().get("Qwen/Qwen3-8B")], quant="Q4_K_M", ctx=8192,
                         calib=load_calibration(), gpus=load_gpus().all, target_tps=20, budget_usd=5000, limit=200)
    table = at.dataframe[0].value
    assert list(table["hardware"][:5]) == [o.label for o in core.options[:5]]
    assert table["tokens/s"][0] == fmt.num(core.options[0].decode_tokens_per_s)
    assert at.success and core.message in at.success[0].value


def test_scatter_with_pareto_front_and_cost_comparison(default_run):
    at = default_run
    charts = at.get("plotly_chart")
    assert len(charts) >= 2  # price × speed, monthly costs
    labels = {m.label for m in at.metric}
    assert {"Local, per month", "Cloud, per month", "Break-even"} <= labels
    assert [b.label for b in at.get("download_button")] == ["Plan as JSON", "Plan as Markdown"]


def test_inputs_round_trip_through_the_url():
    at = AppTest.from_string(PAGE, default_timeout=120)
    at.query_params.update({"models": "Qwen/Qwen3-8B,google/gemma-3-4b-it", "ctx": "16384", "tps": "40",
                            "budget": "3000", "watts": "450"})
    at.run()
    assert not at.exception and not at.warning
    assert at.multiselect(key="plan.models").value == ["Qwen/Qwen3-8B", "google/gemma-3-4b-it"]
    assert at.query_params["ctx"] == "16384" and at.query_params["watts"] == "450"
    at.number_input(key="plan.budget").set_value(1500.0).run()
    assert at.query_params["budget"] == "1500"


def test_impossible_target_says_so_and_lists_the_closest():
    at = AppTest.from_string(PAGE, default_timeout=120)
    at.query_params.update({"models": "meta-llama/Llama-3.1-70B-Instruct", "tps": "500", "budget": "300"})
    at.run()
    assert not at.exception
    assert at.warning and "no configuration meets" in at.warning[0].value
    assert at.dataframe  # the closest options


def test_tampered_plan_link_warns():
    at = AppTest.from_string(PAGE, default_timeout=120)
    at.query_params.update({"budget": "-1", "models": "evil/<b>model</b>"})
    at.run()
    assert not at.exception
    texts = " ".join(w.value for w in at.warning)
    assert "`budget`" in texts and "`models`" in texts
