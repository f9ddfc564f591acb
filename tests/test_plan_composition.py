"""One purchase composition (``sizing.plan.plan_purchase``): the CLI's ``plan --json``, the
UI's plan service and the bench read the same ``PlanAnswer``, so the same inputs give the
same builds, prices, speeds and break-even everywhere."""

from __future__ import annotations

import json

import pytest

from sizing.cli import main
from sizing.core.cloud import Workload
from sizing.errors import SizingError
from sizing.plan import PlanAnswer, PlanRequest, plan_purchase

MODEL = "Qwen/Qwen3-8B"
UI_VALUES = {
    "models": [MODEL],
    "quant": "Q4_K_M",
    "ctx": 8192,
    "objective": "cost-per-token",
    "tps": 25.0,
    "budget": 4000.0,
    "used": True,
    "prices": ["nvidia-rtx-3090=640"],
    "region": "DE",
    "kwh": 0.0,
    "hours": 6.0,
    "years": 4.0,
}
CLI_ARGS = (
    "plan",
    "--model",
    MODEL,
    "--objective",
    "cost-per-token",
    "--target-tps",
    "25",
    "--budget",
    "4000",
    "--used",
    "--price",
    "nvidia-rtx-3090=640",
    "--region",
    "DE",
    "--hours-per-day",
    "6",
    "--years",
    "4",
    "--limit",
    "50",
    "--json",
)


@pytest.fixture(scope="module")
def cli_json() -> dict:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(list(CLI_ARGS)) == 0
    return json.loads(buf.getvalue())


def test_cli_json_and_the_ui_service_are_the_same_answer(cli_json):
    from sizing.ui import services

    ui = services.purchase(UI_VALUES)
    assert ui == cli_json
    PlanAnswer.model_validate(cli_json)  # the CLI prints the composition's type, nothing re-shaped
    assert cli_json["met"] and cli_json["region"] == "DE" and cli_json["options"]
    top = cli_json["options"][0]
    assert top["usd_per_m_tokens"] == min(o["usd_per_m_tokens"] for o in cli_json["options"])
    override = [ln for o in cli_json["options"] for ln in o["lines"] if ln["id"] == "nvidia-rtx-3090"]
    assert override and all(ln["unit_usd"] == 640 for ln in override)


def test_buy_or_rent_is_the_same_through_the_cli_and_the_ui(cli_json):
    from sizing.ui import services

    row = cli_json["options"][1]
    buf_args = [
        *CLI_ARGS,
        "--tokens-in-per-day",
        "2000000",
        "--tokens-out-per-day",
        "500000",
        "--build",
        row["build_id"],
    ]
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(buf_args) == 0
    cli_cost = json.loads(buf.getvalue())["cost"]
    ui_cost = services.buy_or_rent(UI_VALUES, row, {"tin": 2.0, "tout": 0.5})
    assert ui_cost == cli_cost and cli_cost["build_id"] == row["build_id"]


def test_bench_reads_the_same_composition():
    """bench/purchase.py ranks through plan_purchase (no setup of its own to drift)."""
    from pathlib import Path

    src = (Path(__file__).resolve().parent.parent / "bench" / "purchase.py").read_text()
    assert "plan_purchase(" in src and "all_builds(" not in src and "memory_need(" not in src


@pytest.mark.parametrize(
    "kw, needle",
    [
        ({"budget_usd": 0}, "budget"),
        ({"target_tps": -1}, "target"),
        ({"region": "Atlantis"}, "unknown region"),
        ({"prices": ("nvidia-rtx-3090=free",)}, "positive"),
        ({"objective": "prettiest"}, "objective"),
        ({"hours_per_day": 30}, "hours"),
    ],
)
def test_bad_requests_are_one_clear_message(kw, needle):
    with pytest.raises(SizingError, match=needle):
        plan_purchase(PlanRequest(models=(MODEL,), **kw))


def test_a_workload_without_a_build_costs_the_top_row():
    ans = plan_purchase(
        PlanRequest(models=(MODEL,), target_tps=20, budget_usd=3000),
        workload=Workload(tokens_in_per_day=1e6, tokens_out_per_day=2e5),
    )
    assert ans.cost is not None and ans.cost.build_id == ans.rows[0].build_id
    assert json.loads(ans.to_json())["cost"]["local"]["price_usd"] == ans.rows[0].price_usd


def test_a_plan_that_reuses_earlier_placements_is_the_plan_made_afresh():
    """Plans that differ only in objective, target, budget or usage share their solved
    placements (and a GPU build list): each must equal the plan made with nothing reused,
    and a change of models, quant or context must not reuse them."""
    import datetime as dt

    from sizing.core.builds import _gpu_builds
    from sizing.plan import _solved

    day = dt.date(2026, 12, 1)
    asks = [
        PlanRequest(models=(MODEL,), limit=20),
        PlanRequest(models=(MODEL,), objective="fastest", target_tps=40, limit=20),
        PlanRequest(models=(MODEL,), objective="cost-per-token", budget_usd=3000, hours_per_day=20, limit=20),
        PlanRequest(models=(MODEL,), ctx=32768, limit=20),
        PlanRequest(models=(MODEL,), quant="Q8_0", objective="fastest", limit=20),
    ]
    _solved.cache_clear()
    reused = [plan_purchase(a, today=day) for a in asks]
    assert _solved.cache_info().hits >= 2  # the second and third asks reused the first's placements
    assert len({r.model_dump_json() for r in reused}) == len(asks)
    for ask, got in zip(asks, reused):
        _solved.cache_clear()
        _gpu_builds.cache_clear()
        assert got == plan_purchase(ask, today=day)
