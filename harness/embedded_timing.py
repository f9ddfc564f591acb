"""Embedded llama.cpp servers for timing benches: CPU-only, one per file, timed in turn.

Several bench scripts load a few GGUFs side by side in one process and time their decode
alternately, so that a busy neighbour slows them alike. They share how such a server is
set up (the live checks' cache and batch settings, every layer on the CPU) and how a
request's decode time is read from llama.cpp's own timings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def cpu_server(
    path: str | Path, threads: int, *, ctx: int = 512, n_batch: int = 512, flash_attn: bool = True, repack: bool = True
) -> Any:
    """An ``xllamacpp.Server`` for ``path`` on ``threads`` CPU threads (F16 cache; ``repack``
    False: llama.cpp's --no-repack)."""
    import xllamacpp as xl

    from sizing.live.xlparams import common_params

    p = common_params(
        path,
        ctx=ctx,
        n_batch=n_batch,
        n_ubatch=512,
        n_parallel=1,
        kv_unified=True,
        kv_type_k="f16",
        kv_type_v="f16",
        flash_attn=flash_attn,
        n_gpu_layers=0,
        repack=repack,
    )
    p.cpuparams.n_threads = threads
    p.cpuparams_batch.n_threads = threads
    return xl.Server(p)


def decode_seconds(server: Any, request: dict) -> float:
    """Seconds per decoded token of one streamed ``/completion`` request, as llama.cpp timed it."""
    out: dict = {}

    def on_chunk(chunk: object) -> bool:
        if isinstance(chunk, dict) and "timings" in chunk:
            out.update(chunk["timings"])
        return False

    server.handle_completions({**request, "stream": True}, on_chunk)
    return 1.0 / out["predicted_per_second"]
