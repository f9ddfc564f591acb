"""Server CPU per rerun, page by page, in process (Streamlit's AppTest).

    .venv/bin/python bench/rerun_cpu.py [--reruns N] [--pages run plan ...] [--profile DIR]

Each page is opened once (not counted: imports, data files, first-use caches), then
rerun ``--reruns`` times, half with a view it has not shown yet (a new model, quant,
context or GPU in the query string, as an input change or a shared link asks for) and
half with the view it has just shown (a rerun that changes nothing the page computes
from: another tab on the same link, a widget that only redraws). Printed per page: the
process CPU time per rerun (user + system, every thread: the script thread and what
Streamlit does around it), new views and repeated views apart, and the wire size of the
page's Plotly charts. CPU time rather than wall time, because the machine is shared;
compare runs made side by side.

AppTest's script runner skips what the server does once a run ends: a full garbage
collection when ``runner.postScriptGC`` is on (Streamlit's default), which walks every
object the process holds. Each rerun here does it too, as the project's
``.streamlit/config.toml`` says, so the figures are the server's (the websocket work
itself is bench/load.py's).

``--profile DIR`` also writes one cProfile file per page (the script thread only), to
read with ``python -m pstats``.

``--workers N`` starts the server's worker processes (``sizing.ui.offload``, as ``serve.py``
does) and prints the CPU per rerun of this process (the pages, Streamlit) and of the
workers (the searches) apart: the first is what queues on the server's one interpreter.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import parse_qsl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROFILED = """
import cProfile, sys
from sizing.ui.pages.{page} import render
_pr = sys.modules.setdefault("_bench_profile", type(sys)("_bench_profile"))
if not hasattr(_pr, "p"):
    _pr.p = cProfile.Profile()
_pr.p.enable()
try:
    render()
finally:
    _pr.p.disable()
"""
PLAIN = "from sizing.ui.pages.{page} import render\nrender()"

MODELS = (
    "Qwen/Qwen3-8B",
    "Qwen/Qwen3-30B-A3B",
    "meta-llama/Llama-3.1-8B-Instruct",
    "google/gemma-3-4b-it",
    "Qwen/Qwen3-32B",
    "mistralai/Mistral-7B-Instruct-v0.3",
)
GPUS = ("nvidia-rtx-3090", "nvidia-rtx-4090", "apple-m4-max-40c-64gb", "nvidia-a100-pcie-80gb")
QUANTS = ("Q4_K_M", "Q8_0", "Q5_K_M", "Q6_K")


def _catalog() -> list[str]:
    from sizing.sources.catalog import load_catalog

    return [m.id for m in load_catalog().models]


def gpus_all() -> set[str]:
    from sizing.hardware.db import load_gpus

    return {g.id for g in load_gpus().all}


def _views(page: str, rng: random.Random, models: list[str], gpus: list[str]) -> dict[str, object]:
    """One view of ``page`` a user might ask for, as query parameters."""
    m, g, q = rng.choice(models), rng.choice(gpus), rng.choice(QUANTS)
    ctx = rng.choice((2048, 4096, 8192, 16384, 32768)) + rng.randrange(0, 8) * 256
    if page == "run":  # what bench/load.py asks for: any catalog model, its GPUs and quants
        from bench.load import GPUS as LOAD_GPUS
        from bench.load import _query

        return dict(parse_qsl(_query(rng, _catalog(), [g for g in LOAD_GPUS if g in gpus_all()])))
    if page == "plan":  # other models, or the same ones ranked another way
        if rng.random() < 0.5:
            return {"models": m, "quant": q, "ctx": ctx}
        return {
            "models": models[0],
            "objective": rng.choice(("cheapest", "fastest", "cost-per-token")),
            "tps": rng.choice((5.0, 10.0, 20.0, 40.0)),
            "budget": rng.choice((2000.0, 5000.0, 10000.0)),
        }
    if page == "runs_well":
        return {"hw": "db", "gpu": g, "tps": rng.choice((5.0, 10.0, 20.0))}
    if page == "machine":
        return {"ctx": rng.choice((4096, 8192, 32768)), "quality": rng.choice(("any", "q4", "q8"))}
    if page == "compare":
        if rng.random() < 0.5:
            return {"mode": "gpus", "model": m, "quant": q, "ctx": ctx}
        return {"mode": "models", "gpu": g, "quant": q, "ctx": ctx}
    if page == "finetune":
        return {"model": m, "rank": rng.choice((8, 16, 32, 64)), "seq": rng.choice((1024, 2048, 4096))}
    raise ValueError(page)


def _chart_bytes(at) -> int:
    return sum(len(c.proto.spec) for c in at.get("plotly_chart"))


def _server_run(at):
    """``at.run`` followed by what the server's script runner does after a run."""
    from streamlit import config

    collect = config.get_option("runner.postScriptGC")

    def run() -> None:
        at.run()
        if collect:
            gc.collect(2)

    return run


