"""The child process of the memory probe: load one GGUF in xllamacpp per config, log, exit.

Run as ``python -m sizing.live.probe_child '<request JSON>'`` through
``sizing.live.isolation.run_child`` (the one way we start a llama.cpp child: own process
group, guardian, deadline). The request is ``{"path": ..., "configs": [...]}``; for each
config llama.cpp logs every buffer it allocates to stderr, followed by ``MARKER`` so the
parent can cut the log into one piece per load, and a ``probed`` event on the progress
channel (``sizing.live.child``) so the parent's idle deadline restarts with each load.

``python -m sizing.live.probe_child heap PATH CTX`` instead reports how much anonymous
memory one load with a warm-up run added (Linux ``/proc/self/status``).
"""

from __future__ import annotations

import json
import os
import sys
import time

from sizing.live.child import event_channel
from sizing.live.xlparams import common_params

MARKER = "@@sizing-probe-run-done@@"


def _probe(request: dict) -> None:
    emit = event_channel()
    import xllamacpp as x

    os.write(2, f"xllamacpp_version: {x.__version__}\n".encode())
    configs = request["configs"]
    for i, cfg in enumerate(configs):
        p = common_params(request["path"], **cfg)
        p.verbosity = 10
        # the projector reserves (and logs) its compute buffer only in its warm-up pass
        p.warmup = bool(cfg.get("mmproj"))
        server = x.Server(p)
        # Buffers are all logged before the server reports "model loaded". Give the
        # asynchronous log worker time to drain, and the server loop time to start:
        # destroying a Server before its loop waits can hang (seen with xllamacpp 2026.10).
        time.sleep(0.5)
        if cfg.get("mmproj"):
            # the projector's compute buffer is reserved during its warm-up pass (one
            # image of the largest size), after the model: wait for its log line
            time.sleep(float(os.environ.get("SIZING_MMPROJ_WAIT_S", "15")))
        os.write(2, f"\n{MARKER}\n".encode())
        emit("probed", index=i)
        if i < len(configs) - 1:  # the last one goes with the process: its teardown can hang
            del server


def _anon_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon"):
                return int(line.split()[1]) * 1024
    raise OSError("no RssAnon in /proc/self/status")


def _heap(path: str, ctx: int) -> None:
    emit = event_channel()
    import xllamacpp as x

    before = _anon_bytes()
    # llama.cpp's own defaults (as a bare llama-server), with a warm-up so the compute buffer is touched
    p = x.CommonParams()
    p.model.path = path
    p.n_ctx = ctx
    p.warmup = True
    p.fit_params = False
    p.verbosity = 0
    p.cache_ram_mib = 0
    p.flash_attn_type = x.llama_flash_attn_type.LLAMA_FLASH_ATTN_TYPE_ENABLED
    server = x.Server(p)
    time.sleep(1.0)
    emit("heap", grew=_anon_bytes() - before)
    del server


def main(argv: list[str]) -> None:  # pragma: no cover - runs in the child; the parent reads its output
    if argv[0] == "heap":
        _heap(argv[1], int(argv[2]))
    else:
        _probe(json.loads(argv[0]))
    sys.stderr.flush()
    os._exit(0)  # skip interpreter teardown of the C++ objects


if __name__ == "__main__":
    main(sys.argv[1:])
