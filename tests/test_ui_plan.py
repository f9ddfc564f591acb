"""'Plan a purchase' through real Streamlit (AppTest): the page shows the core's ranking of
whole builds, each build's dated price lines and launch commands, buy-or-rent with the
break-even, and every input (objective, used, overrides, region, the build picked) lives
in the URL."""

from __future__ import annotations

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from sizing.core.builds import all_builds
from sizing.core.cloud import electricity
from sizing.core.prices import PriceOverrides
from sizing.core.purchase import Usage, memory_need, plan
from sizing.core.speed.calibration import load_calibration
from sizing.core.speed.coverage import bench_coverage
from sizing.hardware.db import load_gpus
from sizing.sources.catalog import load_catalog
from sizing.ui import fmt

PAGE = "from sizing.ui.pages.plan import render\nrender()"
MODEL = "Qwen/Qwen3-8B"


@pytest.fixture(scope="module")
def default_run() -> AppTest:
    at = AppTest.from_string(PAGE, default_timeout=300)
    at.query_params.update({"models": MODEL})
    return at.run()


def test_ranked_table_is_the_cores_ranking(default_run):
    at = default_run
    assert not at.exception, at.exception
    arch = load_catalog().get(MODEL)
    builds, _ = all_builds(
        load_gpus().all,
        used=False,
        overrides=PriceOverrides(),
        today=dt.date.today(),
        ram_need_gb=memory_need([arch], "Q4_K_M", 8192, load_calibration()).cpu_ram_gib,
    )
    core = plan(
        [arch],
        builds,
        quant="Q4_K_M",
        ctx=8192,
        calib=load_calibration(),
        coverage=bench_coverage(),
        today=dt.date.today(),
        objective="cheapest",
        target_tps=20,
        budget_usd=5000,
        usage=Usage(usd_per_kwh=electricity().usd_per_kwh("EU")),
        limit=50,
    )
    table = at.dataframe[0].value
    assert list(table["build id"][:5]) == [o.build_id for o in core.options[:5]]
    # both speeds the core gives a row: at an empty cache, and as the chosen context fills
    assert list(table["tokens/s at ctx"][:5]) == [fmt.num(o.decode_at_ctx_tokens_per_s) for o in core.options[:5]]
    assert list(table["tokens/s"][:5]) == [fmt.num(o.decode_tokens_per_s) for o in core.options[:5]]
    assert at.success and core.message in at.success[0].value
    assert all(w for w in table["why"])


def test_build_details_buy_or_rent_and_the_pick_in_the_link(default_run):
    at = default_run
    pick = at.query_params["pick"]
    assert pick == at.dataframe[0].value["build id"][0]
    lines = at.dataframe[1].value
    assert set(lines["kind"]) <= {"msrp", "street", "used"} and all(s.startswith("https://") for s in lines["source"])
    assert any("llama-server" in c.value for c in at.code)
    labels = {m.label for m in at.metric}
    assert {"Local, per month", "Cloud, per month", "Break-even"} <= labels
    rent = at.dataframe[2].value
    assert any("gpu-" in k for k in rent["kind"]) and any("reference only" in r for r in rent["rent"])
    assert [b.label for b in at.get("download_button")] == ["Plan as JSON", "Plan as Markdown"]


def test_inputs_round_trip_through_the_url():
    at = AppTest.from_string(PAGE, default_timeout=300)
    at.query_params.update(
        {
            "models": MODEL,
            "objective": "cost-per-token",
            "used": "1",
            "region": "DE",
            "hours": "4",
            "prices": "nvidia-rtx-3060-12gb=150",
            "tout": "1",
        }
    )
    at.run()
    assert not at.exception and not [w for w in at.warning if "URL" in w.value]
    assert at.selectbox(key="plan.objective").value == "cost-per-token"
    assert at.toggle(key="plan.used").value is True
    assert at.query_params["region"] == "DE" and at.query_params["prices"] == "nvidia-rtx-3060-12gb=150"
    table = at.dataframe[0].value
    costs = [float(x.strip("$")) for x in table["$ / M tokens"]]
    assert costs == sorted(costs)
    # picking another build keeps it in the link
    other = table["build id"][1]
    at.selectbox(key="plan.pick").set_value(other).run()
    assert at.query_params["pick"] == other


