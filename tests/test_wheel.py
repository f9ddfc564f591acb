"""The built wheel works on its own: installed into a fresh virtual environment outside the
checkout, it carries its data tables, answers `llm-sizing estimate`, and serves the app.

The fresh environment gets the wheel with --no-deps; its dependencies come from the test
environment's site-packages through a .pth file (a path entry, so the checkout's editable
install there is not activated). No network is used.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(*cmd: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["HF_HUB_OFFLINE"] = "1"
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    build = _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        str(tmp / "dist"),
        str(ROOT),
        cwd=tmp,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp / "dist").glob("llm_sizing-*.whl")
    venv = tmp / "venv"
    made = _run(sys.executable, "-m", "venv", str(venv), cwd=tmp)
    assert made.returncode == 0, made.stderr
    py = venv / "bin" / "python"
    inst = _run(str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel), cwd=tmp)
    assert inst.returncode == 0, inst.stderr
    site = _run(str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp).stdout.strip()
    (Path(site) / "_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return tmp, wheel, venv


def test_the_wheel_carries_the_data_and_not_the_harness(installed):
    _, wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    for table in ("gpus.yaml", "models.yaml", "speed_calibration.yaml", "backend_overhead.yaml"):
        assert f"sizing/data/{table}" in names
    assert not [n for n in names if n.startswith(("harness/", "tests/"))]


def test_estimate_runs_from_the_installed_wheel(installed):
    tmp, _, venv = installed
    where = _run(str(venv / "bin" / "python"), "-c", "import sizing; print(sizing.__file__)", cwd=tmp)
    assert where.returncode == 0 and str(venv) in where.stdout, where.stdout + where.stderr
    r = _run(
        str(venv / "bin" / "llm-sizing"),
        "estimate",
        "--model",
        "llama-3.1-8b",
        "--gpu",
        "RTX 4090",
        "--ctx",
        "8192",
        "--json",
        cwd=tmp,
    )
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["schema_version"] == 1 and j["fits"] is True and j["total_bytes"] > 4 * 2**30
    bad = _run(str(venv / "bin" / "llm-sizing"), "estimate", "--model", "no-such-model-xyz", cwd=tmp)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_the_app_starts_from_the_installed_wheel(installed):
    tmp, _, venv = installed
    app = tmp / "app.py"
    app.write_text("from sizing.ui.navigation import main\n\nmain()\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["HF_HUB_OFFLINE"] = "1"
    log = (tmp / "streamlit.log").open("w")
    proc = subprocess.Popen(
        [
            str(venv / "bin" / "python"),
            "-m",
            "streamlit",
            "run",
            str(app),
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=tmp,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        body = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as resp:
                    body = resp.read().decode()
                    break
            except OSError:
                time.sleep(0.5)
        assert body == "ok", (tmp / "streamlit.log").read_text()[-2000:] or "no answer from /_stcore/health"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