def _workers_cpu() -> float:
    """CPU seconds (user + system) of this process's worker processes so far."""
    import psutil

    from bench.server import tree_cpu_s

    return sum(tree_cpu_s(c) for c in psutil.Process().children())


def measure(page: str, reruns: int, profile_dir: Path | None, seed: int = 0) -> dict[str, float]:
    from streamlit.testing.v1 import AppTest

    from sizing.hardware.db import load_gpus
    from sizing.sources.catalog import load_catalog

    cat = {m.id for m in load_catalog().models}
    ids = {g.id for g in load_gpus().all}
    models = [m for m in MODELS if m in cat]
    gpus = [g for g in GPUS if g in ids]
    rng = random.Random(seed)
    script = (PROFILED if profile_dir else PLAIN).format(page=page)
    at = AppTest.from_string(script, default_timeout=600)
    run = _server_run(at)
    at.query_params.update(_views(page, rng, models, gpus))
    t0 = time.process_time()
    run()
    first = time.process_time() - t0
    if at.exception:
        raise SystemExit(f"{page}: {at.exception[0].value}")
    if profile_dir:  # the first open is not profiled: imports and first-use caches
        import cProfile

        sys.modules["_bench_profile"].p = cProfile.Profile()
    fresh: list[float] = []
    same: list[float] = []
    w0 = _workers_cpu()
    for i in range(reruns):
        repeat = i % 2 == 1
        if not repeat:
            at.query_params.clear()
            at.query_params.update(_views(page, rng, models, gpus))
        t0 = time.process_time()
        run()
        (same if repeat else fresh).append(time.process_time() - t0)
        if at.exception:
            raise SystemExit(f"{page}: {at.exception[0].value}")
    if profile_dir:
        mod = sys.modules["_bench_profile"]
        mod.p.dump_stats(str(profile_dir / f"{page}.prof"))
        del mod.p
    return {
        "workers": (_workers_cpu() - w0) / max(1, reruns),
        "first": first,
        "fresh": statistics.mean(fresh) if fresh else float("nan"),
        "same": statistics.mean(same) if same else float("nan"),
        "chart_kib": _chart_bytes(at) / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reruns", type=int, default=10)
    ap.add_argument("--pages", nargs="+", default=["run", "plan", "runs_well", "machine", "compare", "finetune"])
    ap.add_argument("--profile", type=Path, default=None, help="write cProfile files here")
    ap.add_argument("--workers", type=int, default=0, help="start this many worker processes, as serve.py does")
    args = ap.parse_args(argv)
    if args.workers:
        from sizing.ui import offload

        offload.start(args.workers)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    from streamlit import config

    print(
        f"load average {os.getloadavg()[0]:.1f}; {args.reruns} reruns per page; "
        f"runner.postScriptGC {config.get_option('runner.postScriptGC')}"
    )
    for page in args.pages:
        r = measure(page, args.reruns, args.profile)
        print(
            f"{page:10s} CPU per rerun: new view {r['fresh'] * 1000:6.0f} ms, same view {r['same'] * 1000:6.0f} ms, "
            f"first open {r['first'] * 1000:6.0f} ms; charts {r['chart_kib']:.0f} KiB"
            + (f"; workers {r['workers'] * 1000:.0f} ms per rerun" if args.workers else ""),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
