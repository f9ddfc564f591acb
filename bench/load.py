"""Load test: N concurrent sessions against one server, over Streamlit's own websocket.

    .venv/bin/python bench/load.py [--sessions 1 10 50] [--seconds 30] [--think 1.0] [--reruns 1000]

The server is `streamlit run serve.py` (what `make run` runs). Each simulated session is
what a browser tab does on the wire: it opens ``/_stcore/stream`` and sends ``rerun_script``
messages (Streamlit's BackMsg protobuf) whose query string changes model, quant, context
or GPU, as a user's input change or shared link does, and waits for ``script_finished``.
Between reruns it waits ``--think`` seconds (0.5–1.5× at random), as a person would.
Printed per level of concurrency: rerun p50/p95 (request sent to script finished),
reruns per second, the server's CPU time per rerun (user + system, its whole process
tree: what a rerun costs, little moved by other load on a shared machine) and the load
average when the level started (on a shared machine, compare runs made side by side).

Then the memory check: the server's RSS (its whole process tree) before and after
``--reruns`` reruns in 10 sessions, walking through different models, GPUs and contexts.
Uploads go through HTTP with a cookie-bound XSRF token, so they are measured apart, in
process: RSS before and after 200 GGUF-header uploads sized by "Can I run it?" (AppTest).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.devserver import streamlit_server  # noqa: E402
from sizing.units import MIB  # noqa: E402

GPUS = (
    "nvidia-rtx-3090",
    "nvidia-rtx-4090",
    "nvidia-rtx-4060-ti-16gb",
    "amd-rx-7900-xtx",
    "apple-m4-max-40c-64gb",
    "nvidia-a100-pcie-80gb",
    "nvidia-h100-pcie-80gb",
    "nvidia-rtx-3060-12gb",
)
QUANTS = ("Q4_K_M", "Q8_0", "Q5_K_M", "Q6_K", "Q3_K_M")


def _models() -> list[str]:
    from sizing.sources.catalog import load_catalog

    return [m.id for m in load_catalog().models]


def _query(rng: random.Random, models: list[str], gpus: list[str]) -> str:
    """One view a user might ask for on 'Can I run it?'."""
    ctx = rng.choice((2048, 4096, 8192, 16384, 32768)) + rng.randrange(0, 8) * 256
    q = {
        "model": rng.choice(models),
        "quant": rng.choice(QUANTS),
        "ctx": ctx,
        "hw": "db",
        "gpu": rng.choice(gpus),
        "count": rng.choice((1, 1, 2)),
    }
    return urlencode(q)


class Session:
    """One browser tab on the wire: a websocket and rerun requests."""

    def __init__(self, url: str) -> None:
        self.ws_url = url.replace("http://", "ws://") + "/_stcore/stream"
        self.origin = url
        self.ws = None

    async def open(self) -> None:
        import websockets

        self.ws = await websockets.connect(
            self.ws_url,
            subprotocols=["streamlit"],
            max_size=2**26,
            origin=self.origin,
            open_timeout=60,
            ping_interval=None,
        )  # a browser does not ping; a busy server must not be cut off

    async def rerun(self, query: str, timeout_s: float = 180) -> float:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        msg = BackMsg()
        msg.rerun_script.query_string = query
        msg.rerun_script.page_script_hash = ""
        t0 = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        deadline = t0 + timeout_s
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), timeout=max(0.1, deadline - time.perf_counter()))
            fwd = ForwardMsg()
            fwd.ParseFromString(raw)
            if fwd.WhichOneof("type") == "script_finished":
                if fwd.script_finished != ForwardMsg.FINISHED_SUCCESSFULLY:
                    raise RuntimeError(f"script ended with status {fwd.script_finished}")
                return time.perf_counter() - t0

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
            self.ws = None


async def _level(url: str, n: int, seconds: float, think: float, models, gpus, tag: str = "") -> dict:
    """``n`` sessions for ``seconds``; session i draws its views from a generator seeded by
    ``tag`` and i, so no level replays another's views (or the warm-up's) from the server's caches."""
    samples: list[float] = []
    errors: list[str] = []
    opened = 0
    all_open = asyncio.Event()
    clock: list[float] = []

    async def one(i: int) -> None:
        nonlocal opened
        rng = random.Random(f"{tag or n}/{i}")
        s = Session(url)
        try:
            await s.open()
            await s.rerun(_query(rng, models, gpus))  # the page's first render: not counted
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
            await s.close()
            return
        finally:
            opened += 1
            if opened == n:
                clock.append(time.monotonic())
                all_open.set()
        try:
            await all_open.wait()  # the clock runs once every session is open
            stop = time.monotonic() + seconds
            await asyncio.sleep(rng.random() * think)
            while time.monotonic() < stop:
                samples.append(await s.rerun(_query(rng, models, gpus)))
                await asyncio.sleep(think * (0.5 + rng.random()))
        except Exception as exc:  # counted and printed, never silent
            errors.append(f"{type(exc).__name__}: {exc}"[:200])
        finally:
            await s.close()

    await asyncio.gather(*(one(i) for i in range(n)))
    wall = time.monotonic() - clock[0]
    q = statistics.quantiles(samples, n=20) if len(samples) >= 2 else [float("nan")] * 19
    return {
        "n": n,
        "reruns": len(samples),
        "p50": statistics.median(samples) if samples else float("nan"),
        "p95": q[18],
        "per_s": len(samples) / wall,
        "errors": errors,
    }


