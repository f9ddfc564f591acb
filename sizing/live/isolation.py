"""Run llama.cpp where it cannot hurt the caller: a child process, a deadline, a lock.

llama.cpp aborts (``GGML_ASSERT``), segfaults, gets OOM-killed or spins forever on bad
input often enough that a live check must never run it inside the app's own process.
This module owns the process boundary:

* ``run_child`` starts one command in its own process group, streams its stdout lines to
  a callback (the progress protocol), spools stderr (llama.cpp's log) to a file, and
  enforces a hard timeout and cancellation by killing the whole group. Whatever happened,
  it returns a ``ChildResult`` with the exit status, the log and the child's peak RSS, so
  the caller can report partial results.
* ``machine_lock`` lets one live check run per machine at a time (a file lock in the
  user data directory): two concurrent runs would measure each other.
* ``memory_guard`` is the pure rule that refuses a run the estimate says will not fit in
  free RAM or VRAM; ``free_memory`` is the adapter that asks the OS and NVML.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from sizing.errors import SizingError
from sizing.units import MIB, gib


# Memory left for the OS, the app and llama.cpp's small unaccounted allocations
# (threads, tokenizer, graph metadata) on top of what the estimate counts.
HOST_RESERVE_BYTES = 512 * MIB
DEVICE_RESERVE_BYTES = 256 * MIB


# --------------------------------------------------------------------------- children


@dataclass
class ChildResult:
    """What one child process did: how it ended, what it said, how much RAM it took."""

    returncode: int | None
    timed_out: bool = False
    cancelled: bool = False
    wall_s: float = 0.0
    peak_rss_bytes: int | None = None
    stdout_lines: list[str] = field(default_factory=list)
    stderr: str = ""

    @property
    def signal_name(self) -> str | None:
        """The signal that ended the child (POSIX), e.g. 'SIGSEGV', or None."""
        if self.returncode is not None and self.returncode < 0:
            try:
                return signal.Signals(-self.returncode).name
            except ValueError:
                return f"signal {-self.returncode}"
        return None

    def describe(self) -> str:
        """One line on how the child ended, for the user."""
        if self.timed_out:
            return f"timed out after {self.wall_s:.0f} s and was stopped"
        if self.cancelled:
            return "cancelled"
        if self.signal_name:
            hint = {
                "SIGKILL": " (often the kernel's out-of-memory killer)",
                "SIGABRT": " (llama.cpp aborted: an assertion failed)",
                "SIGSEGV": " (a crash inside llama.cpp)",
            }.get(self.signal_name, "")
            return f"killed by {self.signal_name}{hint}"
        if self.returncode:
            return f"exited with status {self.returncode}"
        return "finished"


def _rss_of_tree(pid: int) -> int:
    """Current resident set size of a process and its children (0 if it is gone)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        total = proc.memory_info().rss
        for child in proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += child.memory_info().rss
        return total
    except psutil.Error:
        return 0


