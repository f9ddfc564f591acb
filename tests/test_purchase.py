"""Whole builds, dated prices, objective ranking and buy-or-rent (sizing.core.prices/platforms/builds/purchase/cloud)."""

from __future__ import annotations

import datetime as dt
import re
from importlib.resources import files

import pytest
import yaml

from sizing.core.builds import all_builds, priced_ids
from sizing.core.cloud import Workload, break_even, cloud_gpus, cloud_prices, electricity, local_cost
from sizing.core.platforms import load_platforms, physical_fit
from sizing.core.prices import (
    PriceOverrides,
    load_price_file,
    machine_prices,
    parse_overrides,
    price_book,
)
from sizing.core.hosts import gpu_host_ram_gb
from sizing.core.purchase import SPEED_TIE, Usage, memory_need, own_cost_per_m, plan, speed_band
from sizing.core.speed.calibration import load_calibration
from sizing.core.speed.coverage import bench_coverage
from sizing.errors import SizingError
from sizing.hardware.db import load_gpus
from sizing.sources.catalog import load_catalog

TODAY = dt.date(2026, 12, 1)
URL = re.compile(r"^https://\S+$")
DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
KINDS = {"msrp", "street", "used"}


def _walk(node, path=""):
    """Every mapping in a YAML tree, with where it sits."""
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, f"{path}[{i}]")


PRICE_KEYS = ("usd", "price_usd", "usd_per_gb")


DATA = files("sizing") / "data"


@pytest.mark.parametrize(
    "name", sorted(p.name for p in DATA.iterdir() if p.name.endswith(".yaml") and p.name != "gpus.yaml")
)
def test_every_price_in_data_has_a_source_url_a_kind_and_a_date(name):
    """Any mapping with a price field must carry kind, date and an https source beside it."""
    raw = yaml.safe_load((DATA / name).read_text(encoding="utf-8"))
    for where, m in _walk(raw):
        if not any(k in m for k in PRICE_KEYS):
            continue
        assert m.get("kind") in KINDS, f"{name}{where}: price without a kind (msrp|street|used)"
        assert DATE.match(str(m.get("date", ""))), f"{name}{where}: price without a date"
        assert URL.match(str(m.get("source", ""))), f"{name}{where}: price without a source URL"


def test_gpu_database_prices_are_dated_and_cited():
    """gpus.yaml's launch prices are dated by launch year and cited by the release source;
    its street prices by their own date and source (kind read from the source: NEW/USED)."""
    gpus = load_gpus().all
    for g in gpus:  # every price field in gpus.yaml carries its date and an https source
        if g.launch_price_usd is not None:
            assert g.year and "https://" in (g.sources.release or ""), (g.id, "launch price without year/source")
        if g.street_price_usd is not None:
            assert g.street_price_date and "https://" in (g.sources.street_price or ""), (g.id, "street price")
    book = price_book(gpus)
    for gid, prices in book.cards.items():
        for p in prices:
            assert p.kind in KINDS and DATE.match(p.date) and URL.match(p.source), (gid, p)
    launch = {g.id for g in gpus if g.launch_price_usd is not None}
    # the price file adds launch prices only for cards gpus.yaml does not price
    extra = {c.gpu_id for c in load_price_file()[0] if c.kind == "msrp"}
    assert sum(1 for ps in book.cards.values() for p in ps if p.kind == "msrp") == len(launch | extra)


def test_cloud_and_electricity_prices_are_dated_and_cited():
    for p in cloud_prices():
        assert URL.match(p.source) and DATE.match(p.date) and p.kind in ("open", "proprietary")
        assert p.kind == "proprietary" or p.serves, p.id
    for c in cloud_gpus():
        assert URL.match(c.source) and DATE.match(c.date) and c.on_demand > 0
    e = electricity()
    assert URL.match(e.usd_per_eur.source)
    for r in e.regions:
        assert URL.match(r.source) and DATE.match(r.date) and e.usd_per_kwh(r.id) > 0


