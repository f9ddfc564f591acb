"""Start the app with the server settings its configuration implies: ``python -m sizing.ui.serve``.

Streamlit enforces the upload size in its own HTTP handler, from ``server.maxUploadSize``
(200 MB unless set when the server starts); the app cannot lower it from a page. So the
cap the app announces (``LLM_SIZING_UPLOAD_CAP_MB``) is passed here, on the command line,
and the server itself answers 413 to a larger upload, replayed requests included.
``make run`` and the test server both start the app through :func:`streamlit_argv`.
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
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