def test_bad_price_override_is_one_message_and_not_applied():
    at = AppTest.from_string(PAGE, default_timeout=300)
    at.query_params.update({"models": MODEL, "prices": "nvidia-rtx-3090=-5"})
    at.run()
    assert not at.exception
    assert any("`prices`" in w.value and "positive" in w.value for w in at.warning)
    assert "prices" not in at.query_params
    at.text_input(key="plan.prices_text").set_value("nvidia-rtx-3090=abc").run()
    assert any("not applied" in e.value for e in at.error)
    assert "prices" not in at.query_params


def test_impossible_target_says_so_and_lists_the_closest():
    at = AppTest.from_string(PAGE, default_timeout=300)
    at.query_params.update({"models": "meta-llama/Llama-3.1-70B-Instruct", "tps": "500", "budget": "300"})
    at.run()
    assert not at.exception
    assert any("no configuration meets" in w.value for w in at.warning)
    assert at.dataframe  # the closest builds


def test_tampered_plan_link_warns():
    at = AppTest.from_string(PAGE, default_timeout=300)
    at.query_params.update({"budget": "-1", "models": "evil/<b>model</b>", "region": "Mars"})
    at.run()
    assert not at.exception
    texts = " ".join(w.value for w in at.warning)
    assert "`budget`" in texts and "`models`" in texts and "`region`" in texts


def test_weak_prices_and_borrowed_calibration_are_labelled_in_the_table():
    """A row priced on a weak used figure says so in its price; a row whose speed comes from
    a calibration entry that rests on too few rows says how many and how many are the card's
    own (an H200 on the Hopper entry, whose three rows ran on one H100 PCIe: none)."""
    at = AppTest.from_string(PAGE, default_timeout=300)
    at.query_params.update({"models": MODEL, "used": "1", "objective": "cheapest", "tps": "20"})
    at.run()
    assert not at.exception
    table = at.dataframe[0].value
    ids, prices = list(table["build id"]), list(table["price"])
    p100 = [p for b, p in zip(ids, prices) if "tesla-p100" in b]
    assert p100 and all(p.endswith("(weak basis)") for p in p100)
    r3060 = [p for b, p in zip(ids, prices) if "rtx-3060-12gb" in b]
    assert r3060 and not any(p.endswith("(weak basis)") for p in r3060)
    # which price each row used: kind and date, "weak", and a newer weak figure passed over
    basis = dict(zip(ids, table["priced at"]))
    assert all(basis[b].endswith("used 2026-07 weak") for b in ids if "tesla-p100" in b)
    at = AppTest.from_string(PAGE, default_timeout=300)
    at.query_params.update({"models": MODEL, "used": "1", "objective": "cheapest", "tps": "110"})
    at.run()
    assert not at.exception
    table = at.dataframe[0].value
    basis = dict(zip(table["build id"], table["priced at"]))
    r3090 = [b for b in basis if b.endswith("+1xnvidia-rtx-3090")]
    assert r3090 and all("$750 used 2026-05-16 (over a newer weak $1,207)" in basis[b] for b in r3090)
    at = AppTest.from_string(PAGE, default_timeout=300)
    at.query_params.update({"models": MODEL, "used": "1", "objective": "fastest", "budget": "40000", "tps": "0"})
    at.run()
    assert not at.exception
    table = at.dataframe[0].value
    hopper = [i for i, b in enumerate(table["build id"]) if "h200" in b]
    assert hopper
    for i in hopper:
        assert table["calibration"][i].startswith("cuda/hopper: 3 decode rows, 0 on this device")
        assert table["calibration"][i].endswith("· weak")