def test_required_cards_are_priced_new_and_the_used_ones_cited():
    book = price_book(load_gpus().all)
    for gid in (
        "nvidia-rtx-3090",
        "nvidia-rtx-3090-ti",
        "nvidia-rtx-4090",
        "nvidia-rtx-5090",
        "nvidia-rtx-4060-ti-16gb",
        "nvidia-rtx-5060-ti-16gb",
        "nvidia-rtx-a6000",
        "amd-rx-7900-xtx",
    ):
        assert book.for_card(gid, used=False) is not None, gid
    for gid in ("nvidia-rtx-3090", "nvidia-rtx-4090", "nvidia-tesla-p40", "nvidia-rtx-a6000"):
        p = book.for_card(gid, used=True)
        assert p is not None and p.kind == "used", gid
    # new only: never a used price
    assert all(book.for_card(g, used=False).kind != "used" for g in book.cards if book.for_card(g, used=False))


def test_a_bad_price_entry_is_refused_with_its_file_and_entry(tmp_path):
    bad = tmp_path / "prices.yaml"
    bad.write_text("cards:\n  - {gpu_id: nvidia-rtx-3090, kind: used, usd: 700, date: '2026-05'}\n")
    with pytest.raises(SizingError, match="nvidia-rtx-3090.*source"):
        load_price_file(bad)


def test_physical_fit_refuses_too_many_cards_and_an_overloaded_psu():
    plats = {p.id: p for p in load_platforms()[0]}
    db = load_gpus()
    am5, epyc = plats["desktop-am5"], plats["server-epyc-rome"]
    r3090 = db.get("nvidia-rtx-3090")
    assert physical_fit(am5, r3090, 2).ok
    three = physical_fit(am5, r3090, 3)
    assert not three.ok and any("slots" in x for x in three.reasons)
    # 7 slots, but 5× 350 W + CPU do not fit a 1600 W PSU
    five = physical_fit(epyc, r3090, 5)
    assert not five.ok and any("PSU" in x for x in five.reasons)
    assert physical_fit(epyc, r3090, 4).ok
    sxm = physical_fit(epyc, db.get("nvidia-v100-sxm2-32gb"), 1)
    assert not sxm.ok and "SXM" in sxm.reasons[0]
    # a 300 W passive A100 belongs in a server, a 250 W P40 goes in a desktop with a shroud
    assert not physical_fit(am5, db.get("nvidia-a100-pcie-80gb"), 1).ok
    assert physical_fit(epyc, db.get("nvidia-a100-pcie-80gb"), 1).ok
    p40 = physical_fit(am5, db.get("nvidia-tesla-p40"), 1)
    assert p40.ok and any("shroud" in n for n in p40.notes)


@pytest.fixture(scope="module")
def ctx():
    gpus = load_gpus().all
    builds, refused = all_builds(gpus, used=True, overrides=PriceOverrides(), today=TODAY, ram_need_gb=64)
    return {
        "gpus": gpus,
        "builds": builds,
        "refused": refused,
        "calib": load_calibration(),
        "coverage": bench_coverage(),
        "cat": load_catalog(),
    }


def test_builds_are_physically_possible_and_priced_whole(ctx):
    plats = {p.id: p for p in load_platforms()[0]}
    db = {g.id: g for g in ctx["gpus"]}
    assert ctx["refused"] > 0
    kinds = {b.kind for b in ctx["builds"]}
    assert {"gpu-build", "unified", "system", "cpu-only"} <= kinds
    for b in ctx["builds"]:
        assert b.total_usd == pytest.approx(sum(ln.usd for ln in b.lines))
        if b.kind == "gpu-build":
            p, g = plats[b.platform_id], db[b.gpu_id]
            assert b.count <= p.gpu_slots and physical_fit(p, g, b.count).ok
            assert b.lines[0].item_id == p.id and b.lines[-1].qty == b.count  # platform and the cards both paid
            assert b.total_usd > p.price.usd
    ids = [b.id for b in ctx["builds"]]
    assert len(ids) == len(set(ids))
    assert not any(b.count > 7 and b.platform_id for b in ctx["builds"])


def _plan(ctx, model, **kw):
    """Plan ``model`` over the builds as the planner composes them for it: the host RAM of
    each GPU build sized to the weights it loads (``hosts.gpu_host_ram_gb``)."""
    arch = ctx["cat"].get(model)
    n_ctx = kw.pop("ctx_len", 8192)
    weights = memory_need([arch], "Q4_K_M", n_ctx, ctx["calib"]).weights_gib
    builds, _ = all_builds(
        ctx["gpus"],
        used=True,
        overrides=PriceOverrides(),
        today=TODAY,
        ram_need_gb=64,
        host_ram_gb=gpu_host_ram_gb(weights),
    )
    return plan(
        [arch],
        builds,
        quant="Q4_K_M",
        ctx=n_ctx,
        calib=ctx["calib"],
        coverage=ctx["coverage"],
        today=TODAY,
        **kw,
    )


