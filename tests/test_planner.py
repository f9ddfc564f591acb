"""Purchase planner and local-versus-cloud cost."""

from __future__ import annotations

import pytest

from sizing.core.speed.calibration import load_calibration
from sizing.errors import SizingError
from sizing.hardware.db import load_gpus
from sizing.sources.catalog import load_catalog
from sizing.core.planner import cloud_prices, local_vs_cloud, machine_prices, plan_purchase


@pytest.fixture(scope="module")
def ctx():
    return {"calib": load_calibration(), "gpus": load_gpus().all, "cat": load_catalog()}


def test_options_meet_the_target_within_budget_and_are_ranked_by_price(ctx):
    arch = ctx["cat"].get("meta-llama/Llama-3.1-8B-Instruct")
    r = plan_purchase([arch], quant="Q4_K_M", ctx=8192, calib=ctx["calib"], gpus=ctx["gpus"],
                      target_tps=60, budget_usd=2500, power_cap_w=500)
    assert r.met and r.options
    prices = [o.price_usd for o in r.options]
    assert prices == sorted(prices)
    for o in r.options:
        assert o.fits and o.decode_tokens_per_s >= 60 and o.price_usd <= 2500
        assert o.watts is None or o.watts <= 500
        assert o.usd_per_token_s == pytest.approx(o.price_usd / o.decode_tokens_per_s)
        assert 0 <= o.headroom < 1
    front = [o for o in r.options if o.pareto]
    assert front and front[0].label == r.options[0].label
    # nothing on the front is beaten on both price and speed
    for f in front:
        assert not any(o.price_usd <= f.price_usd and o.decode_tokens_per_s > f.decode_tokens_per_s
                       and o.label != f.label for o in r.options)


def test_multi_gpu_and_apple_machines_are_candidates(ctx):
    arch = ctx["cat"].get("meta-llama/Llama-3.1-70B-Instruct")
    r = plan_purchase([arch], quant="Q4_K_M", ctx=8192, calib=ctx["calib"], gpus=ctx["gpus"], limit=500)
    labels = [o.label for o in r.options]
    assert any(o.count >= 2 for o in r.options)
    assert any("Mac Studio" in x for x in labels) or any("DGX Spark" in x for x in labels)
    assert all(o.fits for o in r.options)
    # 70B at Q4_K_M (~40 GiB) cannot live on one 24 GB card
    assert "NVIDIA GeForce RTX 4090" not in labels and "2× NVIDIA GeForce RTX 4090" in labels


def test_impossible_target_says_so_with_the_closest_options(ctx):
    arch = ctx["cat"].get("meta-llama/Llama-3.1-405B-Instruct")
    r = plan_purchase([arch], quant="Q4_K_M", ctx=8192, calib=ctx["calib"], gpus=ctx["gpus"],
                      target_tps=1000, budget_usd=500)
    assert not r.met and not r.options
    assert "no configuration meets this" in r.message
    assert 1 <= len(r.closest) <= 5 and all(o.shortfall for o in r.closest)


@pytest.mark.parametrize("kw", [{"budget_usd": 0}, {"budget_usd": -100}, {"power_cap_w": 0}, {"target_tps": -1}])
def test_bad_targets_are_refused(ctx, kw):
    arch = ctx["cat"].get("meta-llama/Llama-3.2-1B-Instruct")
    with pytest.raises(SizingError):
        plan_purchase([arch], quant="Q4_K_M", ctx=4096, calib=ctx["calib"], gpus=ctx["gpus"], **kw)


def test_price_files_are_dated_and_cited():
    for p in cloud_prices():
        assert p.source.startswith("https://") and p.date
    for m in machine_prices():
        assert m.source.startswith("https://") and m.price_usd > 0
    ids = {g.id for g in load_gpus().all}
    assert all(m.gpu_id in ids for m in machine_prices())


def test_local_vs_cloud_break_even():
    cloud = cloud_prices()[0]
    c = local_vs_cloud(tokens_in_per_day=20e6, tokens_out_per_day=5e6, hardware_price_usd=2000, years=3,
                       watts=400, power_price_per_kwh=0.25, decode_tokens_per_s=100, prefill_tokens_per_s=4000,
                       api_input_per_m=3.0, api_output_per_m=15.0)
    cloud_month = 365.25 / 12 * (20 * 3.0 + 5 * 15.0)
    assert c.cloud_monthly_usd == pytest.approx(cloud_month)
    assert c.local_hardware_monthly_usd == pytest.approx(2000 / 36)
    assert c.break_even_months == pytest.approx(2000 / (cloud_month - c.local_power_monthly_usd))
    # at cheap API prices local never pays off
    cheap = local_vs_cloud(tokens_in_per_day=1e5, tokens_out_per_day=1e4, hardware_price_usd=2000, years=3, watts=400,
                           power_price_per_kwh=0.25, decode_tokens_per_s=100, prefill_tokens_per_s=4000, cloud=cloud,
                           idle_watts=50)
    assert cheap.break_even_months is None
    # more tokens than a day can produce is flagged
    busy = local_vs_cloud(tokens_in_per_day=0, tokens_out_per_day=1e8, hardware_price_usd=2000, years=3, watts=400,
                          power_price_per_kwh=0.25, decode_tokens_per_s=100, prefill_tokens_per_s=4000, cloud=cloud)
    assert not busy.feasible
    with pytest.raises(SizingError):
        local_vs_cloud(tokens_in_per_day=1, tokens_out_per_day=1, hardware_price_usd=0, years=3, watts=1,
                       power_price_per_kwh=0.1, decode_tokens_per_s=1, prefill_tokens_per_s=1, cloud=cloud)


def test_cpu_only_servers_are_candidates(ctx):
    from sizing.hardware.cpus import load_cpus

    arch = ctx["cat"].get("meta-llama/Llama-3.1-70B-Instruct")
    r = plan_purchase([arch], quant="Q4_K_M", ctx=8192, calib=ctx["calib"], gpus=(), cpus=load_cpus().all,
                      target_tps=3, limit=100)
    cpu = [o for o in r.options if o.label.startswith("CPU-only")]
    assert cpu and all(o.price_usd is None and o.decode_tokens_per_s >= 3 for o in cpu)
    # more RAM bandwidth, faster decode (bandwidth-bound)
    plats = {p.id: p for p in load_cpus().all}
    by_bw = sorted(cpu, key=lambda o: plats[o.gpu_id].bandwidth_gbs)
    speeds = [o.decode_tokens_per_s for o in by_bw]
    assert speeds == sorted(speeds)
    with_budget = plan_purchase([arch], quant="Q4_K_M", ctx=8192, calib=ctx["calib"], gpus=(), cpus=load_cpus().all,
                                budget_usd=10000)
    assert not with_budget.options and all("price unknown" in o.shortfall for o in with_budget.closest)
