"""Start the app with `streamlit run` on a free localhost port (browser tests, benchmarks).

A context manager: it yields the base URL once the server answers its health check and
stops the server (and only it) on exit. Nothing here is used by the app itself.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(
    env: dict[str, str] | None = None, timeout_s: float = 60.0, script: str = "serve.py"
) -> Iterator[str]:
    """Run ``streamlit run serve.py`` (what ``make run`` runs, with .streamlit/config.toml's
    settings) headless on 127.0.0.1; yield ``http://127.0.0.1:PORT``."""
    port = free_port()
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    # launched as `make run` launches it (sizing.ui.serve), with the same environment
    cmd = [
        sys.executable,
        "-m",
        "sizing.ui.serve",
        "--script",
        script,
        "--port",
        str(port),
        "--address",
        "127.0.0.1",
        "--server.fileWatcherType",
        "none",
    ]
    log = tempfile.NamedTemporaryFile(prefix="streamlit-", suffix=".log", delete=False)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                out = Path(log.name).read_text(errors="replace")
                raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{out[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"streamlit did not answer on {url} within {timeout_s:.0f}s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        Path(log.name).unlink(missing_ok=True)