def test_each_row_says_its_decode_at_the_chosen_context_below_an_empty_caches(ctx):
    """The ranking's tok/s is at an empty cache, as public benchmarks report it; a buyer who
    works at 32K waits for every token to read the cache up to its depth. Each row carries
    that speed too, and a longer context takes more off it."""
    short = _plan(ctx, "meta-llama/Llama-3.1-8B-Instruct", objective="fastest", budget_usd=3000, ctx_len=4096)
    long = _plan(ctx, "meta-llama/Llama-3.1-8B-Instruct", objective="fastest", budget_usd=3000, ctx_len=32768)
    by_id = {o.build_id: o for o in short.options}
    both = [(by_id[o.build_id], o) for o in long.options if o.build_id in by_id]
    assert len(both) >= 5
    for s4k, s32k in both:
        for o in (s4k, s32k):
            assert o.decode_at_ctx_tokens_per_s < o.decode_tokens_per_s
            assert o.models[0].decode_at_ctx_tokens_per_s == o.decode_at_ctx_tokens_per_s
        loss_4k = 1 - s4k.decode_at_ctx_tokens_per_s / s4k.decode_tokens_per_s
        loss_32k = 1 - s32k.decode_at_ctx_tokens_per_s / s32k.decode_tokens_per_s
        assert loss_32k > 2 * loss_4k and loss_32k > 0.1


def test_cheapest_meets_the_target_within_budget_and_says_why(ctx):
    r = _plan(ctx, "meta-llama/Llama-3.1-8B-Instruct", objective="cheapest", target_tps=40, budget_usd=2000)
    assert r.met and r.options
    prices = [o.price_usd for o in r.options]
    assert prices == sorted(prices)
    for o in r.options:
        assert o.decode_tokens_per_s >= 40 and o.price_usd <= 2000 and o.fits
        assert o.why.startswith(f"#{o.rank} by price") and o.speed_basis and o.calibration.class_rows >= 0
        assert o.models[0].llama_server and "llama-server" in o.models[0].llama_server
        assert all(ln["source"].startswith("https://") and ln["kind"] in KINDS for ln in o.lines)
    weak = [o for o in r.options if o.calibration.weak]
    assert all("weak calibration" in o.why for o in weak)


def test_fastest_and_cost_per_token_orders(ctx):
    fast = _plan(ctx, "meta-llama/Llama-3.1-8B-Instruct", objective="fastest", budget_usd=5000, limit=20)
    keys = [(-speed_band(o.decode_tokens_per_s), o.price_usd) for o in fast.options]  # speed within 2%, then price
    assert keys == sorted(keys) and all(o.price_usd <= 5000 for o in fast.options)
    speeds = [o.decode_tokens_per_s for o in fast.options]
    assert all(a >= b * (1 - SPEED_TIE) for a, b in zip(speeds, speeds[1:]))
    usage = Usage(years=3, hours_per_day=8, usd_per_kwh=0.3)
    cpt = _plan(ctx, "meta-llama/Llama-3.1-8B-Instruct", objective="cost-per-token", usage=usage, limit=20)
    costs = [o.usd_per_m_tokens for o in cpt.options]
    assert costs == sorted(costs)
    o = cpt.options[0]
    assert o.usd_per_m_tokens == pytest.approx(
        own_cost_per_m(o.price_usd, o.load_w, o.idle_w, o.decode_tokens_per_s, usage)
    )


