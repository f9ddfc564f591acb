"""What an accelerator draws idle with a model loaded: the other part of a day's power bill.

A machine used a few hours a day idles the rest, so its idle draw is often most of its
electricity. The figures come from ``data/idle_power.yaml`` (each with its source and
date); a card or chip not listed there is counted at a stated estimate, and the answer
says which it is, so a build's running cost never rests on an unmarked guess.

Pure apart from the cached loader.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from sizing.core.tables import data_file, read_yaml, validate
from sizing.errors import SizingError

if TYPE_CHECKING:
    from sizing.core.tables import DataPath

IDLE_FILE = data_file("idle_power.yaml")
DATE_RE = r"^\d{4}(-\d{2}(-\d{2})?)?$"
CARD_IDLE_W = 15.0  # a discrete card idling with a model loaded, where no figure is cited (estimate)
UNIFIED_IDLE_SHARE = 0.1  # idle draw of an unlisted unified-memory box, as a share of its rated power (estimate)
UNIFIED_IDLE_MIN_W = 8.0


class _Cited(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    idle_w: float = Field(gt=0, le=500)
    date: str = Field(pattern=DATE_RE)
    source: str = Field(pattern=r"^https://\S+$")
    note: str | None = None


class CardIdle(_Cited):
    gpu_id: str


class MachineIdle(_Cited):
    gpu_prefix: str
    load_w: float | None = Field(
        None, gt=0, le=5000, description="wall power generating (the maker's or a measured figure)"
    )
    load_source: str | None = Field(None, pattern=r"^https://\S+$")


class IdleDraw(BaseModel):
    """Watts idle, and where the figure comes from."""

    model_config = ConfigDict(frozen=True)

    watts: float
    cited: bool
    basis: str


class IdleTable(BaseModel):
    model_config = ConfigDict(frozen=True)

    cards: dict[str, CardIdle]
    machines: tuple[MachineIdle, ...]

    def card(self, gpu_id: str) -> IdleDraw:
        c = self.cards.get(gpu_id)
        if c is None:
            return IdleDraw(watts=CARD_IDLE_W, cited=False, basis=f"{CARD_IDLE_W:.0f} W per card (estimate)")
        return IdleDraw(watts=c.idle_w, cited=True, basis=f"{c.idle_w:g} W per card ({c.date}, {c.source})")

    def _machine(self, gpu_id: str) -> MachineIdle | None:
        hits = [m for m in self.machines if gpu_id.startswith(m.gpu_prefix)]
        return max(hits, key=lambda m: len(m.gpu_prefix), default=None)

    def machine_load(self, gpu_id: str, rated_w: float | None) -> IdleDraw:
        """Wall power of a unified-memory machine generating: its rated power where the GPU
        table has one, else the cited figure; unknown (0 W, said so) otherwise."""
        if rated_w:
            return IdleDraw(watts=rated_w, cited=True, basis=f"{rated_w:.0f} W rated")
        hit = self._machine(gpu_id)
        if hit is None or hit.load_w is None:
            return IdleDraw(watts=0.0, cited=False, basis="load power unknown: electricity at load is not counted")
        return IdleDraw(
            watts=hit.load_w, cited=True, basis=f"{hit.load_w:g} W at load ({hit.load_source or hit.source})"
        )

    def machine(self, gpu_id: str, rated_w: float | None) -> IdleDraw:
        hit = self._machine(gpu_id)
        if hit is None:
            w = max(UNIFIED_IDLE_MIN_W, UNIFIED_IDLE_SHARE * (rated_w or 0.0))
            return IdleDraw(
                watts=w, cited=False, basis=f"{w:.0f} W (estimate: {UNIFIED_IDLE_SHARE:.0%} of rated power)"
            )
        return IdleDraw(watts=hit.idle_w, cited=True, basis=f"{hit.idle_w:g} W ({hit.date}, {hit.source})")


@cache
def idle_table(path: DataPath = IDLE_FILE) -> IdleTable:
    raw = read_yaml(path, "idle power table") or {}
    if not isinstance(raw, dict):
        raise SizingError(f"{path}: expected a mapping with 'cards' and 'machines'")

    def name(e: object, key: str, i: int) -> str:
        return repr(e.get(key, i)) if isinstance(e, dict) else repr(i)

    cards = [
        validate(CardIdle, e, f"{path}: card {name(e, 'gpu_id', i)},") for i, e in enumerate(raw.get("cards") or [])
    ]
    machines = tuple(
        validate(MachineIdle, e, f"{path}: machine {name(e, 'gpu_prefix', i)},")
        for i, e in enumerate(raw.get("machines") or [])
    )
    return IdleTable(cards={c.gpu_id: c for c in cards}, machines=machines)
