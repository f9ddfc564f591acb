"""The Dockerfile, replayed without a Docker daemon (this machine has the client only).

A broken image usually comes from the Dockerfile's own steps, not from the base image: a file
the app needs that no ``COPY`` brings, a package build that needs a file not copied yet, an
``ENV`` that does not switch web mode on, a ``CMD`` or ``HEALTHCHECK`` that does not start or
probe the server. So each step is carried out here as Docker would: the ``COPY`` sources are
staged into an empty ``WORKDIR``; the package is built from only what was copied before its
``RUN``; the ``CMD`` runs there with the ``ENV`` values (port moved to a free one), and the
``HEALTHCHECK`` command and a real browser then check what it serves. The image installs the
dependencies and uninstalls the package itself; here a bare venv sees this venv's packages
through a path line, which skips the editable install's import hook, so only the staged copy
of the app can be imported, as in the image.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from harness.devserver import CHROMIUM, CHROMIUM_ARGS, ROOT, free_port

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    out: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        word, _, rest = full.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def _env(args: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in shlex.split(args))


def _exec_form(args: str) -> list[str]:
    import json

    return json.loads(args) if args.startswith("[") else ["/bin/sh", "-c", args]


def _bare_python(venv: Path) -> str:
    """A venv that imports this venv's dependencies but not its editable llm-sizing."""
    import site
    import sysconfig

    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = [p for p in site.getsitepackages() if Path(p).is_dir()] or [sysconfig.get_paths()["purelib"]]
    # a plain path line: the directory joins sys.path, its own .pth files (the editable hook) do not run
    (Path(purelib) / "deps.pth").write_text("\n".join(ours) + "\n")
    check = subprocess.run(
        [
            python,
            "-c",
            "import importlib.util as u; print(u.find_spec('streamlit') is not None, u.find_spec('sizing'))",
        ],
        capture_output=True,
        text=True,
        cwd=venv,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert check.stdout.split() == ["True", "None"], check.stdout + check.stderr
    return python


def test_dockerfile_steps_build_and_serve_the_app_in_web_mode(tmp_path):
    steps = _instructions()
    kinds = [k for k, _ in steps]
    assert kinds[0] == "FROM"
    m = re.match(r"python:(\d+)\.(\d+)", steps[0][1])
    assert m and (int(m.group(1)), int(m.group(2))) >= (3, 11), steps[0][1]

    app = tmp_path / "app"
    env: dict[str, str] = {}
    workdir: Path | None = None
    cmd: list[str] = []
    health: list[str] = []
    built = False
    for kind, args in steps:
        if kind == "ENV":
            env.update(_env(args))
        elif kind == "WORKDIR":
            assert args == "/app", "the replay stages /app; a new WORKDIR needs this test to follow it"
            workdir = app
            app.mkdir()
        elif kind == "COPY":
            assert workdir is not None, "COPY before WORKDIR"
            *sources, dest = shlex.split(args)
            for src in sources:
                origin = ROOT / src
                assert origin.exists(), f"COPY {src}: not in the repository"
                # Docker: a directory's contents go into the destination; a file into a
                # destination ending in "/" keeps its name
                into = app / dest
                if origin.is_dir():
                    shutil.copytree(origin, into, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
                else:
                    target = into / origin.name if dest.endswith("/") else into
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(origin, target)
        elif kind == "RUN" and "pip install ." in args:
            # the package must build from what is copied so far (its metadata and README)
            wheel = subprocess.run(
                [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", "wheels", "."],
                cwd=app,
                capture_output=True,
                text=True,
                timeout=240,
            )
            assert wheel.returncode == 0, wheel.stderr[-2000:]
            assert list((app / "wheels").glob("llm_sizing-*.whl"))
            shutil.rmtree(app / "wheels")
            shutil.rmtree(app / "build", ignore_errors=True)
            for egg in app.glob("*.egg-info"):
                shutil.rmtree(egg)
            built = True
        elif kind == "CMD":
            cmd = _exec_form(args)
        elif kind == "HEALTHCHECK":
            health = _exec_form(args.split(" CMD ", 1)[1])
    assert built, "no `pip install .` step"
    assert cmd and health
    assert env.get("LLM_SIZING_WEB_MODE") == "1"

    python = _bare_python(tmp_path / "venv")
    port = free_port()
    cmd = [python if c == "python" else str(port) if c == "8501" else c for c in cmd]
    health = [python if c == "python" else c.replace(":8501/", f":{port}/") for c in health]
    run_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("LLM_SIZING", "MALLOC_"))},
        **env,
        "PYTHONPATH": str(app),
        "LLM_SIZING_HOME": str(tmp_path / "home"),
    }
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(cmd, cwd=app, env=run_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "no /healthz within 90 s"
            time.sleep(0.3)
        probe = subprocess.run(health, env=run_env, capture_output=True, text=True, timeout=30)
        assert probe.returncode == 0, probe.stderr
        # the launcher exec'd the server (same pid) with glibc held to two malloc arenas
        import psutil

        assert psutil.Process(proc.pid).environ().get("MALLOC_ARENA_MAX") == "2"

        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.set_default_timeout(60_000)
            # the app is the staged copy (its data files beside it), in web mode
            page.goto(f"http://127.0.0.1:{port}/run?hw=custom&mem=24&bw=1000")
            page.get_by_text("Verdict", exact=False).first.wait_for()
            page.goto(f"http://127.0.0.1:{port}/machine")
            page.get_by_text("off in web mode", exact=False).first.wait_for()
            assert not page.locator('[data-testid="stException"]').count()
            browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    served = (tmp_path / "server.log").read_text()
    assert "Traceback" not in served, served[-2000:]