def test_more_of_a_card_for_no_speed_and_a_dearer_build_at_the_same_speed_are_left_out(ctx):
    """Layer split runs the cards one after another: six P100s hold a 70B no faster than
    four, so only the four are offered; and "fastest" lists one build per speed, the
    cheapest (an RTX PRO 6000 reads its weights no faster than an RTX 5090)."""
    # P100 speeds rest on weak calibration (and HBM2: the share of the datasheet bandwidth
    # HBM cards reach): the target is one their low estimate meets
    r = _plan(ctx, "meta-llama/Llama-3.1-70B-Instruct", target_tps=6, limit=500)
    assert any(b.id == "mining-h510+6xnvidia-tesla-p100-16gb" for b in ctx["builds"])
    p100 = [o for o in r.options if o.gpu_id == "nvidia-tesla-p100-16gb"]
    assert [o.count for o in p100] == [4] and p100[0].platform_id == "mining-h510"
    fast = _plan(ctx, "meta-llama/Llama-3.1-8B-Instruct", objective="fastest", budget_usd=10_000, limit=500)
    bands = [speed_band(o.decode_tokens_per_s) for o in fast.options]
    assert len(bands) == len(set(bands))
    ids = {o.gpu_id for o in fast.options}
    assert "nvidia-rtx-5090" in ids and "nvidia-rtx-pro-6000-blackwell" not in ids
    assert int(fast.message.split()[0]) > len(fast.options)  # the count is of builds meeting it, before the cut


def test_x1_risers_are_explained_and_get_no_expert_offload(ctx):
    """A mining board's x1 risers carry layer split (the row says what they cost: load time,
    prompt processing, no tensor parallel) but not experts in RAM, whose prompt processing
    would stream the experts over ~1 GB/s or leave them to a 2-thread Celeron."""
    mining = {p.id: p for p in load_platforms()[0]}["mining-h510"]
    g = next(g for g in ctx["gpus"] if g.id == "nvidia-rtx-3090")
    fit = physical_fit(mining, g, 4)
    assert fit.ok and fit.lanes == (1, 1, 1, 1)
    assert any("x1" in n and "layer split works" in n and "s per GB" in n for n in fit.notes)
    builds, _ = all_builds(
        [g], used=True, overrides=PriceOverrides(), today=TODAY, ram_need_gb=96, offload=True, model_gb=60
    )
    offload = {b.platform_id for b in builds if b.kind == "offload"}
    assert offload and "mining-h510" not in offload
    assert any(b.platform_id == "mining-h510" and b.kind == "gpu-build" for b in builds)


def test_unified_boxes_compete_on_the_same_ranking(ctx):
    r = _plan(ctx, "openai/gpt-oss-120b", objective="cheapest", limit=200)
    kinds = {o.kind for o in r.options}
    assert "unified" in kinds and "gpu-build" in kinds
    # 120B at MXFP4 (~61 GiB) never ranks a single 24 GB card
    assert not any(o.kind == "gpu-build" and o.count == 1 and "3090" in (o.gpu_id or "") for o in r.options)


def test_multi_gpu_builds_hold_what_one_card_cannot(ctx):
    r = _plan(ctx, "meta-llama/Llama-3.1-70B-Instruct", limit=1000)
    assert all(o.fits for o in r.options)
    assert any(o.kind == "unified" and ("Mac Studio" in o.label or "DGX Spark" in o.label) for o in r.options)
    r4090 = {o.count for o in r.options if o.kind == "gpu-build" and o.gpu_id == "nvidia-rtx-4090"}
    # 70B at Q4_K_M (~40 GiB) cannot live on one 24 GB card, it does on two
    assert 1 not in r4090 and 2 in r4090


@pytest.mark.parametrize(
    "kw",
    [
        {"budget_usd": 0},
        {"budget_usd": -100},
        {"target_tps": -1},
        {"target_tps": float("nan")},
        {"objective": "prettiest"},
    ],
)
def test_bad_targets_are_refused(ctx, kw):
    with pytest.raises(SizingError):
        _plan(ctx, "meta-llama/Llama-3.2-1B-Instruct", ctx_len=4096, **kw)


def test_cpu_only_servers_decode_faster_with_more_ram_bandwidth(ctx):
    r = _plan(ctx, "meta-llama/Llama-3.1-70B-Instruct", limit=1000)
    plats = {p.id: p for p in load_platforms()[0]}
    cpu = sorted((o for o in r.options if o.kind == "cpu-only"), key=lambda o: plats[o.platform_id].ram_bandwidth_gbs)
    assert len({plats[o.platform_id].ram_bandwidth_gbs for o in cpu}) >= 2
    assert all(o.price_usd > 0 and o.decode_tokens_per_s for o in cpu)
    # decode is bandwidth-bound until the cores run out: a platform with more bandwidth and at
    # least as many threads is never slower (an 8-core EPYC may trail a 24-core Threadripper)
    for a in cpu:
        for b in cpu:
            pa, pb = plats[a.platform_id], plats[b.platform_id]
            if pa.ram_bandwidth_gbs > pb.ram_bandwidth_gbs and pa.threads >= pb.threads:
                assert a.decode_tokens_per_s >= b.decode_tokens_per_s, (pa.id, pb.id)
    fastest = max(cpu, key=lambda o: o.decode_tokens_per_s)
    assert plats[fastest.platform_id].ram_bandwidth_gbs == max(plats[o.platform_id].ram_bandwidth_gbs for o in cpu)


