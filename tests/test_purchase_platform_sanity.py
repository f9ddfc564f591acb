"""Hosts a build can really run on: a card's cited recommended PSU holds against the
platform's, and a host with less RAM than the weights it loads is refused, saying why."""

from __future__ import annotations

import datetime as dt

import pytest

from sizing.core.builds import all_builds
from sizing.core.platforms import card_power, load_platforms, physical_fit
from sizing.core.prices import PriceOverrides
from sizing.core.hosts import OS_RESERVE_GB, gpu_host_ram_gb
from sizing.core.purchase import memory_need, plan
from sizing.core.speed.calibration import load_calibration
from sizing.core.speed.coverage import bench_coverage
from sizing.errors import SizingError
from sizing.hardware.db import load_gpus
from sizing.sources.catalog import load_catalog

TODAY = dt.date(2026, 12, 1)


@pytest.fixture(scope="module")
def plats():
    return {p.id: p for p in load_platforms()[0]}


def test_a_5090_needs_the_psu_nvidia_recommends_not_just_its_summed_tdp(plats):
    """575 W + a 65 W CPU + 50 W sums to 690 W, inside the AM4 build's 850 W PSU, but NVIDIA
    asks for a 1000 W PSU for a system with one 5090: refused there, fitted on a 1200 W one."""
    g = load_gpus().get("nvidia-rtx-5090")
    rec = card_power()["nvidia-rtx-5090"]
    assert rec.system_psu_w == 1000 and rec.source.startswith("https://")
    am4 = physical_fit(plats["desktop-am4-b550"], g, 1)
    assert (g.tdp_w or 0) + plats["desktop-am4-b550"].cpu_w + 50 < plats["desktop-am4-b550"].psu_w
    assert not am4.ok and any("1000 W" in r and "850 W PSU" in r for r in am4.reasons)
    assert physical_fit(plats["desktop-am5"], g, 1).ok


def test_each_further_card_adds_its_board_power_to_the_recommendation(plats):
    """Two 4090s: 850 W (NVIDIA's figure for one) + 450 W = 1300 W, over a 1200 W desktop PSU
    though their summed TDP with the host (1120 W) is under it; the 1600 W EPYC server and the
    2400 W mining rig carry them."""
    g = load_gpus().get("nvidia-rtx-4090")
    two = physical_fit(plats["desktop-am5"], g, 2)
    assert not two.ok and any("1300 W" in r for r in two.reasons)
    assert physical_fit(plats["desktop-am5"], g, 1).ok
    assert physical_fit(plats["server-epyc-rome"], g, 2).ok
    assert physical_fit(plats["mining-h510"], g, 3).ok
    # a card with no cited figure is still checked on summed TDP only
    r3090 = load_gpus().get("nvidia-rtx-3090")
    assert "nvidia-rtx-3090" not in card_power() and physical_fit(plats["desktop-am5"], r3090, 2).ok


def test_no_5090_build_sits_on_a_psu_below_the_recommendation():
    builds, _ = all_builds(load_gpus().all, used=False, overrides=PriceOverrides(), today=TODAY, ram_need_gb=64)
    plats = {p.id: p for p in load_platforms()[0]}
    r5090 = [b for b in builds if b.gpu_id == "nvidia-rtx-5090" and b.platform_id]
    assert r5090
    assert all(plats[b.platform_id].psu_w >= 1000 + 575 * (b.count - 1) for b in r5090)


def test_a_card_power_entry_without_a_source_is_refused(tmp_path):
    bad = tmp_path / "platforms.yaml"
    bad.write_text("platforms: []\ncard_power:\n  - {gpu_id: nvidia-rtx-5090, system_psu_w: 1000}\n")
    with pytest.raises(SizingError, match="nvidia-rtx-5090.*source"):
        card_power(bad)


def test_a_host_with_less_ram_than_the_weights_is_refused_and_says_why():
    """gpt-oss-120b (60+ GiB) on three 24 GB cards whose hosts were given 32 GB of RAM: llama.cpp
    would load it through the page cache, but the file cannot stay cached and --no-mmap cannot
    load it at all, so the plan refuses both hosts and says why; a host with more RAM than the
    weights of a smaller model passes and the row states the figures."""
    gpus = load_gpus().all
    builds, _ = all_builds(gpus, used=True, overrides=PriceOverrides(), today=TODAY, ram_need_gb=64)
    pick = [
        b
        for b in builds
        if b.gpu_id == "nvidia-rtx-3090" and b.count == 3 and b.platform_id in ("mining-h510", "server-epyc-rome")
    ]
    weights = memory_need([load_catalog().get("openai/gpt-oss-120b")], "Q4_K_M", 32768, load_calibration())
    assert len(pick) == 2 and all(b.ram_gb < weights.weights_gib + OS_RESERVE_GB for b in pick)
    r = _plan(pick, "openai/gpt-oss-120b", limit=10)
    assert not r.options and r.closest
    for row in r.closest:
        short = row.shortfall or ""
        assert row.fits and f"host RAM {row.ram_gb:.0f} GB < {weights.weights_gib:.0f} GiB" in short
        assert "--no-mmap" in short
    small = _one(builds, "desktop-am4-b550+1xnvidia-rtx-3090", "Qwen/Qwen3-30B-A3B")
    assert small.ram_gb == 32 and "host RAM 32 GB ≥" in small.why


