"""The external runner: the user's own llama.cpp binaries (CUDA, Metal, Vulkan, ROCm builds).

GPU users usually already have a llama.cpp built for their card; measuring with it is
more faithful than our CPU wheel. We use what is there:

* ``llama-server`` (preferred for memory): loaded at the scenario's exact context, it
  prints every buffer; one ``/completion`` request with the prompt as token ids gives
  load, prompt and generation timings. Driven by ``sizing.live.external_child`` so the
  server, its port and its shutdown all stay inside the isolated child.
* ``llama-bench -o json`` (preferred for speed, llama.cpp's own benchmark): its pp/tg
  averages replace the server's timings. Without a server its ``-v`` log gives memory,
  but at llama-bench's own context (prompt + generated tokens), which the measurement
  records as its ``ctx``.
* ``llama-cli`` alone: memory and timings from a short non-interactive run.

Each binary runs in a child process with the check's timeout; a crash, abort or hang
in any of them becomes a Measurement with a status, never an exception.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from functools import cached_property
from pathlib import Path

from sizing.live.child import event_reader
from sizing.live.measure import build_measurement
from sizing.live.isolation import run_child
from sizing.live.llamacpp_log import (
    backend_of,
    build_from_bench_row,
    build_from_log,
    last_line,
    log_tail,
    memory_from_log,
)
from sizing.live.runner import (
    Check,
    GpuSampler,
    Measurement,
    ProgressCallback,
    ProgressRelay,
    RunnerInfo,
)

BINARIES = {"bench": "llama-bench", "server": "llama-server", "cli": "llama-cli"}


def _exe(name: str) -> str:
    return name + (".exe" if sys.platform == "win32" else "")


def find_llama_binaries(spec: str | None) -> dict[str, str]:
    """{'bench'|'server'|'cli': path} found at ``spec`` (a binary or a folder) or on PATH.

    A path to one binary also finds its siblings: release archives ship them together.
    """
    found: dict[str, str] = {}
    if spec is None:
        for key, name in BINARIES.items():
            hit = shutil.which(name)
            if hit:
                found[key] = hit
        return found
    path = Path(spec).expanduser()
    if not path.exists():
        hit = shutil.which(spec)
        if hit is None:
            return {}
        path = Path(hit)
    folder = path if path.is_dir() else path.parent
    if path.is_file():
        for key, name in BINARIES.items():
            if path.name in (name, _exe(name)):
                found[key] = str(path)
        if not found:  # a differently named binary: treat it as llama-bench-compatible
            found["bench"] = str(path)
    for key, name in BINARIES.items():
        cand = folder / _exe(name)
        if key not in found and cand.is_file() and os.access(cand, os.X_OK):
            found[key] = str(cand)
    return found


class ExternalRunner:
    """Runs checks through llama.cpp binaries the user installed."""

    name = "external"

    def __init__(self, binaries: dict[str, str]) -> None:
        if not binaries:
            raise ValueError("no llama.cpp binaries given")
        self.binaries = dict(binaries)

    @cached_property
    def _probe(self) -> str:
        """``--version`` output of llama-server or llama-cli (build and backends).

        llama-bench is not asked: it reports its build in its JSON output instead.
        """
        for key in ("server", "cli"):
            exe = self.binaries.get(key)
            if exe is None:
                continue
            res = run_child([exe, "--version"], timeout_s=10)
            text = "\n".join(res.stdout_lines) + "\n" + res.stderr
            if res.returncode == 0 and text.strip():
                return text
        return ""

    @cached_property
    def version(self) -> str:
        build = build_from_log(self._probe)
        return str(build) if build else "llama.cpp (version unknown)"

    @cached_property
    def backend(self) -> str:
        return backend_of([self._probe])

    def info(self) -> RunnerInfo:
        return RunnerInfo(
            name=f"external:{'+'.join(sorted(self.binaries))}", version=self.version, backend=self.backend
        )

    def run(
        self,
        check: Check,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Measurement:
        relay = ProgressRelay(progress)
        relay("queued")
        deadline = time.monotonic() + check.timeout_s
        measured: Measurement | None = None
        with GpuSampler() as gpu:
            if "server" in self.binaries or "cli" in self.binaries:
                measured = self._run_driver(check, relay, cancel)
                if not measured.ok:
                    return measured.model_copy(update={"gpu_memory_delta_bytes": gpu.delta})
            if "bench" in self.binaries:
                left = max(1.0, deadline - time.monotonic())
                bench = self._run_bench(check.model_copy(update={"timeout_s": left}), relay, cancel)
                if measured is None or not bench.ok:
                    measured = bench
                else:  # memory from the server at the real ctx, speed from llama-bench
                    measured = measured.model_copy(
                        update={
                            k: getattr(bench, k)
                            for k in ("prefill_tokens_per_s", "decode_tokens_per_s", "n_prompt", "n_gen")
                            if getattr(bench, k) is not None
                        }
                    )
        assert measured is not None
        if measured.ok:
            relay("done")
        return measured.model_copy(update={"gpu_memory_delta_bytes": gpu.delta, "stages": tuple(relay.stages)})

    # -- llama-server / llama-cli through the driver child ------------------------------

    def _run_driver(self, check: Check, relay: ProgressRelay, cancel) -> Measurement:
        events, on_line = event_reader(relay)
        payload = json.dumps({"check": check.model_dump(), "binaries": self.binaries})
        argv = [sys.executable, "-m", "sizing.live.external_child", payload]
        child = run_child(argv, timeout_s=check.timeout_s, on_line=on_line, cancel=cancel)
        return build_measurement(check, child, events, self.info(), relay.stages, None)

    # -- llama-bench -----------------------------------------------------------------------

    def _run_bench(self, check: Check, relay: ProgressRelay, cancel) -> Measurement:
        argv = bench_argv(self.binaries["bench"], check)
        relay("loading")
        child = run_child(argv, timeout_s=check.timeout_s, cancel=cancel)
        stdout = "\n".join(child.stdout_lines)
        info = self.info()
        mem = memory_from_log(child.stderr)
        base = dict(
            runner=info,
            model_path=check.model_path,
            ctx=check.n_prompt + check.n_gen,
            peak_rss_bytes=child.peak_rss_bytes,
            wall_s=child.wall_s,
            stages=tuple(relay.stages),
            log_tail=log_tail(child.stderr),
            weights_bytes=mem["weights_bytes"],
            kv_cache_bytes=mem["kv_cache_bytes"],
            compute_bytes=mem["compute_bytes"],
            output_bytes=mem["output_bytes"],
            devices=mem["devices"],
        )
        if child.timed_out:
            return Measurement(
                status="timeout", message=f"llama-bench {child.describe()} (limit {check.timeout_s:.0f} s)", **base
            )
        if child.cancelled:
            return Measurement(status="cancelled", message="cancelled by the user", **base)
        if child.returncode != 0:
            return Measurement(
                status="crashed", message=f"llama-bench {child.describe()}: {last_line(child.stderr)}", **base
            )
        try:
            speeds = parse_bench_json(stdout)
        except ValueError as exc:
            return Measurement(status="failed", message=f"llama-bench output unreadable: {exc}", **base)
        update = {k: speeds.pop(k) for k in ("version", "backend") if speeds.get(k)}
        speeds.pop("version", None)
        speeds.pop("backend", None)
        if update:
            base["runner"] = info.model_copy(update=update)
        return Measurement(status="ok", message="finished", **base, **speeds)


def bench_argv(exe: str, check: Check) -> list[str]:
    """llama-bench's command line for a check: the check's repetitions, JSON out, verbose log."""
    ngl = 999 if check.n_gpu_layers < 0 else check.n_gpu_layers
    argv = [
        exe,
        "-m",
        check.model_path,
        "-p",
        str(check.n_prompt),
        "-n",
        str(check.n_gen),
        "-b",
        str(check.n_batch),
        "-ub",
        str(check.n_ubatch),
        "-ctk",
        check.kv_type_k,
        "-ctv",
        check.kv_type_v,
        "-fa",
        "1" if check.flash_attn else "0",
        "-ngl",
        str(ngl),
        "-r",
        str(check.repetitions),
        "-o",
        "json",
        "-v",
    ]
    if check.n_threads:
        argv += ["-t", str(check.n_threads)]
    return argv


def parse_bench_json(text: str) -> dict:
    """Prefill/decode tokens/s and build from llama-bench's ``-o json`` array."""
    start = text.find("[")
    if start < 0:
        raise ValueError("no JSON array in llama-bench output")
    try:
        rows = json.loads(text[start:])
    except json.JSONDecodeError as exc:
        raise ValueError(str(exc)) from None
    out: dict = {}
    for row in rows:
        n_prompt, n_gen = int(row.get("n_prompt", 0)), int(row.get("n_gen", 0))
        ts = float(row["avg_ts"])
        if n_prompt and not n_gen:
            out["prefill_tokens_per_s"], out["n_prompt"] = ts, n_prompt
        elif n_gen and not n_prompt:
            out["decode_tokens_per_s"], out["n_gen"] = ts, n_gen
        if row.get("backends"):
            out["backend"] = backend_of([str(row["backends"])])
        if (build := build_from_bench_row(row)) is not None:
            out["version"] = str(build)
    return out