def test_no_build_meets_an_impossible_target_and_the_closest_are_given(ctx):
    r = _plan(ctx, "meta-llama/Llama-3.1-405B-Instruct", target_tps=1000, budget_usd=500)
    assert not r.met and 1 <= len(r.closest) <= 5
    assert all(o.shortfall and o.why.startswith("closest") for o in r.closest)


def test_price_overrides_change_the_whole_build_and_bad_ones_are_refused(ctx):
    ids = priced_ids(ctx["gpus"])
    o = parse_overrides(["nvidia-rtx-3090=500"], ids)
    builds, _ = all_builds(ctx["gpus"], used=True, overrides=o, today=TODAY, ram_need_gb=64)
    b = next(b for b in builds if b.id == "desktop-am5+2xnvidia-rtx-3090")
    assert b.lines[-1].usd == 1000 and b.lines[-1].unit.note == "price entered by the user"
    for bad, msg in (
        (["nvidia-rtx-3090=0"], "positive"),
        (["nvidia-rtx-3090=-5"], "positive"),
        (["nvidia-rtx-3090=abc"], "positive"),
        (["nvidia-rtx-3090=nan"], "positive"),
        (["acme-card=300"], "nothing is priced"),
        (["3090"], "ID=USD"),
    ):
        with pytest.raises(SizingError, match=msg):
            parse_overrides(bad, ids)


def test_break_even_in_months_and_tokens():
    work = Workload(tokens_in_per_day=2e6, tokens_out_per_day=5e5)
    loc = local_cost(
        build="x",
        price_usd=2000,
        load_w=400,
        idle_w=60,
        decode_tps=50,
        prefill_tps=2000,
        work=work,
        years=3,
        usd_per_kwh=0.3,
    )
    busy = (2e6 / 2000 + 5e5 / 50) / 3600
    assert loc.busy_hours_per_day == pytest.approx(busy)
    kwh_day = (400 * busy + 60 * (24 - busy)) / 1000
    assert loc.power_monthly_usd == pytest.approx(kwh_day * 0.3 * 365.25 / 12)
    from sizing.core.cloud import RentOption

    rent = RentOption(name="r", kind="api-open", monthly_usd=200.0, basis="", date="2026-01", source="https://x.y")
    be = break_even(loc, rent, work)
    assert be.months == pytest.approx(2000 / (200 - loc.power_monthly_usd))
    assert be.tokens == pytest.approx(be.months * 365.25 / 12 * 5e5)
    cheap = RentOption(name="c", kind="api-open", monthly_usd=1.0, basis="", date="2026-01", source="https://x.y")
    assert break_even(loc, cheap, work).months is None


def test_unknown_region_is_one_clear_message():
    with pytest.raises(SizingError, match="unknown region 'Mars'.*EU"):
        electricity().region("Mars")


def test_machine_prices_name_real_unified_chips():
    ids = {g.id for g in load_gpus().all}
    assert all(m.gpu_id in ids for m in machine_prices())
    systems = load_platforms()[1]
    assert all(s.gpu_id in ids for s in systems)


