"""Solver answers, checked for consistency with the placement they come from."""

from __future__ import annotations

import pytest

from sizing.core.speed.calibration import load_calibration
from sizing.errors import SizingError
from sizing.hardware.db import load_gpus
from sizing.sources.catalog import load_catalog
from sizing.units import GIB
from sizing.core.machine import HostSpec, machine_from_gpu
from sizing.core.solver import (
    CTX_STEP,
    QUANT_LADDER,
    best_quant,
    fit,
    largest_context,
    max_parallel_users,
    rank_catalog,
    solve,
)

HOST = HostSpec(name="test host", ram_bytes=64 * GIB, bandwidth_gbs=89.6, threads=8)


@pytest.fixture(scope="module")
def calib():
    return load_calibration()


@pytest.fixture(scope="module")
def db():
    return load_gpus()


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


def hw(db, name, n=1):
    return machine_from_gpu(db.match(name).gpu, n, host=HOST)


def test_best_quant_is_the_highest_that_fits_and_the_next_does_not(db, cat, calib):
    arch = cat.get("Qwen/Qwen3-14B")
    machine = hw(db, "RTX 4080")  # 16 GB
    plan = best_quant(arch, 8192, machine, calib)
    assert plan and plan.fits and plan.placement.all_on_gpu and plan.speed
    i = QUANT_LADDER.index(plan.quant)
    assert i > 0  # F16 of a 14B model cannot fit 16 GB
    better = solve(arch, QUANT_LADDER[i - 1], 8192, machine, calib, with_speed=False)
    assert not (better.fits and better.placement.all_on_gpu)


def test_more_memory_never_gives_a_worse_quant(db, cat, calib):
    arch = cat.get("meta-llama/Llama-3.1-8B-Instruct")
    order = [
        QUANT_LADDER.index(best_quant(arch, 8192, hw(db, n), calib).quant) for n in ("RTX 4060", "RTX 4080", "RTX 4090")
    ]
    assert order == sorted(order, reverse=True)


def test_largest_context_fits_and_one_step_more_does_not(db, cat, calib):
    arch = cat.get("meta-llama/Llama-3.1-8B-Instruct")
    machine = hw(db, "RTX 4060")  # 8 GB
    lim = largest_context(arch, "Q4_K_M", machine, calib)
    assert lim.on_gpu and lim.on_gpu % CTX_STEP == 0 and lim.on_gpu < arch.max_context
    at = solve(arch, "Q4_K_M", lim.on_gpu, machine, calib, with_speed=False)
    over = solve(arch, "Q4_K_M", lim.on_gpu + CTX_STEP, machine, calib, with_speed=False)
    assert at.placement.all_on_gpu and not (over.fits and over.placement.all_on_gpu)
    assert lim.with_offload >= lim.on_gpu


def test_parallel_users_meet_the_floor_and_one_more_does_not(db, cat, calib):
    arch = cat.get("meta-llama/Llama-3.1-8B-Instruct")
    machine = hw(db, "RTX 4090")
    r = max_parallel_users(arch, "Q4_K_M", 4096, machine, calib, min_tokens_per_s=20)
    assert r.users >= 2 and r.per_user_tokens_per_s >= 20
    more = max_parallel_users(
        arch, "Q4_K_M", 4096, machine, calib, min_tokens_per_s=r.per_user_tokens_per_s + 0.01, limit=r.users
    )
    assert more.users <= r.users
    with pytest.raises(SizingError):
        max_parallel_users(arch, "Q4_K_M", 4096, machine, calib, min_tokens_per_s=0)


def test_context_beyond_the_model_is_sized_but_never_proposed(db, cat, calib):
    arch = cat.get("meta-llama/Llama-3.2-1B-Instruct")
    machine = hw(db, "RTX 4090")
    over = solve(arch, "Q4_K_M", arch.max_context + CTX_STEP, machine, calib, with_speed=False)
    at = solve(arch, "Q4_K_M", arch.max_context, machine, calib, with_speed=False)
    assert over.memory.kv_cache_bytes > at.memory.kv_cache_bytes
    assert largest_context(arch, "Q4_K_M", machine, calib).with_offload <= arch.max_context
    with pytest.raises(SizingError):
        solve(arch, "Q4_K_M", 0, machine, calib)


