"""Sweep: every catalog model × every GPU in the database × 6 quants × 4 contexts,
each placed (llama.cpp's layer split, MoE expert offload, unified memory) and timed.

Memory estimates and typed tensors are memoised per (model, quant, ctx); placement and
decode speed for all GPUs of one (model, quant, ctx) are evaluated together
(sizing.core.placement.place_many). Prints the wall time, cold (first run, includes typing
every model's tensors with the quant recipe) and warm (memoised), and a few results.

Run: .venv/bin/python bench/sweep.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sizing.core.speed.calibration import load_calibration  # noqa: E402
from sizing.hardware.db import load_gpus  # noqa: E402
from sizing.sources.catalog import load_catalog  # noqa: E402
from sizing.core.placement import place_many  # noqa: E402
from sizing.core.machine import DEFAULT_HOST, apple_working_set_fraction  # noqa: E402
from sizing.core.scenario import Scenario  # noqa: E402
from sizing.core.quant import recipe_tensors  # noqa: E402
from sizing.core.solver import memory_for, traffic_for  # noqa: E402
from sizing.core.speed.estimate import decode_tokens_per_s_many  # noqa: E402
from sizing.units import GIB  # noqa: E402

QUANTS = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K")
CONTEXTS = (2048, 8192, 32768, 131072)


def machines():
    cap, host_cap, unified, bw, backend, names = [], [], [], [], [], []
    for g in load_gpus().all:
        if g.memory_gb is None or g.memory_bandwidth_gbs is None:
            continue
        if not any(b != "cpu" for b in g.backends):  # llama.cpp cannot drive it (e.g. Gaudi)
            continue
        mem = int(g.memory_gb * GIB)
        if g.unified_memory:
            share = apple_working_set_fraction(g.memory_gb) if g.vendor == "apple" else 1.0
            cap.append(int(mem * share))
            host_cap.append(mem)
        else:
            cap.append(mem)
            host_cap.append(DEFAULT_HOST.ram_bytes)
        unified.append(g.unified_memory)
        bw.append(g.memory_bandwidth_gbs)
        backend.append(next((b for b in g.backends if b != "cpu"), "vulkan"))
        names.append(g.name)
    return cap, host_cap, unified, bw, backend, names


def sweep(models, calib, m):
    cap, host_cap, unified, bw, backend, names = m
    host_bw = [DEFAULT_HOST.bandwidth_gbs if not u else b for u, b in zip(unified, bw)]
    kinds = ["unified" if u else "gpu" for u in unified]
    count = fits = 0
    best = {}
    for arch in models:
        for q in QUANTS:
            traffic = traffic_for(arch, q)
            typed = recipe_tensors(arch, q)
            for ctx in CONTEXTS:
                c = min(ctx, arch.max_context)
                mem = memory_for(
                    Scenario(model=arch, quant=q, tensors=typed, ctx=c, backend="cuda"), tensors_key="recipe"
                )
                r = place_many(traffic, mem, cap, host_capacity=host_cap, unified=unified, ctx=c)
                tps = decode_tokens_per_s_many(
                    r.gpu_read_bytes,
                    r.host_read_bytes,
                    bw,
                    host_bw,
                    backend,
                    calib,
                    kinds,
                    host_threads=DEFAULT_HOST.threads,
                    gpu_moe_layers=r.gpu_moe_layers,
                    gpu_layers=np.clip(np.asarray(r.gpu_layers) - 1, 0, len(traffic.layers)),
                )
                count += len(cap)
                fits += sum(r.fits)
                if q == "Q4_K_M" and ctx == 8192:
                    best[arch.id] = max(((t, n) for t, n, f in zip(tps, names, r.fits) if f), default=(0.0, "—"))
    return count, fits, best


def main() -> int:
    models = load_catalog().models
    calib = load_calibration()
    m = machines()
    t0 = time.perf_counter()
    count, fits, best = sweep(models, calib, m)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    sweep(models, calib, m)
    warm = time.perf_counter() - t0
    print(
        f"{len(models)} models × {len(m[0])} GPUs × {len(QUANTS)} quants × {len(CONTEXTS)} contexts "
        f"= {count} placements, {fits} fit"
    )
    print(f"cold (typing tensors + memory estimates): {cold:.2f} s; warm (memoised): {warm:.2f} s (target < 2 s)")
    for mid in ("meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen3-30B-A3B", "meta-llama/Llama-3.1-70B-Instruct"):
        if mid in best:
            t, n = best[mid]
            print(f"  fastest single device for {mid} Q4_K_M @8192: {n} ({t:.0f} tok/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
