"""The host a plan puts cards on: the cheapest one that passes the host rules (sizing.core.hosts),
not the cheapest that fits. Real planner, real data: no figure here is typed in."""

from __future__ import annotations

import datetime as dt

import pytest

from sizing.core.hosts import OS_RESERVE_GB, gpu_host_ram_gb
from sizing.core.platforms import PLATFORMS_FILE, load_platforms, physical_fit
from sizing.core.purchase import memory_need
from sizing.core.speed.calibration import load_calibration
from sizing.errors import SizingError
from sizing.hardware.db import load_gpus
from sizing.plan import PlanRequest, plan_purchase
from sizing.sources.catalog import load_catalog

TODAY = dt.date(2026, 12, 1)
CTX = 32768
LLAMA_70B = "meta-llama/Llama-3.3-70B-Instruct"
GPT_OSS = "openai/gpt-oss-120b"


def _plan(model: str, **kw):
    req = PlanRequest(models=(model,), quant="Q4_K_M", ctx=CTX, limit=kw.pop("limit", 200), **kw)
    return plan_purchase(req, resolve=load_catalog().get, today=TODAY)


@pytest.fixture(scope="module")
def plats():
    return {p.id: p for p in load_platforms()[0]}


def _card_usd(row) -> float:
    return next(ln["unit_usd"] for ln in row.lines if ln["id"] == row.gpu_id)


@pytest.mark.parametrize("objective", ["cheapest", "fastest", "cost-per-token"])
def test_a_70b_plan_within_20k_puts_no_dear_card_on_x1_risers(plats, objective):
    """Llama-3.3-70B at 32K within $20,000: no row puts a card dearer than its host's
    per-card limit (the mining board's cited cheap-card rigs) on x1 risers, so never a
    $3,000+ card; every host whose cards get two lanes or fewer states such a limit."""
    narrow = {pid for pid, p in plats.items() if p.slot_lanes and min(p.slot_lanes) <= 2}
    assert narrow and all(plats[pid].max_card_usd and plats[pid].host_rule_source for pid in narrow)
    assert all(plats[pid].max_card_usd <= 3000 for pid in narrow)
    r = _plan(LLAMA_70B, objective=objective, budget_usd=20_000)
    assert r.options
    on_risers = [o for o in r.options if o.platform_id in narrow]
    for o in on_risers:
        p = plats[o.platform_id]
        assert _card_usd(o) <= p.max_card_usd and o.count >= p.min_cards
        assert "this host is built for" in o.why and "x1" in " ".join(o.notes)
    # the dear cards are still offered, on a host with full links
    dear = [o for o in r.options if o.kind == "gpu-build" and _card_usd(o) > 3000]
    assert dear and not any(o.platform_id in narrow for o in dear)


@pytest.mark.parametrize("model", [LLAMA_70B, GPT_OSS])
def test_every_gpu_build_host_holds_the_weights_it_loads(model):
    """A GPU build's host RAM is at least the model's weights + the OS reserve, bought and
    priced as RAM, and the row's why states the figures."""
    arch = load_catalog().get(model)
    weights = memory_need([arch], "Q4_K_M", CTX, load_calibration()).weights_gib
    assert weights > 32  # more than the 32 GB a GPU build used to be given
    r = _plan(model, objective="cheapest")
    rows = [o for o in r.options if o.kind == "gpu-build"]
    assert rows
    for o in rows:
        assert o.ram_gb >= weights + OS_RESERVE_GB
        assert f"host RAM {o.ram_gb:.0f} GB ≥ {weights:.0f} GiB of weights" in o.why
    # hosts that come with less than that buy the rest, as a priced, cited RAM line
    topped = [o for o in rows if any(ln["id"].startswith("ram-") for ln in o.lines)]
    assert topped and all(ln["source"].startswith("https://") for o in topped for ln in o.lines)


def test_a_host_that_cannot_hold_the_weights_is_passed_over_and_named(plats):
    """gpt-oss-120b needs more RAM than the mining board holds: three cheap cards that fit it
    go on the next host that passes, and the row names the board passed over and why."""
    mining = plats["mining-h510"]
    arch = load_catalog().get(GPT_OSS)
    need = gpu_host_ram_gb(memory_need([arch], "Q4_K_M", CTX, load_calibration()).weights_gib)
    assert need > mining.max_ram_gb
    r = _plan(GPT_OSS, objective="cheapest", used=True, limit=500)
    assert not any(o.platform_id == "mining-h510" for o in r.options)
    cheap = [
        o
        for o in r.options
        if o.kind == "gpu-build"
        and o.count >= mining.min_cards
        and _card_usd(o) <= (mining.max_card_usd or 0)
        and physical_fit(mining, load_gpus().get(o.gpu_id), o.count).ok
    ]
    assert cheap  # cards the board is built for, kept off it by RAM alone
    for o in cheap:
        assert "cheaper hosts passed over" in o.why and mining.name in o.why
        assert f"at most {mining.max_ram_gb:.0f} GB" in o.why


def test_rows_on_x1_risers_say_how_long_the_weights_take_to_load():
    """A row on x1 risers states the least time its weights take over the link and the link."""
    r = _plan(LLAMA_70B, objective="cheapest", target_tps=10)
    x1 = [o for o in r.options if o.platform_id == "mining-h510"]
    assert x1
    for o in x1:
        (note,) = [n for n in o.notes if n.startswith("loading:")]
        assert "PCIe 3.0 x1" in note and "per start" in note


def test_a_host_limit_without_its_reason_is_refused(tmp_path):
    """A platform limiting the cards it is bought for must say why (a cited build)."""
    text = PLATFORMS_FILE.read_text(encoding="utf-8")
    assert "    host_rule_source:" in text
    bad = tmp_path / "platforms.yaml"
    bad.write_text(text.replace("    host_rule_source:", "    # host_rule_source:"), encoding="utf-8")
    with pytest.raises(SizingError, match="host_rule_source"):
        load_platforms(bad)
