"""The fit map: the solver's verdict for every quant × context cell, with its total memory.

Why a module of its own: a map asks the placement search up to 49 times, and a cell that
does not fit all on the accelerator costs a whole search (the most layers the GPUs hold,
the fewest expert layers in RAM). Along a row the memory only grows with the context (KV
cache and compute buffer), so the verdict only ever worsens: fits, then tight (layers in
system RAM), then no. The map therefore places only the cells whose neighbours disagree,
bisecting each row, and fills the runs between two equal verdicts. Every cell keeps its
own memory estimate (memoised per model, quant and context by the solver).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from sizing.core import solver
from sizing.core.arch import ModelArch
from sizing.core.machine import Hardware
from sizing.core.memory import estimate as memory_estimate

QUANTS: tuple[str, ...] = ("F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K")
CTXS: tuple[int, ...] = (2048, 4096, 8192, 16384, 32768, 65536, 131072)
_ORDER = {"fits": 0, "tight": 1, "no": 2}


class FitMap(BaseModel):
    """Rows per quant, columns per context: 'fits' (all on the accelerator, or CPU-only in
    RAM), 'tight' (only with layers kept in system RAM, slower) or 'no'; and each cell's
    total bytes. ``explain`` says why a CPU map needs more RAM at some quants (repacking)."""

    model_config = ConfigDict(frozen=True)

    quants: list[str]
    ctxs: list[int]
    status: list[list[str]]
    totals: list[list[int]]
    explain: str | None = None


def fit_map(
    arch: ModelArch,
    hardware: Hardware,
    *,
    quants: Sequence[str] = QUANTS,
    ctxs: Sequence[int] = CTXS,
    n_parallel: int = 1,
    kv_type_k: str = "f16",
    kv_type_v: str = "f16",
    flash_attn: bool = True,
    mmap: bool = True,
    repack: bool = True,
    mlock: bool = False,
) -> FitMap:
    """The map for ``arch`` on ``hardware`` at the contexts the model reaches (its maximum
    alone when it reaches none of ``ctxs``)."""
    cols = [c for c in ctxs if c <= arch.max_context] or [arch.max_context]
    kw: dict[str, Any] = dict(
        n_parallel=n_parallel,
        kv_type_k=kv_type_k,
        kv_type_v=kv_type_v,
        flash_attn=flash_attn,
        mmap=mmap,
        repack=repack,
        mlock=mlock,
    )
    status: list[list[str]] = []
    totals: list[list[int]] = []
    reclaim = 0
    for q in quants:
        memory = [solver.memory_at(arch, q, c, hardware, **kw) for c in cols]
        reclaim = max([reclaim, *(m.reclaimable_bytes for m in memory)])
        totals.append([m.total_bytes for m in memory])
        status.append(_row(lambda c, q=q: _verdict(arch, q, c, hardware, kw), cols))
    explain = memory_estimate.repack_explanation(
        backend=hardware.gpus[0].backend if hardware.gpus else "cpu",
        repack=repack,
        mmap=mmap,
        mlock=mlock,
        reclaimable=reclaim,
    )
    return FitMap(quants=list(quants), ctxs=cols, status=status, totals=totals, explain=explain)


def _verdict(arch: ModelArch, quant: str, ctx: int, hardware: Hardware, kw: dict) -> str:
    p = solver.fit(arch, quant, ctx, hardware, **kw)
    if not p.fits:
        return "no"
    return "tight" if hardware.gpus and not p.all_on_gpu else "fits"


def _row(verdict, cols: Sequence[int]) -> list[str]:
    """One row's verdicts, asking ``verdict`` only where the two ends of a stretch differ:
    a stretch between two equal verdicts has that verdict (it only worsens with context)."""
    out: list[str | None] = [None] * len(cols)

    def at(i: int) -> str:
        v = out[i]
        if v is None:
            v = out[i] = verdict(cols[i])
        return v

    def fill(lo: int, hi: int) -> None:
        a, b = at(lo), at(hi)
        if hi - lo < 2:
            return
        if a == b:
            out[lo + 1 : hi] = [a] * (hi - lo - 1)
            return
        mid = (lo + hi) // 2
        at(mid)
        fill(lo, mid)
        fill(mid, hi)

    fill(0, len(cols) - 1)
    return [v for v in out if v is not None]
