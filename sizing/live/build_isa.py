"""Which CPU instruction sets a llama.cpp build was compiled for.

The speed of llama.cpp's CPU kernels depends on the vector ISA they use, and that is the
lower of what the CPU has and what the build was compiled for: the xllamacpp wheel on
PyPI is a portable AVX2 build, so on a CPU with AVX-512 and AMX it still runs its AVX2
kernels. llama.cpp reports its build in its ``system_info`` line
(``CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | ... | REPACK = 1 |``); this
module reads that line, asking the embedded build once in a child process (loading the
105 MB library into the app is not worth one line) and caching the answer per version.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from functools import cache

from sizing.hardware.detect.cpu import cache_dir

_FEATURE = re.compile(r"([A-Z][A-Z0-9_]*)\s*=\s*1\b")


def parse_system_info(text: str) -> tuple[str, ...]:
    """The features a ``system_info`` line marks ``= 1`` in its CPU section, sorted."""
    cpu = text.split("CPU :", 1)[1] if "CPU :" in text else text
    return tuple(sorted(set(_FEATURE.findall(cpu))))


@cache
def embedded_build_features(timeout_s: float = 60.0) -> tuple[str, ...] | None:
    """The CPU features the installed xllamacpp build uses, or None when it cannot say."""
    try:
        from importlib.metadata import version

        ver = version("xllamacpp")
    except Exception:
        return None
    path = cache_dir() / "llama_build_features.json"
    try:
        data = json.loads(path.read_text())
        if data.get("xllamacpp") == ver and isinstance(data.get("features"), list):
            return tuple(str(f) for f in data["features"])
    except (OSError, ValueError, AttributeError):
        pass
    code = "import xllamacpp, sys; sys.stdout.write(xllamacpp.get_system_info())"
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0 or "CPU :" not in out.stdout:
        return None
    features = parse_system_info(out.stdout)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"xllamacpp": ver, "features": list(features)}))
    except OSError:
        pass  # a read-only home only costs the cache
    return features