def test_expert_offload_builds_compete_for_moe_models(ctx):
    """'1-2 cards + N GB RAM' for a MoE model the cards cannot hold: every layer on the cards,
    routed experts in RAM; priced with the RAM; ranked with the rest. None for a dense model."""
    from sizing.core.purchase import memory_need

    arch = ctx["cat"].get("Qwen/Qwen3-235B-A22B")
    need = memory_need([arch], "Q4_K_M", 8192, ctx["calib"])
    builds, _ = all_builds(
        ctx["gpus"],
        used=True,
        overrides=PriceOverrides(),
        today=TODAY,
        ram_need_gb=need.cpu_ram_gib,
        offload=True,
        model_gb=need.core_gib,
    )
    off = [b for b in builds if b.kind == "offload"]
    db = {g.id: g for g in ctx["gpus"]}
    assert off and all(b.ram_gb >= need.cpu_ram_gib and b.count * db[b.gpu_id].memory_gb < need.core_gib for b in off)
    assert all(any(ln.item_id.startswith("ram-") for ln in b.lines) for b in off if b.ram_gb > 32)
    r = plan(
        [arch],
        builds,
        quant="Q4_K_M",
        ctx=8192,
        calib=ctx["calib"],
        coverage=ctx["coverage"],
        today=TODAY,
        objective="fastest",
        budget_usd=10_000,
        core_gib=need.core_gib,
        limit=50,
    )
    ranked = [o for o in r.options if o.kind == "offload"]
    assert ranked, [o.label for o in r.options]
    for o in ranked:
        assert "--n-cpu-moe" in o.models[0].llama_server or "exps" in o.models[0].llama_server
    dense = ctx["cat"].get("meta-llama/Llama-3.3-70B-Instruct")
    assert not dense.is_moe  # the CLI and UI build offload candidates only for MoE models


def _coverage_of(tmp_path, devices: dict, rows: list[dict]):
    """The coverage counts of a bench file holding these devices and rows."""
    f = tmp_path / "bench.yaml"
    f.write_text(yaml.safe_dump({"devices": devices, "rows": rows}))
    return bench_coverage(f)


def test_moe_rows_are_counted_apart_per_device_class(tmp_path):
    """A row naming its active parameters is a MoE row; host-limited rows count for nothing."""
    cov = _coverage_of(
        tmp_path,
        {"g": {"kind": "gpu", "db_id": "nvidia-rtx-3090"}, "u": {"kind": "unified"}},
        [
            {"device": "g", "backend": "cuda"},
            {"device": "g", "backend": "cuda", "active_params_b": 3.3},
            {"device": "u", "backend": "rocm", "active_params_b": 5.1},
            {"device": "u", "backend": "rocm", "active_params_b": 3.3, "host_limited": True},
        ],
    )
    assert (cov.rows("cuda", "gpu"), cov.moe_rows("cuda", "gpu")) == (2, 1)
    assert (cov.rows("rocm", "unified"), cov.moe_rows("rocm", "unified")) == (1, 1)
    assert cov.moe_rows("metal", "unified") == 0


def test_an_intel_familys_moe_rows_count_for_that_family_only(tmp_path):
    """Intel's MoE kernels are their own on Vulkan as on SYCL (OWN_MOE_FAMILIES): a Battlemage
    MoE row on Vulkan backs Battlemage's MoE speed there, not an RTX 3090's or an Alchemist's."""
    cov = _coverage_of(
        tmp_path,
        {
            "b": {"kind": "gpu", "db_id": "intel-arc-pro-b70"},
            "g": {"kind": "gpu", "db_id": "nvidia-rtx-3090"},
        },
        [
            {"device": "b", "backend": "vulkan", "active_params_b": 3.0},
            {"device": "b", "backend": "vulkan", "active_params_b": 3.6},
            {"device": "g", "backend": "vulkan"},
        ],
    )
    assert cov.rows("vulkan", "gpu") == 3
    assert cov.moe_rows("vulkan", "gpu", "xe2-hpg") == 2
    assert cov.moe_rows("vulkan", "gpu", "ampere") == 0 and cov.moe_rows("vulkan", "gpu") == 0
    assert cov.moe_rows("vulkan", "gpu", "xe-hpg") == 0


def test_decode_rows_are_counted_per_backend_and_architecture(tmp_path):
    """A row's architecture is its device's own family, else its data/gpus.yaml entry's (as
    the fit reads it); only decode rows count there, and host-limited rows count nowhere,
    not even for the device they ran on."""
    cov = _coverage_of(
        tmp_path,
        {
            "g": {"kind": "gpu", "db_id": "nvidia-rtx-3090"},
            "t": {"kind": "gpu", "db_id": "nvidia-rtx-2080-ti"},
            "c": {"kind": "cpu", "family": "avx2"},
        },
        [
            {"device": "g", "backend": "cuda", "tg128": 100.0},
            {"device": "g", "backend": "cuda", "pp512": 3000.0},
            {"device": "g", "backend": "vulkan", "tg128": 90.0},
            {"device": "t", "backend": "cuda", "tg128": 80.0, "host_limited": True},
            {"device": "c", "backend": "cpu", "tg128": 9.0},
        ],
    )
    assert cov.family_decode_rows("cuda", "ampere") == 1 and cov.family_decode_rows("vulkan", "ampere") == 1
    assert cov.family_decode_rows("cpu", "avx2") == 1
    assert cov.family_decode_rows("cuda", "turing") == 0 and "nvidia-rtx-2080-ti" not in cov.by_gpu
    assert cov.by_gpu["nvidia-rtx-3090"] == 3


