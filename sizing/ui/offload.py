"""The server's second core: pure searches run in worker processes.

Why: Streamlit runs every session's script in one Python process, so however many cores a
machine has, reruns queue on one interpreter lock. The fit map (up to 49 placements) and
the best-quant search are about a third of a rerun's CPU, are pure core functions over
small picklable pydantic models, and return a few numbers: the script thread sends them to
a worker and waits without holding the lock, so other sessions' scripts go on meanwhile.

Only the server starts workers (``serve.py`` calls :func:`start`); anywhere else (the CLI,
AppTest, a bare ``streamlit run app.py``) :func:`call` runs the function in process.
``LLM_SIZING_WORKERS`` sets how many (0: none); by default one fewer than the CPUs, at
most two. A worker that dies is replaced by a fresh pool once; if that fails as well the
server goes on in process, and says so in its log. A call waits at most the rerun's CPU
budget (``LLM_SIZING_RERUN_CPU_S``) in seconds; past it the workers are stopped and the
page says it asked for too much, as a rerun that computes too long in process does.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from sizing.ui.budget import BudgetExceeded, rerun_cpu_s

T = TypeVar("T")
log = logging.getLogger(__name__)

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_broken = 0  # pools lost to a dead worker; after two the server stays in process
_size = 0  # workers asked for at start: a replacement pool has as many


def default_workers() -> int:
    """``LLM_SIZING_WORKERS``, else one fewer than the CPUs (at most two; none on one CPU)."""
    raw = os.environ.get("LLM_SIZING_WORKERS", "").strip()
    if raw:
        try:
            return max(0, min(int(raw), 16))
        except ValueError:
            log.warning("LLM_SIZING_WORKERS=%r is not a whole number: no worker processes", raw)
            return 0
    return max(0, min((os.cpu_count() or 1) - 1, 2))


def _watch_parent(parent: int) -> None:
    """Worker initializer: leave when the server process is gone. A worker holds both ends
    of its task queue's pipe, so it would never see the server close it, and a server
    stopped by a signal does not shut its pool down."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _ready() -> bool:
    """Imports the core once per worker, so the first real call does not pay for it."""
    import sizing.core.fitmap  # noqa: F401
    import sizing.core.solver  # noqa: F401

    return True


def start(workers: int | None = None) -> int:
    """Start the worker processes (idempotent); returns how many run."""
    global _pool, _size
    n = (_size or default_workers()) if workers is None else workers
    with _lock:
        _size = n
        if _pool is None and n > 0:
            ctx = multiprocessing.get_context("spawn")  # the server is threaded: no fork
            _pool = ProcessPoolExecutor(
                max_workers=n, mp_context=ctx, initializer=_watch_parent, initargs=(os.getpid(),)
            )
            _pool.submit(_ready)
        return n if _pool is not None else 0


def stop() -> None:
    """Shut the workers down (tests; a server ends with its process)."""
    global _pool, _broken
    with _lock:
        pool, _pool, _broken = _pool, None, 0
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


def running() -> bool:
    return _pool is not None


def _wait(pool: ProcessPoolExecutor, fut: Future[T]) -> T:
    """The result, waited for in short steps: the rerun's CPU watchdog (``sizing.ui.budget``)
    can only interrupt a thread that runs Python, and a worker's CPU is not the thread's, so
    the wait itself is bounded by the same budget in seconds. Past it the workers are
    stopped (a process can be, a thread cannot) and fresh ones take their place."""
    limit = rerun_cpu_s()
    deadline = time.monotonic() + limit
    while True:
        try:
            return fut.result(timeout=0.05)
        except FuturesTimeout:
            if time.monotonic() < deadline:
                continue
        _replace(pool)
        raise type("BudgetExceeded", (BudgetExceeded,), {"seconds": limit})()


def _replace(pool: ProcessPoolExecutor) -> None:
    """Stop ``pool``'s workers now (what they compute is abandoned) and start fresh ones."""
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    for proc in list(getattr(pool, "_processes", {}).values()):  # shutdown waits for a running task
        proc.kill()
    pool.shutdown(wait=False, cancel_futures=True)
    start()


def in_process(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` here: for arguments too large to send (a file's tensor list)."""
    return fn(*args, **kwargs)


def call(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, in a worker when the server started them.

    ``fn`` must be a module-level function of the core whose arguments and result pickle;
    an exception it raises (a ``SizingError``) reaches the caller as it would in process."""
    pool = _pool
    if pool is None:
        return fn(*args, **kwargs)
    try:
        fut = pool.submit(fn, *args, **kwargs)
    except BrokenProcessPool:
        return _lost(pool, fn, *args, **kwargs)
    except RuntimeError:  # shut down meanwhile (another session's call replaced it): here
        return fn(*args, **kwargs)
    try:
        return _wait(pool, fut)
    except BrokenProcessPool:
        return _lost(pool, fn, *args, **kwargs)


def _lost(pool: ProcessPoolExecutor, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """A worker of ``pool`` died: replace the pool (once; a pool replaced on purpose by a
    call past its budget does not count), and answer this call here."""
    global _pool, _broken
    with _lock:
        if _pool is pool:
            _broken += 1
            _pool = None
            log.warning("a worker process died; %s", "restarting them" if _broken < 2 else "running in process")
    pool.shutdown(wait=False, cancel_futures=True)
    if _broken < 2:
        start()
    return fn(*args, **kwargs)
