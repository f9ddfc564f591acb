"""Text for numbers the core produced: sizes, rates, durations, context lengths."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sizing.units import GIB


def gb(n: float | int | None) -> str:
    """Bytes as GiB with one decimal (llama.cpp and nvidia-smi both report binary units)."""
    if n is None:
        return "—"
    if n < GIB / 10:
        return f"{n / 1024**2:.0f} MiB"
    return f"{n / GIB:.1f} GiB"


def rate(v: float | None, unit: str = "tok/s") -> str:
    if v is None:
        return "—"
    return f"{v:.0f} {unit}" if v >= 100 else f"{v:.1f} {unit}"


def seconds(v: float | None) -> str:
    if v is None:
        return "—"
    if v < 1:
        return f"{v * 1000:.0f} ms"
    if v < 120:
        return f"{v:.1f} s"
    return f"{v / 60:.1f} min"


def ctx(n: int | None) -> str:
    if not n:
        return "—"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024}k"
    return f"{n:,}"


def usd(v: float | None) -> str:
    return "—" if v is None else f"${v:,.0f}"


def count(n: int | float | None) -> str:
    """Parameter counts: 8.03 B, 135 M."""
    if n is None:
        return "—"
    if n >= 1e9:
        return f"{n / 1e9:.2f} B"
    return f"{n / 1e6:.0f} M"


def num(v: float | None) -> str:
    """A rate without its unit (the label carries it): 195, 14.2k, 3.4."""
    if v is None:
        return "—"
    if v >= 10_000:
        return f"{v / 1000:.0f}k"
    if v >= 1000:
        return f"{v / 1000:.1f}k"
    if v >= 100:
        return f"{v:.0f}"
    return f"{v:.1f}"


def label_of(names: Mapping[str, str]) -> Callable[[object], str]:
    """A widget's ``format_func`` for options named in ``names`` (an unnamed one shows as is)."""
    return lambda key: names.get(str(key), str(key))