async def _many(url: str, total: int, models, gpus, sessions: int = 10) -> int:
    done = 0

    async def one(i: int) -> None:
        nonlocal done
        rng = random.Random(1000 + i)
        s = Session(url)
        await s.open()
        try:
            for _ in range(total // sessions):
                await s.rerun(_query(rng, models, gpus))
                done += 1
        finally:
            await s.close()

    await asyncio.gather(*(one(i) for i in range(sessions)))
    return done


def _server_tree(port: int) -> list[psutil.Process]:
    """The process listening on ``port`` and its children."""
    for c in psutil.net_connections(kind="tcp"):
        if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN and c.pid:
            p = psutil.Process(c.pid)
            return [p, *p.children(recursive=True)]
    raise SystemExit(f"no server listening on port {port}")


def _server_rss_mib(port: int) -> float:
    """RSS of the server's process tree."""
    return sum(x.memory_info().rss for x in _server_tree(port)) / MIB


def _server_cpu_s(port: int) -> float:
    """CPU seconds (user + system) the server's process tree has used so far."""
    return sum(sum(x.cpu_times()[:2]) for x in _server_tree(port))


def uploads_rss(n: int = 200) -> tuple[float, float, float]:
    """In process: RSS before/after ``n`` GGUF-header uploads sized on 'Can I run it?'."""
    from streamlit.testing.v1 import AppTest

    from sizing.live.packaged import smollm2_path

    header = Path(smollm2_path()).read_bytes()[: 4 * MIB]
    at = AppTest.from_string("from sizing.ui.pages.run import render\nrender()", default_timeout=120)
    at.query_params.update({"src": "file", "hw": "db", "gpu": "nvidia-rtx-3090"})
    at.run()
    up = at.get("file_uploader")[0]
    up.upload("warm.gguf", header)
    at.run()
    gc.collect()
    proc = psutil.Process()
    before = proc.memory_info().rss / MIB
    for k in range(n):
        at.get("file_uploader")[0].upload(f"upload-{k}.gguf", header)
        at.run()
        if at.exception:
            raise SystemExit(f"upload {k}: {at.exception[0].value}")
    after = proc.memory_info().rss / MIB
    gc.collect()
    return before, after, proc.memory_info().rss / MIB


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, nargs="+", default=[1, 10, 50])
    ap.add_argument("--seconds", type=float, default=30.0, help="per level of concurrency")
    ap.add_argument("--think", type=float, default=1.0, help="seconds a user waits between changes (mean)")
    ap.add_argument("--reruns", type=int, default=1000)
    ap.add_argument("--uploads", type=int, default=200)
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sizing.hardware.db import load_gpus

    models = _models()
    ids = {g.id for g in load_gpus().all}
    gpus = [g for g in GPUS if g in ids]
    print(f"{os.cpu_count()} CPUs; {len(models)} models, {len(gpus)} GPUs; think time {args.think:g} s")
    with streamlit_server(timeout_s=120) as url:
        port = int(url.rsplit(":", 1)[1])
        asyncio.run(_level(url, 1, 5, 0.2, models, gpus, tag="warm-up"))  # imports, data files, first-use caches
        for n in args.sessions:
            load1 = os.getloadavg()[0]
            cpu0 = _server_cpu_s(port)
            r = asyncio.run(_level(url, n, args.seconds, args.think, models, gpus))
            cpu = (_server_cpu_s(port) - cpu0) / max(1, r["reruns"] + n)  # each session's first render too
            print(
                f"{n:3d} sessions: rerun p50 {r['p50'] * 1000:6.0f} ms, p95 {r['p95'] * 1000:6.0f} ms, "
                f"{r['reruns']} reruns ({r['per_s']:.1f}/s), server CPU {cpu * 1000:.0f} ms/rerun, "
                f"load average {load1:.1f}, {len(r['errors'])} errors",
                flush=True,
            )
            for e in r["errors"][:3]:
                print(f"    error: {e}")
        if args.reruns:
            before = _server_rss_mib(port)
            done = asyncio.run(_many(url, args.reruns, models, gpus))
            after = _server_rss_mib(port)
            print(
                f"server RSS over {done} reruns (different models, quants, contexts, GPUs): "
                f"{before:.0f} MiB before, {after:.0f} MiB after ({after - before:+.0f} MiB)",
                flush=True,
            )
    if args.uploads:
        b, a, g = uploads_rss(args.uploads)
        print(
            f"RSS over {args.uploads} GGUF-header uploads (in process, AppTest): {b:.0f} MiB before, "
            f"{a:.0f} MiB after ({a - b:+.0f} MiB; {g - b:+.0f} MiB after a GC)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