def test_catalog_ranking_puts_gpu_fits_first(db, cat, calib):
    models = [
        cat.get(m)
        for m in (
            "meta-llama/Llama-3.2-1B-Instruct",
            "meta-llama/Llama-3.1-70B-Instruct",
            "Qwen/Qwen3-8B",
            "meta-llama/Llama-3.1-405B-Instruct",
        )
    ]
    rows = rank_catalog(models, hw(db, "RTX 4090"), calib, ctx=4096, with_context=False)
    flags = [(r.fits, r.on_gpu) for r in rows]
    assert flags == sorted(flags, reverse=True)
    by = {r.model_id: r for r in rows}
    assert by["Qwen/Qwen3-8B"].on_gpu and by["meta-llama/Llama-3.2-1B-Instruct"].on_gpu
    assert not by["meta-llama/Llama-3.1-405B-Instruct"].fits
    assert by["meta-llama/Llama-3.2-1B-Instruct"].decode_tokens_per_s > by["Qwen/Qwen3-8B"].decode_tokens_per_s


def test_the_solvers_caches_keep_no_files_tensor_list(db, calib, smollm2_gguf):
    """A GGUF's tensor list is only a key's hash in the solver's caches: an uploaded header
    can carry tens of MB of tensors, and a thousand cache entries must not keep them."""
    import gc
    import sys

    from sizing.sources.gguf_reader import read_gguf

    g = read_gguf(smollm2_gguf)
    tensors = tuple(g.tensors)
    gc.collect()
    # the scenario validates its own tuple of the same specs: any list kept holds each spec
    before = [sys.getrefcount(t) for t in tensors]
    plans = [solve(g.arch, g.file_type, ctx, hw(db, "nvidia-rtx-4090"), calib, tensors=tensors) for ctx in (2048, 4096)]
    del plans
    gc.collect()
    assert [sys.getrefcount(t) for t in tensors] == before


def test_fit_reads_the_same_search_as_solve(db, cat, calib):
    """``fit`` (what the fit map and the bisections ask) gives ``solve``'s memory, fits and
    all-on-GPU for dense, MoE and hybrid models on one, two and mixed GPUs, a unified
    machine and the CPU alone, across the quants and contexts a fit map shows, at the
    edges too (where the search moves layers or experts to RAM)."""
    from sizing.core.machine import cpu_hardware, machine_from_gpus
    from sizing.core.placement import PlacementOptions

    machines = [
        hw(db, "nvidia-rtx-3060-12gb"),
        hw(db, "nvidia-rtx-3090", 2),
        machine_from_gpus([db.get("nvidia-rtx-4090"), db.get("nvidia-rtx-3060-12gb")], host=HOST),
        machine_from_gpu(db.get("apple-m4-max-40c-64gb"), host=HOST),
        cpu_hardware("test CPU", ram_bytes=32 * GIB, bandwidth_gbs=60.0, threads=8),
    ]
    models = [cat.get(m) for m in ("Qwen/Qwen3-8B", "Qwen/Qwen3-30B-A3B", "google/gemma-3-4b-it")]
    seen = set()
    for arch in models:
        for machine in machines:
            for q in ("F16", "Q8_0", "Q4_K_M", "Q2_K"):
                for ctx in (2048, 32768, 131072):
                    for kw in ({}, {"n_parallel": 2, "kv_type_k": "q8_0", "kv_type_v": "q8_0"}):
                        p = solve(arch, q, ctx, machine, calib, with_speed=False, **kw)
                        f = fit(arch, q, ctx, machine, **kw)
                        assert (f.memory, f.fits, f.all_on_gpu) == (p.memory, p.fits, p.placement.all_on_gpu)
                        seen.add((p.fits, p.placement.all_on_gpu, bool(p.placement.n_cpu_moe)))
    # the cases cover every verdict: on the GPU, partly in RAM (layers or experts), no fit
    assert {(True, True, False), (True, False, False), (True, False, True), (False, False, False)} <= seen
    for opts in (
        PlacementOptions(n_gpu_layers=10),
        PlacementOptions(cpu_moe=True),
        PlacementOptions(split_mode="tensor"),
    ):
        arch = cat.get("Qwen/Qwen3-30B-A3B")
        for machine in machines[:3]:
            p = solve(arch, "Q4_K_M", 8192, machine, calib, with_speed=False, options=opts)
            f = fit(arch, "Q4_K_M", 8192, machine, options=opts)
            assert (f.memory, f.fits, f.all_on_gpu) == (p.memory, p.fits, p.placement.all_on_gpu)
