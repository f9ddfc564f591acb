"""Byte units and how we print them.

llama.cpp logs and every figure we show are in binary units (MiB, GiB), so the constants
and the formatting live once here rather than in each module that prints a size.
"""

from __future__ import annotations

MIB = 1024**2
GIB = 1024**3


def gib(n: float, digits: int = 1) -> str:
    """``n`` bytes as ``"12.3 GiB"``."""
    return f"{n / GIB:.{digits}f} GiB"
