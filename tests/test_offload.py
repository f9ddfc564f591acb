"""The server's worker processes: a search sent to a worker answers what it answers in
process, an error crosses back as itself, a dead worker costs no answer, and no worker
outlives its server (real processes, the real core; nothing faked)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from sizing.core import fitmap, solver
from sizing.core.machine import machine_from_gpu
from sizing.errors import SizingError
from sizing.hardware.db import load_gpus
from sizing.sources.catalog import load_catalog
from sizing.ui import offload

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def pool():
    offload.stop()
    assert _until(lambda: not _workers(), 10)  # a pool replaced by an earlier test has gone
    assert offload.start(1) == 1
    yield
    offload.stop()


def _workers() -> list[psutil.Process]:
    found = []
    for p in psutil.Process().children():
        try:
            if p.status() != psutil.STATUS_ZOMBIE and "spawn_main" in " ".join(p.cmdline()):
                found.append(p)
        except psutil.NoSuchProcess:
            pass
    return found


def _until(cond, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def test_a_search_in_a_worker_answers_as_in_process(pool):
    arch = load_catalog().get("Qwen/Qwen3-30B-A3B")
    hw = machine_from_gpu(load_gpus().get("nvidia-rtx-3090"))
    here = fitmap.fit_map(arch, hw)
    there = offload.call(fitmap.fit_map, arch, hw)
    assert there == here
    assert offload.call(solver.best_quant_name, arch, 32768, hw) == solver.best_quant_name(arch, 32768, hw)
    assert len(_workers()) == 1  # it ran in the worker, not here


def test_an_error_in_the_worker_reaches_the_caller_as_itself(pool):
    arch = load_catalog().get("Qwen/Qwen3-30B-A3B")
    hw = machine_from_gpu(load_gpus().get("nvidia-rtx-3090"))
    with pytest.raises(SizingError, match="context must be positive"):
        offload.call(solver.fit, arch, "Q4_K_M", 0, hw)


def test_a_killed_worker_costs_no_answer_and_is_replaced(pool):
    arch = load_catalog().get("Qwen/Qwen3-32B")
    hw = machine_from_gpu(load_gpus().get("nvidia-rtx-4090"))
    offload.call(fitmap.fit_map, arch, hw)
    (w,) = _workers()
    w.send_signal(signal.SIGKILL)
    w.wait(10)
    assert offload.call(fitmap.fit_map, arch, hw) == fitmap.fit_map(arch, hw)
    assert offload.running()  # a fresh pool took its place
    assert offload.call(fitmap.fit_map, arch, hw) == fitmap.fit_map(arch, hw)


def test_stop_leaves_no_worker():
    offload.stop()
    offload.start(1)
    offload.call(os.getpid)
    assert _workers()
    offload.stop()
    assert _until(lambda: not _workers(), 10)
    assert offload.call(os.getpid) == os.getpid()  # stopped: in process


def test_workers_leave_when_their_server_is_killed():
    code = (
        "import os, sys; sys.path.insert(0, %r)\n"
        "from sizing.ui import offload\n"
        "offload.start(1)\n"
        "print(offload.call(os.getpid), flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    ) % str(ROOT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    worker = int(out.stdout.split()[0])
    assert worker != os.getpid()
    # the server died without shutting its pool down: the worker notices and leaves
    assert _until(lambda: _gone(worker), 15)


def _gone(pid: int) -> bool:
    """The process has exited or is a zombie; one that exits between two looks counts as gone
    (psutil raises NoSuchProcess then)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_the_worker_count_is_read_from_the_environment(monkeypatch, caplog):
    monkeypatch.setenv("LLM_SIZING_WORKERS", "3")
    assert offload.default_workers() == 3
    monkeypatch.setenv("LLM_SIZING_WORKERS", "0")
    assert offload.default_workers() == 0
    monkeypatch.setenv("LLM_SIZING_WORKERS", "many")
    assert offload.default_workers() == 0
    assert "LLM_SIZING_WORKERS='many' is not a whole number" in caplog.text
    monkeypatch.delenv("LLM_SIZING_WORKERS")
    assert offload.default_workers() == max(0, min((os.cpu_count() or 1) - 1, 2))


def test_a_call_past_the_rerun_budget_is_stopped_and_its_worker_replaced(pool, monkeypatch):
    from sizing.ui.budget import BudgetExceeded

    offload.call(os.getpid)  # the worker is up (starting one may take seconds on a busy machine)
    (before,) = _workers()
    monkeypatch.setenv("LLM_SIZING_RERUN_CPU_S", "1")
    with pytest.raises(BudgetExceeded) as caught:
        offload.call(time.sleep, 60)  # a search that would run on after its page gave up
    assert "more than 1 s of computing" in caught.value.message()
    assert _until(lambda: _gone(before.pid), 10)
    monkeypatch.delenv("LLM_SIZING_RERUN_CPU_S")  # a fresh worker may take seconds to start
    assert offload.call(os.getpid) not in (os.getpid(), before.pid)  # a fresh worker answers


def test_a_pool_shut_down_under_a_call_answers_in_process(pool):
    """Another session's call may replace the pool between this call reading it and
    submitting to it: the answer is computed here instead of failing the page."""
    offload.call(os.getpid)
    offload._pool.shutdown(wait=True)  # as a replacement does to the pool this call holds
    assert offload.call(os.getpid) == os.getpid()