def _kill_group(proc: subprocess.Popen) -> None:
    """Stop a child and everything it started, hard: a hung llama.cpp ignores SIGTERM."""
    if sys.platform == "win32":  # pragma: no cover - no Windows CI here
        with contextlib.suppress(OSError):
            subprocess.run(["taskkill", "/F", "/T", "/PID", str(proc.pid)], capture_output=True)
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def run_child(
    argv: Sequence[str],
    *,
    timeout_s: float,
    on_line: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    poll_s: float = 0.05,
    idle_s: float | None = None,
) -> ChildResult:
    """Run ``argv`` in its own process group; never raise for what the child does.

    stdout is read line by line and handed to ``on_line`` as it arrives; stderr goes to
    a temporary file (llama.cpp's verbose log is long) and comes back whole. The child is
    killed when ``timeout_s`` passes, when it prints no stdout line for ``idle_s`` (a
    child that reports each step of a long batch), or when ``cancel`` is set. Peak RSS comes from the
    kernel's accounting of the reaped child (``wait4``) where available, else from
    polling, whichever is larger.
    """
    if not argv:
        raise ValueError("empty command")
    stdout_lines: list[str] = []
    guarded = sys.platform != "win32"
    watch_r = watch_w = -1
    with tempfile.TemporaryFile(mode="w+b", prefix="llm-sizing-log-") as err:
        start = time.monotonic()
        cmd = list(argv)
        pass_fds: tuple[int, ...] = ()
        if guarded and shutil.which(cmd[0], path=(env or os.environ).get("PATH")) is None:
            # (the guardian would start fine and then fail: say it here, as Popen would)
            why = "not an executable program" if os.path.exists(cmd[0]) else "no such program"
            raise SizingError(f"cannot start {argv[0]!r}: {why}")
        if guarded:
            # The guardian watches the read end; only this process holds the write end,
            # so the guardian sees end-of-file the moment this process dies.
            watch_r, watch_w = os.pipe()
            held = _CHILD_HOLDS.get()
            # -I: standard library only, and its own folder (which has a select.py) not on sys.path
            cmd = [sys.executable, "-I", str(GUARDIAN), str(watch_r), json.dumps(list(held.remove)), "--", *cmd]
            pass_fds = (watch_r, *held.fds)
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                env=env,
                cwd=cwd,
                start_new_session=guarded,
                pass_fds=pass_fds,
            )
        except OSError as exc:
            if guarded:
                os.close(watch_r)
                os.close(watch_w)
            raise SizingError(f"cannot start {argv[0]!r}: {exc.strerror or exc}") from exc
        if guarded:
            os.close(watch_r)
        try:
            return _supervise(
                proc,
                err,
                start,
                stdout_lines,
                timeout_s=timeout_s,
                on_line=on_line,
                cancel=cancel,
                poll_s=poll_s,
                idle_s=idle_s,
            )
        finally:
            # Whatever ends this call (Ctrl-C, SIGTERM turned into SystemExit, a bug), the
            # child goes first: killed, then reaped, before the lock can be released.
            if proc.returncode is None:
                _kill_group(proc)
                with contextlib.suppress(Exception):
                    proc.wait(timeout=10)
            if guarded:
                os.close(watch_w)


def _supervise(
    proc: subprocess.Popen,
    err,
    start: float,
    stdout_lines: list[str],
    *,
    timeout_s: float,
    on_line: Callable[[str], None] | None,
    cancel: threading.Event | None,
    poll_s: float,
    idle_s: float | None = None,
) -> ChildResult:
    """Pump the child's stdout, enforce the deadline and cancellation, reap it."""

    last_print = [start]  # when the child last printed a line (for ``idle_s``)

    def pump() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            last_print[0] = time.monotonic()
            stdout_lines.append(line)
            if on_line is not None:
                try:
                    on_line(line)
                except Exception:  # a broken callback must not leak the child
                    pass

    reader = threading.Thread(target=pump, name="llm-sizing-child-stdout", daemon=True)
    reader.start()

    timed_out = cancelled = False
    peak_polled = 0
    returncode: int | None = None
    peak_kernel: int | None = None
    next_rss = 0.0
    while True:
        if hasattr(os, "wait4"):
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                returncode = os.waitstatus_to_exitcode(status)
                proc.returncode = returncode  # tell Popen it is reaped
                # ru_maxrss is KiB on Linux, bytes on macOS.
                scale = 1 if sys.platform == "darwin" else 1024
                peak_kernel = int(usage.ru_maxrss) * scale
                break
        else:  # pragma: no cover - Windows
            returncode = proc.poll()
            if returncode is not None:
                break
        now = time.monotonic()
        if now >= next_rss:
            peak_polled = max(peak_polled, _rss_of_tree(proc.pid))
            next_rss = now + 0.2
        if cancel is not None and cancel.is_set():
            cancelled = True
            _kill_group(proc)
        elif now - start > timeout_s or (idle_s is not None and now - last_print[0] > idle_s):
            timed_out = True
            _kill_group(proc)
        time.sleep(poll_s)
    # Grandchildren may still hold the pipe open; make sure they are gone too.
    _kill_group(proc)
    reader.join(timeout=2.0)
    wall = time.monotonic() - start
    err.seek(0)
    stderr = err.read().decode("utf-8", "replace")
    peaks = [p for p in (peak_kernel, peak_polled) if p]
    return ChildResult(
        returncode=returncode,
        timed_out=timed_out,
        cancelled=cancelled,
        wall_s=wall,
        peak_rss_bytes=max(peaks) if peaks else None,
        stdout_lines=stdout_lines,
        stderr=stderr,
    )


# ------------------------------------------------------------------------------- lock


class LiveCheckBusy(SizingError):
    """Another live check holds this machine."""


@dataclass(frozen=True)
class _Holds:
    """What a live check hands to its child's guardian: descriptors to keep open (the run
    lock) and paths to remove if the check dies first (a synthetic model)."""

    fds: tuple[int, ...] = ()
    remove: tuple[str, ...] = ()


