"""Start the app with the server settings its configuration implies: ``python -m sizing.ui.serve``.

Streamlit enforces the upload size in its own HTTP handler, from ``server.maxUploadSize``
(200 MB unless set when the server starts); the app cannot lower it from a page. So the
cap the app announces (``LLM_SIZING_UPLOAD_CAP_MB``) is passed here, on the command line,
and the server itself answers 413 to a larger upload, replayed requests included.
``make run`` and the test server both start the app through :func:`streamlit_argv`.

glibc's malloc gives each thread that allocates its own arena, and Streamlit runs every
rerun in a new script thread: freed memory stays spread over up to 8 arenas a core, and a
server's RSS climbed with the reruns it served (+53 MiB over 1,000 reruns of different
views against +36 MiB with two arenas, bench/load.py --reruns 1000). So the server starts
with ``MALLOC_ARENA_MAX=2`` unless the environment sets it; other allocators ignore it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sizing.ui.config import load_config

ROOT = Path(__file__).resolve().parents[2]


def streamlit_argv(
    *, port: int = 8501, address: str | None = None, extra: list[str] | None = None, script: str = "serve.py"
) -> list[str]:
    """``streamlit run serve.py`` (the pages plus /healthz) with the upload cap and the
    app's fixed server settings."""
    cfg = load_config()
    argv = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ROOT / script),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.maxUploadSize",
        str(cfg.upload_cap_mb),
        "--browser.gatherUsageStats",
        "false",
    ]
    if address:
        argv += ["--server.address", address]
    return argv + list(extra or [])


def main(args: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m sizing.ui.serve", description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--address", default=None, help="interface to listen on (Streamlit's default: all)")
    p.add_argument(
        "--script",
        default="serve.py",
        choices=["serve.py", "app.py"],
        help="serve.py adds /healthz and quiet deep links to app.py's pages",
    )
    ns, extra = p.parse_known_args(args)
    argv = streamlit_argv(port=ns.port, address=ns.address, extra=extra, script=ns.script)
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")  # read by glibc when the exec'd process starts
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
