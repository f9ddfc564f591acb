"""A live check never outlives the `verify` that started it.

A real `llm-sizing verify` runs a synthetic model in the embedded llama.cpp; while the
model is loaded, `verify` is killed with SIGKILL, SIGTERM or SIGINT (Ctrl-C). Within 5 s
no llama.cpp child may remain, no synthetic file may be left, and the run lock must be
free again. The 5 s is a hang guard polled against a deadline, not a timing figure.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytest.importorskip("xllamacpp")
pytestmark = [pytest.mark.live, pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]

ROOT = Path(__file__).resolve().parents[1]


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _until(cond, deadline_s: float) -> bool:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_killed_verify_leaves_no_child_no_file_no_lock(tmp_path, sig):
    tmp, home = tmp_path / "tmp", tmp_path / "home"
    tmp.mkdir()
    env = {
        **os.environ,
        "TMPDIR": str(tmp),
        "LLM_SIZING_HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    argv = [
        sys.executable,
        "-m",
        "sizing",
        "verify",
        "--model",
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        "--quant",
        "Q4_0",
        "--ctx",
        "8192",
        "--prompt-tokens",
        "32",
        "--gen-tokens",
        "8000",
        "--timeout",
        "200",
        "--runner",
        "embedded",
        "--no-store",
    ]
    # as from a terminal: a job a non-interactive shell starts in the background (a CI runner's)
    # inherits SIGINT ignored, and then Python never turns Ctrl-C into KeyboardInterrupt
    verify = subprocess.Popen(
        argv,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:

        def llama_running() -> bool:
            return any("embedded_child" in " ".join(p.cmdline()) for p in _descendants(verify.pid) if _alive(p))

        if not _until(llama_running, 120):
            verify.kill()
            pytest.fail("the llama.cpp child never started: " + verify.stderr.read().decode()[-2000:])
        assert list(tmp.glob("llm-sizing-synthetic-*")), "the synthetic model was not written where expected"
        children = _descendants(verify.pid)
        os.kill(verify.pid, sig)
        try:
            verify.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.kill(verify.pid, signal.SIGUSR1)  # the CLI prints its threads' stacks: say where it hangs
            time.sleep(2)
            verify.kill()
            pytest.fail(f"still running 60 s after {sig.name}; its stacks:\n" + verify.stderr.read().decode()[-6000:])
        assert _until(lambda: not any(_alive(p) for p in children), 5.0), (
            f"still running 5 s after {sig.name}: {[p.pid for p in children if _alive(p)]}"
        )
        assert _until(lambda: not list(tmp.glob("llm-sizing-synthetic-*")), 5.0), (
            f"synthetic files left after {sig.name}: {list(tmp.iterdir())}"
        )
        with open(home / "live-check.lock", "a+") as fh:  # free again: the next check may run
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        if sig != signal.SIGKILL:  # a signal it can handle ends in one line, not a traceback
            err = verify.stderr.read().decode()
            assert "Traceback" not in err, err
    finally:
        if verify.poll() is None:
            verify.kill()
        for p in _descendants(verify.pid):
            p.kill()