def test_an_architecture_without_rows_of_its_own_is_weak_on_a_borrowed_entry(ctx):
    """Datacenter Blackwell (B200, GB200) has no calibration entry: the speed model predicts
    it with the whole CUDA entry, fitted on other architectures' rows only. Such a build says
    so and is weak, while an architecture with an entry of its own is judged by it; Hopper's
    entry rests on one H100 PCIe row, so an H200 build is still weak, for that."""
    from sizing.core.machine import machine_from_gpu
    from sizing.core.purchase import WEAK_ENTRY_ROWS, calibration_strength

    calib, cov = ctx["calib"], ctx["coverage"]
    assert calib.backends["cuda/gpu"].n_decode >= WEAK_ENTRY_ROWS  # the entry alone would pass
    db = {g.id: g for g in ctx["gpus"]}
    for gid, fam in (
        ("nvidia-b200-180gb", "blackwell"),
        ("nvidia-gb200-186gb", "blackwell"),
    ):
        assert f"cuda/{fam}" not in calib.backends and cov.family_decode_rows("cuda", fam) == 0
        c = calibration_strength(machine_from_gpu(db[gid]), gid, cov, calib)
        # (the discrete-card entry: CUDA also has a unified chip's rows, the DGX Spark's)
        assert c.entry == "cuda/gpu" and c.family == fam and c.family_decode_rows == 0 and c.device_rows == 0 and c.weak
        assert f"(no {fam} decode rows), 0 on this device" in c.label
        assert f"weak calibration (no {fam} decode rows behind cuda/gpu, none on this device)" in c.label
    c = calibration_strength(machine_from_gpu(db["nvidia-rtx-3090"]), "nvidia-rtx-3090", cov, calib)
    assert c.entry == "cuda/ampere" and c.family is None and c.family_decode_rows is None and not c.weak
    r = _plan(ctx, "meta-llama/Llama-3.3-70B-Instruct", objective="fastest", budget_usd=40000, limit=500)
    hopper = [o for o in r.options if o.gpu_id == "nvidia-h200-nvl-141gb"]
    assert hopper
    for o in hopper:
        assert o.calibration.weak and "weak calibration" in o.why and "cuda/hopper" in o.calibration.label


def test_a_moe_plan_flags_device_classes_without_public_moe_rows(ctx):
    """A speed for a MoE model on a class fitted on dense rows only is marked weak, and so
    must reach the target at its low estimate: an Arc A770 (Alchemist) on SYCL, whose
    class's MoE rows all ran on Battlemage cards (an Intel family's MoE rows count for that
    family only). A class with public MoE rows of its own (CUDA) is not on its well-covered
    architectures (entries fitted on enough rows: Ada, Ampere), and the same builds for a
    dense model are not."""
    from sizing.core.purchase import WEAK_CLASS_ROWS, WEAK_ENTRY_ROWS, WEAK_MOE_ROWS

    cov = ctx["coverage"]
    assert cov.rows("sycl", "gpu") >= WEAK_CLASS_ROWS and cov.moe_rows("sycl", "gpu", "xe-hpg") < WEAK_MOE_ROWS
    assert cov.moe_rows("sycl", "gpu", "xe2-hpg") >= WEAK_MOE_ROWS
    assert cov.moe_rows("cuda", "gpu") >= WEAK_MOE_ROWS
    moe = _plan(ctx, "Qwen/Qwen3-30B-A3B", target_tps=30, limit=400)
    alchemist = [o for o in moe.options if o.calibration.entry.startswith("sycl/xe-hpg")]
    assert alchemist
    for o in alchemist:
        assert o.calibration.weak and o.calibration.moe_rows == cov.moe_rows("sycl", "gpu", "xe-hpg")
        assert "weak calibration for MoE models" in o.calibration.label
        assert o.decode_low >= 30  # a weak speed meets the target only at its low end

    def covered(o) -> bool:
        c = o.calibration  # an entry of the card's own architecture, fitted on enough rows of several cards
        return (
            c.device_class == "cuda/gpu"
            and c.entry_decode_rows >= WEAK_ENTRY_ROWS
            and c.family_decode_rows is None
            and cov.family_decode_devices("cuda", c.entry.split("/")[-1]) > 1
        )

    cuda = [o for o in moe.options if covered(o)]
    assert {o.calibration.entry for o in cuda} >= {"cuda/ampere", "cuda/ada-lovelace"}
    assert not any(o.calibration.weak for o in cuda)
    dense = _plan(ctx, "meta-llama/Llama-3.1-8B-Instruct", target_tps=30, limit=50)
    cuda = [o for o in dense.options if covered(o)]
    assert cuda and not any(o.calibration.weak or o.calibration.moe_rows is not None for o in cuda)


