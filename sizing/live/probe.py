"""Ask llama.cpp itself how much memory a GGUF takes: the ground truth for every estimate.

llama.cpp logs each buffer it allocates (model weights per buffer type, KV cache per
cache with K and V apart, compute buffers per backend). We load the file with xllamacpp
(the embedded llama.cpp) in a child process (``sizing.live.probe_child``, started by
``sizing.live.isolation.run_child``), so a crash or a hang in C code cannot take the
caller down, and read its log with ``sizing.live.llamacpp_log.parse_llama_log``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from sizing.core.quant import KV_TYPES
from sizing.errors import SizingError
from sizing.live.child import event_reader
from sizing.live.isolation import run_child
from sizing.live.llamacpp_log import MeasuredMemory, build_from_log, last_line, parse_llama_log, runner_version
from sizing.live.probe_child import MARKER


def probe_settings(
    *,
    ctx: int,
    n_batch: int = 2048,
    n_ubatch: int = 512,
    kv_type_k: str = "f16",
    kv_type_v: str = "f16",
    flash_attn: bool | None = True,
    n_parallel: int = 1,
    kv_unified: bool = True,
    n_gpu_layers: int = 0,
    fit: bool = False,
    mmap: bool = True,
    repack: bool = True,
    mlock: bool = False,
    mmproj: str | Path | None = None,
) -> dict[str, Any]:
    """One load's settings, checked, with llama-server's defaults for those not given.

    ``flash_attn=None`` lets llama.cpp decide ('auto'); ``fit`` lets llama.cpp shrink the
    scenario to the device as its fit step does; ``mmproj`` loads a projector beside it.
    """
    for name, t in (("K", kv_type_k), ("V", kv_type_v)):
        if t not in KV_TYPES:
            raise SizingError(f"unknown {name} cache type {t!r}; known: {', '.join(KV_TYPES)}")
    if ctx <= 0 or n_batch <= 0 or n_ubatch <= 0 or n_parallel <= 0:
        raise SizingError("ctx, n_batch, n_ubatch and n_parallel must be positive")
    return dict(
        ctx=ctx,
        n_batch=n_batch,
        n_ubatch=n_ubatch,
        kv_type_k=kv_type_k,
        kv_type_v=kv_type_v,
        flash_attn=flash_attn,
        n_parallel=n_parallel,
        kv_unified=kv_unified,
        n_gpu_layers=n_gpu_layers,
        fit=fit,
        mmap=mmap,
        repack=repack,
        mlock=mlock,
        mmproj=str(mmproj) if mmproj else None,
    )


def _run_child(path: Path, configs: list[dict[str, Any]], timeout_s: float) -> tuple[list[str], str, int | None, bool]:
    """Run the child on ``configs``; return the logs of the runs it completed.

    ``timeout_s`` bounds each run: a child that reports no finished load for that long
    is killed, and what it completed so far is kept.
    """
    req = json.dumps({"path": str(path.resolve()), "configs": configs})
    child = run_child(
        [sys.executable, "-m", "sizing.live.probe_child", req],
        timeout_s=timeout_s * len(configs) + 10,
        idle_s=timeout_s,
    )
    parts = child.stderr.split(MARKER)
    return parts[:-1], child.stderr, child.returncode, child.timed_out


def probe_many(gguf_path: str | Path, configs: list[dict[str, Any]], *, timeout_s: float = 120) -> list[MeasuredMemory]:
    """Measure several configurations of one GGUF in a single child process.

    Each config is a dict of ``probe_settings``' keyword arguments; missing keys take
    its defaults.
    """
    path = Path(gguf_path)
    if not path.is_file():
        raise SizingError(f"{path}: no such GGUF file")
    full = [probe_settings(**c) for c in configs]
    runs: list[str] = []
    log = ""
    while len(runs) < len(full):
        done, log, rc, timed_out = _run_child(path, full[len(runs) :], timeout_s)
        runs.extend(done)
        if len(runs) == len(full):
            break
        if not done:  # no progress at all: the load itself failed or hung
            if timed_out:
                raise SizingError(f"{path}: llama.cpp did not finish loading within {timeout_s:g} s")
            raise SizingError(f"{path}: llama.cpp failed to load it (exit {rc}): {last_line(log, '(no output)')}")
        # a hang or crash after some runs (e.g. while tearing a server down): go on afresh
    version = re.search(r"xllamacpp_version: (\S+)", log)
    out = []
    for run in runs:
        mm = parse_llama_log(run)
        if version:
            build = runner_version(f"xllamacpp {version.group(1)}", build_from_log(run))
            mm = mm.model_copy(update={"llama_build": build})
        out.append(mm)
    return out


def probe_memory(gguf_path: str | Path, *, timeout_s: float = 120, **settings: Any) -> MeasuredMemory:
    """Load ``gguf_path`` in llama.cpp (child process) and return what it allocated.

    ``settings`` are ``probe_settings``' keyword arguments (``ctx`` at least). Raises
    SizingError when the file is missing, llama.cpp refuses it, or the load exceeds ``timeout_s``.
    """
    return probe_many(gguf_path, [settings], timeout_s=timeout_s)[0]


def probe_host_heap(gguf_path: str | Path, *, ctx: int = 512, timeout_s: float = 120) -> int:
    """Host memory a loaded llama.cpp holds beyond the buffers it logs (Linux only).

    Loads the file (with a warm-up run, so the compute buffer is touched) in a child and
    returns its anonymous resident memory growth minus KV, compute, output and repack
    buffers: the tokenizer tables, graph metadata and thread pool llama.cpp never logs.
    The mmapped weights are file-backed and not in that figure.
    """
    path = Path(gguf_path)
    child = run_child(
        [sys.executable, "-m", "sizing.live.probe_child", "heap", str(path), str(ctx)], timeout_s=timeout_s
    )
    events, on_line = event_reader(lambda stage: None)
    for line in child.stdout_lines:
        on_line(line)
    if child.timed_out or "heap" not in events:
        why = child.describe() if child.returncode or child.timed_out else "it reported nothing"
        raise SizingError(f"{path}: could not measure llama.cpp's heap: the child {why}")
    grew = int(events["heap"]["grew"])
    m = probe_memory(path, ctx=ctx, timeout_s=timeout_s)
    return grew - (m.kv_cache_bytes + m.compute_bytes + m.output_bytes + m.repack_bytes)


if __name__ == "__main__":  # pragma: no cover - manual use: python -m sizing.live.probe FILE CTX
    mm = probe_memory(sys.argv[1], ctx=int(sys.argv[2]) if len(sys.argv) > 2 else 4096)
    print(mm.model_dump_json(indent=2))
