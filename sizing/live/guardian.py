"""Stand between a live check and its llama.cpp child, so the child never outlives the check.

``run_child`` starts this script (by file, standard library only) with one end of a
pipe whose other end only the check holds. The guardian starts the real command and
waits. When the check dies in any way, ``kill -9`` included, the pipe reaches end of
file: the guardian kills the command, removes the files it was given (a synthetic
model), and exits. On Linux the command also gets ``PR_SET_PDEATHSIG``, so it is killed
by the kernel if the guardian itself is killed. The run lock's descriptor is passed to
the guardian alone, so the lock stays held until the guardian has seen its child die.

Usage: ``python guardian.py WATCH_FD REMOVE_JSON -- ARGV...``
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent() -> None:
    """In the child, before exec: the kernel sends SIGKILL when its parent dies (Linux)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _remove(paths: list[str]) -> None:
    for p in paths:
        try:
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            else:
                os.unlink(p)
        except OSError:
            pass


def main(argv: list[str]) -> int:
    watch_fd, remove = int(argv[0]), json.loads(argv[1])
    cmd = argv[argv.index("--") + 1 :]
    linux = sys.platform.startswith("linux")
    if linux:
        import ctypes  # loaded before the fork, so the child's pre-exec hook imports nothing

        del ctypes
    try:
        proc = subprocess.Popen(cmd, preexec_fn=_die_with_parent if linux else None)
    except OSError as exc:
        print(f"cannot start {cmd[0]!r}: {exc.strerror or exc}", file=sys.stderr, flush=True)
        return 127
    done, orphan = threading.Event(), threading.Event()

    def orphaned() -> None:
        while True:
            try:
                chunk = os.read(watch_fd, 64)
            except InterruptedError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                break
        if done.is_set():
            return
        orphan.set()
        try:  # the check is gone: nobody will stop or clean up after this run
            proc.kill()
            proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        _remove(remove)
        os._exit(137)

    watcher = threading.Thread(target=orphaned, daemon=True)
    watcher.start()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        # Stopping the guardian stops the command first, then the guardian.
        signal.signal(sig, lambda s, f: proc.kill())
    code = proc.wait()
    done.set()
    if orphan.is_set():  # the watcher is cleaning up; it ends the process
        watcher.join()
    if code < 0:  # end the same way, so the check reads the same signal
        sys.stdout.flush()
        try:
            signal.signal(-code, signal.SIG_DFL)
        except (OSError, ValueError):  # SIGKILL, SIGSTOP: already their default
            pass
        os.kill(os.getpid(), -code)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
