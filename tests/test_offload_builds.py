""" "1 GPU + N GB RAM" builds: how people run big MoE models, priced whole and ranked by ``purchase.plan``."""

from __future__ import annotations

import datetime as dt

import pytest

from sizing.core.hosts import gpu_host_ram_gb
from sizing.core.builds import all_builds, offload_builds
from sizing.core.commands import llama_server_argv
from sizing.core.platforms import load_platforms
from sizing.core.prices import PriceOverrides, price_book
from sizing.core.purchase import memory_need, offload_ram_sizer, plan
from sizing.core.solver import solve
from sizing.core.speed.calibration import load_calibration
from sizing.core.speed.coverage import bench_coverage
from sizing.hardware.db import load_gpus
from sizing.sources.catalog import load_catalog
from sizing.units import GIB

TODAY = dt.date(2026, 12, 1)
CTX = 32768


@pytest.fixture(scope="module")
def ctx():
    return {"calib": load_calibration(), "gpus": load_gpus().all, "cat": load_catalog(), "coverage": bench_coverage()}


def _builds(ctx, arch, gpus=None, **kw):
    """The builds the plan CLI and the Plan page price for ``arch`` (same composition)."""
    need = memory_need([arch], "Q4_K_M", CTX, ctx["calib"])
    builds, _ = all_builds(
        gpus or ctx["gpus"],
        used=False,
        overrides=PriceOverrides(),
        today=TODAY,
        ram_need_gb=need.cpu_ram_gib,
        offload=arch.is_moe,
        model_gb=need.core_gib,
        ram_for=offload_ram_sizer([arch], "Q4_K_M", CTX, ctx["calib"]),
        host_ram_gb=gpu_host_ram_gb(need.weights_gib),
        **kw,
    )
    return builds, need


def test_offload_ram_is_priced_from_the_one_ram_table(ctx):
    """The RAM of an offload build is a line of prices.yaml's per-GB table, dated, kinded and cited."""
    arch = ctx["cat"].get("openai/gpt-oss-120b")
    builds, _ = _builds(ctx, arch, cpu_only=False)
    book = price_book(ctx["gpus"])
    plats = {p.id: p for p in load_platforms()[0]}
    off = [b for b in builds if b.kind == "offload"]
    ram_lines = [(b, ln) for b in off for ln in b.lines if ln.item_id.startswith("ram-")]
    assert ram_lines
    for b, ln in ram_lines:
        table = book.ram[plats[b.platform_id].ram_type]
        assert (ln.unit.usd, ln.unit.kind, ln.unit.date, ln.unit.source) == (
            table.usd_per_gb,
            table.kind,
            table.date,
            table.source,
        )
        assert ln.usd == pytest.approx(ln.qty * table.usd_per_gb)


def test_dense_models_get_no_offload_builds(ctx):
    arch = ctx["cat"].get("meta-llama/Llama-3.1-8B-Instruct")
    sizer = offload_ram_sizer([arch], "Q4_K_M", 8192, ctx["calib"])
    platforms = load_platforms()[0]
    assert (
        offload_builds(
            ctx["gpus"], platforms, price_book(ctx["gpus"]), ram_need_gb=64, model_gb=1e6, today=TODAY, ram_for=sizer
        )
        == []
    )


@pytest.mark.parametrize("model", ["openai/gpt-oss-120b", "Qwen/Qwen3-235B-A22B"])
def test_plan_ranks_one_gpu_plus_ram_cheaper_than_many_cards(ctx, model):
    arch = ctx["cat"].get(model)
    builds, need = _builds(ctx, arch)
    r = plan(
        [arch],
        builds,
        quant="Q4_K_M",
        ctx=CTX,
        calib=ctx["calib"],
        coverage=ctx["coverage"],
        today=TODAY,
        objective="cheapest",
        core_gib=need.core_gib,
        limit=1000,
    )
    one = [o for o in r.options if o.kind == "offload" and o.count == 1]
    # whole builds stop at 7 cards on a platform (6 in the boxes sold whole): the many-card
    # builds that hold the model on their cards are the ones RAM for the experts replaces
    many = [o for o in r.options if o.count >= 4 and o.kind in ("gpu-build", "system")]
    assert one, "no 1 GPU + RAM build ranked"
    assert many, "no 4+ card build holds the model: nothing to compare with"
    cheapest = one[0]  # options are ranked by price
    assert "RAM" in cheapest.label and all(cheapest.price_usd < o.price_usd for o in many)
    m = cheapest.models[0]
    assert m.fits and m.decode_tokens_per_s and m.llama_server
    assert "--n-cpu-moe" in m.llama_server or "exps=CPU" in m.llama_server
    # the build's RAM holds what the placement puts there, and the card what it keeps
    assert "experts of the first" in m.how or "all routed experts" in m.how


def test_offload_build_memory_both_sides(ctx):
    arch = ctx["cat"].get("openai/gpt-oss-120b")
    gpu = next(g for g in ctx["gpus"] if g.name == "NVIDIA GeForce RTX 4090")
    builds, _ = _builds(ctx, arch, gpus=[gpu], cpu_only=False)
    one = [b for b in builds if b.kind == "offload" and b.count == 1]
    assert one
    b = min(one, key=lambda b: b.total_usd)
    plan_ = solve(arch, "Q4_K_M", CTX, b.hardware, ctx["calib"])
    gpu_side, host = plan_.placement.devices[0], plan_.placement.devices[-1]
    assert plan_.fits and plan_.placement.n_cpu_moe > 0
    assert gpu_side.used_bytes <= gpu_side.capacity_bytes and host.used_bytes <= b.ram_gb * GIB
    # the card's compute buffer carries a copy of one layer's RAM-resident experts
    assert gpu_side.parts.compute_bytes > plan_.memory.compute_bytes
    argv = llama_server_argv(plan_.placement, model_path="m.gguf", ctx=CTX)
    assert "--n-cpu-moe" in argv and argv[argv.index("--n-cpu-moe") + 1] == str(plan_.placement.n_cpu_moe)