def test_a_speed_from_a_thin_architecture_entry_is_weak_unless_the_device_has_rows(ctx):
    """The strength is that of the calibration entry that predicts the build, not of its
    device class: a Tesla P100 (Pascal, an entry fitted on fewer than WEAK_ENTRY_ROWS decode
    rows or on rows of one other card, none on the P100) is weak although cuda/gpu is well covered, says so, and meets a
    target only at its low estimate; a Tesla P40 (same entry, public rows of its own) is not."""
    from sizing.core.purchase import WEAK_CLASS_ROWS, WEAK_ENTRY_ROWS

    calib, cov = ctx["calib"], ctx["coverage"]
    pascal = calib.backends["cuda/pascal"]
    assert (pascal.n_decode < WEAK_ENTRY_ROWS or cov.family_decode_devices("cuda", "pascal") == 1) and cov.rows(
        "cuda", "gpu"
    ) >= WEAK_CLASS_ROWS
    assert cov.by_gpu.get("nvidia-tesla-p100-16gb", 0) == 0 and cov.by_gpu["nvidia-tesla-p40"] > 0
    r = _plan(ctx, "meta-llama/Llama-3.1-8B-Instruct", target_tps=20, limit=500)
    p100 = [o for o in r.options if o.gpu_id == "nvidia-tesla-p100-16gb"]
    p40 = [o for o in r.options if o.gpu_id == "nvidia-tesla-p40"]
    assert p100 and p40
    for o in p100:
        c = o.calibration
        assert c.weak and c.entry == "cuda/pascal" and c.entry_decode_rows == pascal.n_decode and c.device_rows == 0
        assert f"cuda/pascal: {pascal.n_decode} decode" in c.label and "weak calibration" in c.label
        assert "weak calibration" in o.why and o.decode_low >= 20
    for o in p40:
        assert o.calibration.entry == "cuda/pascal" and o.calibration.device_rows > 0 and not o.calibration.weak


def test_a_used_price_on_a_weak_basis_is_marked_where_it_prices_a_row(ctx):
    """The P100's and MI50's cited used prices are a best-deal floor and one asking price
    abroad, not sold medians: a row they price says so in its price line, its notes and
    why it ranks there; a row priced on a sound figure does not, nor does a price the user
    gave."""
    book = price_book(ctx["gpus"])
    for gid in ("nvidia-tesla-p100-16gb", "amd-mi50-16gb"):
        p = book.for_card(gid, used=True)
        assert p is not None and p.kind == "used" and p.weak_basis, gid
    r = _plan(ctx, "meta-llama/Llama-3.1-8B-Instruct", objective="cheapest", target_tps=20, limit=500)
    rows = {o.gpu_id: o for o in reversed(r.options)}  # the cheapest row of each card
    for gid in ("nvidia-tesla-p100-16gb", "amd-mi50-16gb"):
        o = rows[gid]
        card = next(ln for ln in o.lines if ln["id"] == gid)
        assert card["weak_basis"] and card["kind"] == "used"
        assert any(n.startswith("weak price basis:") for n in o.notes)
        assert "rests on a weak figure" in o.why
    sound = rows["nvidia-rtx-3060-12gb"]  # a used price from a guide, not marked weak
    assert not any(ln["weak_basis"] for ln in sound.lines) and "weak figure" not in sound.why
    given = PriceOverrides(usd={"nvidia-tesla-p100-16gb": 150.0})
    assert (
        given.price("nvidia-tesla-p100-16gb", book.for_card("nvidia-tesla-p100-16gb", used=True), TODAY).weak_basis
        is None
    )
