"""Load test: N concurrent simulated sessions against one app process.

    .venv/bin/python bench/load.py [--sessions 1 10 50] [--seconds 30] [--think 1.0] [--reruns 1000]

Each session is Streamlit's AppTest driving the whole app (app.py) in its own thread,
all in this one process, sharing its caches as sessions of one server do. A session
changes an input (model, quant, context or GPU, at random), reruns, waits ``--think``
seconds as a person would, and repeats. Printed per level of concurrency: rerun p50/p95
(what each user waits for on the server) and reruns per second.

Then the memory check: the process's RSS before and after ``--reruns`` reruns that walk
through different models, GPUs, contexts and GGUF header uploads, in 10 sessions.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
APP = str(ROOT / "app.py")

GPUS = ("nvidia-rtx-3090", "nvidia-rtx-4090", "nvidia-rtx-4060-ti-16gb", "amd-rx-7900-xtx",
        "apple-m4-max-40c-64gb", "nvidia-a100-pcie-80gb", "nvidia-h100-pcie-80gb", "nvidia-rtx-3060-12gb")
QUANTS = ("Q4_K_M", "Q8_0", "Q5_K_M", "Q6_K", "Q3_K_M")


def _session(params: dict):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(params)
    at.run()
    if at.exception:
        raise RuntimeError(at.exception[0].value)
    return at


def _change(at, rng: random.Random, models: list[str], gpus: list[str]) -> None:
    """One input change a user might make on 'Can I run it?'."""
    what = rng.choice(("model", "quant", "ctx", "gpu"))
    if what == "model":
        at.selectbox(key="run.model").set_value(rng.choice(models))
    elif what == "quant":
        at.selectbox(key="run.quant").set_value(rng.choice(QUANTS))
    elif what == "ctx":
        at.number_input(key="run.ctx").set_value(rng.choice((2048, 4096, 8192, 16384, 32768)) + rng.randrange(0, 8) * 256)
    else:
        at.selectbox(key="run.gpu#0").set_value(rng.choice(gpus))


def _models() -> list[str]:
    from sizing.models.catalog import load_catalog

    return [m.id for m in load_catalog().models if "405B" not in m.id and "671" not in m.name][:40]


def run_level(n: int, seconds: float, think: float, models: list[str], gpus: list[str]) -> dict:
    samples: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def one(i: int) -> None:
        rng = random.Random(i)
        try:
            at = _session({"hw": "db", "gpu": rng.choice(gpus)})
            time.sleep(rng.random() * think)  # sessions do not all start in step
            while time.monotonic() < stop:
                _change(at, rng, models, gpus)
                t0 = time.perf_counter()
                at.run()
                dt = time.perf_counter() - t0
                if at.exception:
                    raise RuntimeError(at.exception[0].value)
                with lock:
                    samples.append(dt)
                time.sleep(think * (0.5 + rng.random()))
        except Exception as exc:  # counted and printed, never silent
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}"[:200])

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    q = statistics.quantiles(samples, n=20) if len(samples) >= 2 else [float("nan")] * 19
    return {"n": n, "reruns": len(samples), "p50": statistics.median(samples) if samples else float("nan"),
            "p95": q[18], "per_s": len(samples) / wall, "errors": errors}


def rss_over_reruns(total: int, models: list[str], gpus: list[str], sessions: int = 10) -> tuple[float, float, float]:
    """RSS (MiB) before, after and after a GC, across ``total`` reruns in ``sessions`` sessions."""
    from sizing.live.packaged import smollm2_path

    header = Path(smollm2_path()).read_bytes()[: 4 * 1024 * 1024]
    proc = psutil.Process()
    # warm: one session of each kind, so first-use imports and caches are in "before"
    warm = _session({"hw": "db", "gpu": gpus[0]})
    _change(warm, random.Random(0), models, gpus)
    warm.run()
    del warm
    gc.collect()
    before = proc.memory_info().rss / 2**20
    per = total // sessions
    done = [0]
    lock = threading.Lock()

    def one(i: int) -> None:
        rng = random.Random(1000 + i)
        at = _session({"hw": "db", "gpu": gpus[i % len(gpus)]})
        for k in range(per):
            if k % 50 == 49:  # now and then a GGUF header upload instead of a catalog model
                at.radio(key="run.src").set_value("file").run()
                at.get("file_uploader")[0].upload(f"upload-{i}-{k}.gguf", header)
                at.run()
                at.radio(key="run.src").set_value("catalog")
            else:
                _change(at, rng, models, gpus)
            at.run()
            with lock:
                done[0] += 1

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = proc.memory_info().rss / 2**20
    gc.collect()
    after_gc = proc.memory_info().rss / 2**20
    return before, after, after_gc, done[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, nargs="+", default=[1, 10, 50])
    ap.add_argument("--seconds", type=float, default=30.0, help="per level of concurrency")
    ap.add_argument("--think", type=float, default=1.0, help="seconds a user waits between changes (mean)")
    ap.add_argument("--reruns", type=int, default=1000)
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import logging

    logging.getLogger("streamlit").setLevel(logging.ERROR)
    models = _models()
    from sizing.hardware.db import load_gpus

    ids = {g.id for g in load_gpus().all}
    gpus = [g for g in GPUS if g in ids]
    print(f"{os.cpu_count()} CPUs; {len(models)} models, {len(gpus)} GPUs; think time {args.think:g} s")
    for n in args.sessions:
        r = run_level(n, args.seconds, args.think, models, gpus)
        print(f"{n:3d} sessions: rerun p50 {r['p50'] * 1000:6.0f} ms, p95 {r['p95'] * 1000:6.0f} ms, "
              f"{r['reruns']} reruns ({r['per_s']:.1f}/s), {len(r['errors'])} errors")
        for e in r["errors"][:3]:
            print(f"    error: {e}")
    if args.reruns:
        before, after, after_gc, done = rss_over_reruns(args.reruns, models, gpus)
        print(f"RSS over {done} reruns (models, GPUs, contexts, uploads): {before:.0f} MiB before, "
              f"{after:.0f} MiB after ({after - before:+.0f} MiB; {after_gc - before:+.0f} MiB after a GC)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
