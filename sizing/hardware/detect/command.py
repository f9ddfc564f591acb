"""The one subprocess boundary of detection: run a tool, get its stdout or None.

Vendor tools (``rocm-smi``, ``sysctl``, ``system_profiler``) may be missing, fail or hang;
detection treats all three as "no answer" and moves on. Detectors take a ``Runner`` so
tests can answer with recorded output instead.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable

Runner = Callable[[list[str]], "str | None"]


def run_command(cmd: list[str], timeout_s: float = 10) -> str | None:
    """``cmd``'s stdout, or None when it is not installed, fails or outlives ``timeout_s``."""
    if shutil.which(cmd[0]) is None:
        return None
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None