def test_one_5090_is_offered_on_a_desktop_with_the_psu_it_needs_not_a_mining_board():
    """With the 850 W AM4 build refused, the cheapest host for one RTX 5090 is the same AM4
    parts list with a cited 1200 W PSU swapped in, not the x1-riser mining board."""
    builds, _ = all_builds(load_gpus().all, used=False, overrides=PriceOverrides(), today=TODAY, ram_need_gb=64)
    one = sorted((b for b in builds if b.gpu_id == "nvidia-rtx-5090" and b.count == 1), key=lambda b: b.total_usd)
    assert one[0].platform_id == "desktop-am4-b550-1200w"
    plat = next(ln for ln in one[0].lines if ln.item_id == "desktop-am4-b550-1200w").unit
    assert plat.source.startswith("https://") and "1200 W" in (plat.note or "")


def _one(builds, build_id: str, model: str):
    return _plan([b for b in builds if b.id == build_id], model, limit=1).options[0]


def _plan(builds, model: str, limit: int):
    """The cheapest-first plan of ``builds`` for one model at Q4_K_M and 32K."""
    return plan(
        [load_catalog().get(model)],
        builds,
        quant="Q4_K_M",
        ctx=32768,
        calib=load_calibration(),
        coverage=bench_coverage(),
        today=TODAY,
        objective="cheapest",
        limit=limit,
    )


def test_x1_links_say_what_prefill_pays_for_the_activations_and_full_links_do_not():
    """On x1 risers (PCIe 3.0 x1, ~1 GB/s) Qwen3-30B-A3B's hidden state crossing between three
    cards at the predicted prefill rate is a share of the links' time the row states; the
    same three cards at x16 on the EPYC board carry no such note."""
    plats = {p.id: p for p in load_platforms()[0]}
    g = load_gpus().get("nvidia-rtx-3090")
    assert physical_fit(plats["mining-h510"], g, 3).link_gbs == pytest.approx(0.985)
    assert physical_fit(plats["desktop-am4-b550"], g, 2).link_gbs == pytest.approx(3.94)  # chipset PCIe 3.0 x4
    model = "Qwen/Qwen3-30B-A3B"  # whose weights the mining board's RAM holds
    weights = memory_need([load_catalog().get(model)], "Q4_K_M", 32768, load_calibration()).weights_gib
    builds, _ = all_builds(
        load_gpus().all,
        used=True,
        overrides=PriceOverrides(),
        today=TODAY,
        ram_need_gb=64,
        host_ram_gb=gpu_host_ram_gb(weights),
    )
    x1 = _one(builds, "mining-h510+3xamd-rx-7900-xtx", model)
    note = [n for n in x1.notes if "bytes per token cross" in n]
    assert note and "decode is unaffected" in note[0] and "2 hops" in note[0] and "% of the links' time" in note[0]
    x16 = _one(builds, "server-epyc-rome+3xamd-rx-7900-xtx", model)
    assert x16.decode_tokens_per_s == x1.decode_tokens_per_s
    assert not any("bytes per token cross" in n for n in x16.notes)


def test_a_build_drawing_more_than_a_us_outlet_carries_says_so_but_is_not_refused(plats):
    """Three 4090s on the mining rig draw 1,458 W by the planner's sum, over the 1,440 W a
    15 A / 120 V circuit carries continuously; three 3090s (1,158 W) do not."""
    db = load_gpus()
    hot = physical_fit(plats["mining-h510"], db.get("nvidia-rtx-4090"), 3)
    assert hot.ok and (hot.load_w or 0) > 1440
    assert any("US 15 A / 120 V outlet" in n and "230 V" in n for n in hot.notes)
    cool = physical_fit(plats["mining-h510"], db.get("nvidia-rtx-3090"), 3)
    assert cool.ok and not any("outlet" in n for n in cool.notes)


def test_a_card_with_no_figure_of_its_own_holds_to_its_chip_siblings(plats):
    """The RTX PRO 6000 Blackwell Workstation (600 W) publishes no system PSU figure; it is the
    5090's chip at more power, so NVIDIA's 1000 W for the 5090 holds for it too: the 850 W AM4
    desktop that its summed TDP (715 W) fits is refused, saying whose figure it is."""
    g = load_gpus().get("nvidia-rtx-pro-6000-blackwell")
    p = plats["desktop-am4-b550"]
    assert (g.tdp_w or 0) + p.cpu_w + 50 < p.psu_w
    fit = physical_fit(p, g, 1)
    assert not fit.ok
    (why,) = [r for r in fit.reasons if "1000 W" in r]
    assert "RTX 5090" in why and "no figure of its own" in why and "850 W PSU" in why
    assert physical_fit(plats["desktop-am5"], g, 1).ok
