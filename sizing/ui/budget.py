"""A CPU budget per rerun: a page that computes too long is stopped, with one message.

Streamlit runs each rerun in a thread and offers no way to stop one that computes (a
planner over fifty large models, a crafted input that slipped past a check). A thread
cannot be killed, but it can be interrupted: a watchdog measures the rerun thread's own
CPU time and, past the budget, raises :class:`BudgetExceeded` inside that thread
(``PyThreadState_SetAsyncExc``) at its next Python instruction. The rerun unwinds
through its ``finally`` blocks and the page says what happened; nothing keeps running
after the visitor has gone.

``BudgetExceeded`` is a ``BaseException`` so that the page sections' guards (which
catch ``Exception`` to keep the rest of the page alive) let it through to the one place
that reports it.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

DEFAULT_RERUN_CPU_S = 20.0
MAX_RAISES = 10  # interruptions per rerun before the watchdog gives up


class BudgetExceeded(BaseException):
    """Raised inside a rerun that used up its CPU budget."""

    seconds: float = DEFAULT_RERUN_CPU_S

    def message(self) -> str:
        return (
            f"This page needed more than {self.seconds:g} s of computing and was stopped. "
            "Ask for less at once (fewer models or GPUs, a smaller context) and try again."
        )


def rerun_cpu_s() -> float:
    """The budget: ``LLM_SIZING_RERUN_CPU_S`` seconds of CPU per rerun (default 20)."""
    try:
        v = float(os.environ.get("LLM_SIZING_RERUN_CPU_S", DEFAULT_RERUN_CPU_S))
    except ValueError:
        return DEFAULT_RERUN_CPU_S
    return v if v > 0 and v == v else DEFAULT_RERUN_CPU_S


def _thread_clock(ident: int) -> Callable[[], float]:
    """CPU seconds used by thread ``ident`` (wall time where the OS cannot tell)."""
    try:
        clock = time.pthread_getcpuclockid(ident)
        time.clock_gettime(clock)
        return lambda: time.clock_gettime(clock)
    except (AttributeError, OSError):
        return time.monotonic


def _raise_in(ident: int, exc: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(exc) if exc else None)


@contextmanager
def cpu_budget(seconds: float, poll_s: float = 0.05) -> Iterator[None]:
    """Interrupt the calling thread with BudgetExceeded once it has used ``seconds`` of CPU."""
    ident = threading.get_ident()
    clock = _thread_clock(ident)
    start = clock()
    exc = type("BudgetExceeded", (BudgetExceeded,), {"seconds": seconds})
    lock, done = threading.Lock(), threading.Event()
    fired = False

    def watch() -> None:
        # Raised again at each poll while the rerun goes on (a few times at most): an
        # asynchronous exception that lands in a garbage-collector callback (a weakref's)
        # is printed and dropped by Python, and the rerun would run on.
        nonlocal fired
        raises = 0
        while raises < MAX_RAISES and not done.wait(poll_s):
            if clock() - start > seconds:
                with lock:
                    if not done.is_set():
                        _raise_in(ident, exc)
                        fired = True
                        raises += 1

    watcher = threading.Thread(target=watch, name="llm-sizing-cpu-budget", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        with lock:
            done.set()
            if fired:  # fired but not raised yet: it must not surface after this block
                _raise_in(ident, None)
        watcher.join(timeout=1.0)  # the watchdog ends with the rerun
