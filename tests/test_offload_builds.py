""""1 GPU + N GB RAM" builds: how people run big MoE models, ranked by the planner."""

from __future__ import annotations

import pytest

from sizing.core.speed.calibration import load_calibration
from sizing.core.commands import llama_server_argv
from sizing.hardware.db import load_gpus
from sizing.sources.catalog import load_catalog
from sizing.core.offload_builds import offload_candidates, ram_price
from sizing.core.planner import plan_purchase
from sizing.units import GIB


@pytest.fixture(scope="module")
def ctx():
    return {"calib": load_calibration(), "gpus": load_gpus().all, "cat": load_catalog()}


def test_ram_price_is_cited():
    p = ram_price()
    assert p.usd_per_gb > 0 and p.source.startswith("https://") and p.date
    assert max(p.sizes_gb) <= 256  # a desktop board


def test_dense_models_get_no_offload_builds(ctx):
    arch = ctx["cat"].get("meta-llama/Llama-3.1-8B-Instruct")
    assert offload_candidates(ctx["gpus"], [arch], quant="Q4_K_M", ctx=8192, calib=ctx["calib"]) == []


@pytest.mark.parametrize("model", ["openai/gpt-oss-120b", "Qwen/Qwen3-235B-A22B"])
def test_plan_ranks_one_gpu_plus_ram_cheaper_than_eight_cards(ctx, model):
    arch = ctx["cat"].get(model)
    r = plan_purchase([arch], quant="Q4_K_M", ctx=32768, calib=ctx["calib"], gpus=ctx["gpus"], limit=1000)
    builds = [o for o in r.options if "RAM" in o.label]
    eight = [o for o in r.options if o.count == 8]
    assert builds, "no 1 GPU + RAM build ranked"
    cheapest = min(builds, key=lambda o: o.price_usd)
    assert all(cheapest.price_usd < o.price_usd for o in eight)
    m = cheapest.models[0]
    assert m.fits and m.decode_tokens_per_s and m.command
    assert "--n-cpu-moe" in m.command or "exps=CPU" in m.command
    # the build's RAM holds what the placement puts there, and the card what it keeps
    assert "experts of the first" in m.how or "all routed experts" in m.how


def test_offload_build_memory_both_sides(ctx):
    arch = ctx["cat"].get("openai/gpt-oss-120b")
    gpu = next(g for g in ctx["gpus"] if g.name == "NVIDIA GeForce RTX 4090")
    builds = offload_candidates([gpu], [arch], quant="Q4_K_M", ctx=32768, calib=ctx["calib"])
    assert len(builds) == 1
    b = builds[0]
    from sizing.core.solver import solve

    plan = solve(arch, "Q4_K_M", 32768, b.hardware, ctx["calib"])
    gpu_side, host = plan.placement.devices[0], plan.placement.devices[-1]
    assert plan.fits and plan.placement.n_cpu_moe > 0
    assert gpu_side.used_bytes <= gpu_side.capacity_bytes and host.used_bytes <= b.ram_gb * GIB
    # the card's compute buffer carries a copy of one layer's RAM-resident experts
    assert gpu_side.parts.compute_bytes > plan.memory.compute_bytes
    argv = llama_server_argv(plan.placement, model_path="m.gguf", ctx=32768)
    assert "--n-cpu-moe" in argv and argv[argv.index("--n-cpu-moe") + 1] == str(plan.placement.n_cpu_moe)