_CHILD_HOLDS: contextvars.ContextVar[_Holds] = contextvars.ContextVar("llm_sizing_child_holds", default=_Holds())  # noqa: B039
GUARDIAN = Path(__file__).with_name("guardian.py")


@contextlib.contextmanager
def child_holds(*, fds: Sequence[int] = (), remove: Sequence[str | os.PathLike[str]] = ()) -> Iterator[None]:
    """Within this block, children started by ``run_child`` keep ``fds`` open for as long
    as they live and remove ``remove`` if this process dies before them."""
    cur = _CHILD_HOLDS.get()
    token = _CHILD_HOLDS.set(_Holds(cur.fds + tuple(fds), cur.remove + tuple(str(p) for p in remove)))
    try:
        yield
    finally:
        _CHILD_HOLDS.reset(token)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (and SIGHUP) raise ``SystemExit`` in the main thread, as Ctrl-C raises
    KeyboardInterrupt, so every ``finally`` runs: children killed, files removed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    sigs = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None]
    old = {s: signal.signal(s, stop) for s in sigs}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextlib.contextmanager
def machine_lock(lock_dir: Path, *, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the one-run-per-machine lock, or raise LiveCheckBusy naming the holder.

    A file lock (not a pid file) so a crashed holder never leaves a stale lock: the OS
    drops it with the process.
    """
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / "live-check.lock"
    fh = open(path, "a+")
    deadline = time.monotonic() + wait_s
    try:
        while True:
            try:
                _try_lock(fh)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    fh.seek(0)
                    holder = fh.read().strip() or "unknown"
                    raise LiveCheckBusy(
                        f"another live check is running on this machine (pid {holder}); "
                        "wait for it to finish or cancel it — two runs at once would "
                        "measure each other"
                    ) from None
                time.sleep(0.1)
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        # A child started under the lock inherits it (same open file), so the lock holds
        # until that child is gone, even if this process is killed first.
        with child_holds(fds=(fh.fileno(),) if sys.platform != "win32" else ()):
            yield
    finally:
        with contextlib.suppress(OSError):
            _unlock(fh)
        fh.close()


if sys.platform == "win32":  # pragma: no cover - no Windows CI here
    import msvcrt

    def _try_lock(fh) -> None:
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)

    def _unlock(fh) -> None:
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fh) -> None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fh) -> None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


# ------------------------------------------------------------------------ memory guard


class FreeMemory(BaseModel):
    """Free memory right now: host RAM, and each GPU's free VRAM (empty without GPUs)."""

    model_config = ConfigDict(frozen=True)

    host_bytes: int
    devices: dict[str, int] = {}


class MemoryNeed(BaseModel):
    """What the estimate says a run will allocate: on the host and per GPU."""

    model_config = ConfigDict(frozen=True)

    host_bytes: int
    devices: dict[str, int] = {}
    basis: str = "estimate"


def memory_guard(
    need: MemoryNeed,
    free: FreeMemory,
    *,
    host_reserve: int = HOST_RESERVE_BYTES,
    device_reserve: int = DEVICE_RESERVE_BYTES,
) -> str | None:
    """The reason to refuse a run (with the numbers), or None if it fits.

    Pure: the caller supplies both the estimate and the free memory, so the rule is
    tested without allocating anything.
    """
    problems = []
    if need.host_bytes + host_reserve > free.host_bytes:
        problems.append(
            f"host RAM: needs {gib(need.host_bytes, 2)} + {gib(host_reserve, 2)} reserve, "
            f"{gib(free.host_bytes, 2)} free"
        )
    for dev, nbytes in need.devices.items():
        avail = free.devices.get(dev)
        if avail is None:
            problems.append(f"{dev}: needs {gib(nbytes, 2)}, but no such device is visible")
        elif nbytes + device_reserve > avail:
            problems.append(
                f"{dev} VRAM: needs {gib(nbytes, 2)} + {gib(device_reserve, 2)} reserve, {gib(avail, 2)} free"
            )
    if not problems:
        return None
    return f"refused before loading: the {need.basis} says this run won't fit — " + "; ".join(problems)


def free_memory() -> FreeMemory:
    """Ask the OS for available RAM and NVML for each NVIDIA GPU's free VRAM."""
    import psutil

    from sizing.hardware.detect.nvidia import memory_free

    return FreeMemory(host_bytes=int(psutil.virtual_memory().available), devices=memory_free())


def free_disk_bytes(path: Path) -> int:
    """Free bytes on the filesystem that holds ``path`` (or its nearest existing parent)."""
    import shutil

    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free
