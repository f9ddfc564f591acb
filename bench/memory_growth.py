"""Server memory over many reruns: does the process grow with every new model or upload?

A long-running app re-resolves models and reads uploaded GGUF headers on every rerun, so
each rerun hands the core *new* architecture and tensor objects. This script plays 1,000
such reruns (a fresh ModelArch per rerun, every fifth one with its own tensor list, as an
upload is) through the memory estimate and the solver on one GPU, and prints the
process's resident memory and the size of every core cache as it goes. With bounded
caches keyed by value the RSS levels off instead of climbing.

Run: .venv/bin/python bench/memory_growth.py [reruns]
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402

from sizing.core import quant, solver, tensors  # noqa: E402
from sizing.core.machine import machine_from_gpu  # noqa: E402
from sizing.core.memory import estimate as memory  # noqa: E402
from sizing.core.memory.estimate import estimate_memory  # noqa: E402
from sizing.core.quant import apply_recipe  # noqa: E402
from sizing.core.scenario import Scenario  # noqa: E402
from sizing.core.speed import estimate as speed  # noqa: E402
from sizing.core.speed.calibration import load_calibration  # noqa: E402
from sizing.units import MIB  # noqa: E402
from sizing.hardware.db import load_gpus  # noqa: E402
from sizing.sources.catalog import load_catalog  # noqa: E402

CACHES = {
    "tensors": tensors._tensors,
    "prepare": quant._prepare,
    "prepare_large": quant._prepare_large,
    "recipe_weights": memory.recipe_weights,
    "file_weights": memory._file_weights,
    "basis": memory._basis,
    "typed": quant.recipe_tensors,
    "traffic": solver._traffic_memo,
    "memory": solver._memory,
    "decode_factors": speed._decode_factors,
}


def rss_mib() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / MIB


def main(reruns: int = 1000) -> None:
    cat = load_catalog()
    models = [
        cat.get(m)
        for m in ("Qwen/Qwen3-8B", "meta-llama/Llama-3.1-8B-Instruct", "google/gemma-3-4b-it")
        if m in {a.id for a in cat.models}
    ] or list(cat.models[:3])
    hw = machine_from_gpu(load_gpus().get("nvidia-rtx-4090"))
    calib = load_calibration()
    print(
        f"{reruns} reruns over {len(models)} models on {hw.name}; a new ModelArch each rerun, "
        "every fifth with its own tensor list (an upload)"
    )
    print(f"{'rerun':>6} {'RSS MiB':>9}  cache sizes")
    base = rss_mib()
    for i in range(reruns + 1):
        if i % (reruns // 5 or 1) == 0:
            sizes = " ".join(f"{k}={c.cache_info().currsize}" for k, c in CACHES.items())
            print(f"{i:>6} {rss_mib():>9.1f}  {sizes}", flush=True)
        if i == reruns:
            break
        src = models[i % len(models)]
        # what a re-resolution or an upload produces: an equal or new architecture object
        arch = src.model_copy(update={"id": f"{src.id}#{i}", "source": f"rerun {i}"})
        q = ("Q4_K_M", "Q8_0", "Q5_K_M")[i % 3]
        own = None
        if i % 5 == 0:
            own = tuple(apply_recipe(arch, tensors.tensors_for(arch), q))
        estimate_memory(Scenario(model=arch, quant=q, tensors=own, ctx=4096 * (1 + i % 4)))
        solver.solve(arch, q, 4096, hw, calib, tensors=own)
    print(f"growth: {rss_mib() - base:+.1f} MiB over {reruns} reruns")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
