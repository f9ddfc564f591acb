"""What a card, a host platform or a complete system costs, with what kind of price it is.

A buyer can act on a price only if they know whether it is the launch list price, what a
new one costs today, or what a used one sells for, and how old the figure is. Every price
here carries its kind, the date it was observed and the page that states it; a figure
without all three does not load. Prices come from ``data/prices.yaml`` (street and used
card prices, RAM per GB), ``data/gpus.yaml`` (launch MSRP dated by launch year, and a
street price whose source says NEW or USED) and ``data/machine_prices.yaml`` (complete
systems as sold). The user can override any of them (``PriceOverrides``).

Pure apart from the cached loaders; ``age_months`` takes "today" as an argument.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Annotated, Literal, overload

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from sizing.core.tables import data_file, read_yaml_mapping, validate
from sizing.errors import SizingError

if TYPE_CHECKING:
    from sizing.core.tables import DataPath

PRICES_FILE = data_file("prices.yaml")
MACHINES_FILE = data_file("machine_prices.yaml")
PriceKind = Literal["msrp", "street", "used"]
STALE_MONTHS = 6
# A sound price observed at most this long before a newer weak one of the same kind still wins
# (``PriceBook.latest``): the staleness bar, so a figure the app would not yet call old.
WEAK_YIELDS_WITHIN_MONTHS = STALE_MONTHS
DATE_RE = r"^\d{4}(-\d{2}(-\d{2})?)?$"
DAYS_PER_MONTH = 365.25 / 12
# Shared chatbot answers are written by a model, not observed on a market: no price may cite one.
CHAT_HOSTS = ("claude.ai", "chatgpt.com", "chat.openai.com", "perplexity.ai", "gemini.google.com", "poe.com")


def _observed_source(url: str) -> str:
    m = re.match(r"^https://(?:[^@/]*@)?([^/:?#]+)", url)
    host = m.group(1).lower() if m else ""
    if any(host == h or host.endswith("." + h) for h in CHAT_HOSTS):
        raise ValueError(f"{host} serves chatbot answers, which no one observed a price in: cite the page it came from")
    return url


SourceUrl = Annotated[str, Field(pattern=r"^https://\S+$"), AfterValidator(_observed_source)]
KIND_WORDS = {"msrp": "launch MSRP", "street": "new (street)", "used": "used market"}


class Price(BaseModel):
    """One dated, cited price."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    usd: float = Field(gt=0)
    kind: PriceKind
    date: str = Field(pattern=DATE_RE, description="when the price was observed: YYYY, YYYY-MM or YYYY-MM-DD")
    source: SourceUrl
    note: str | None = None
    weak_basis: str | None = Field(
        None,
        description="why this figure is a poor guide to what a buyer pays (the floor of a few listings, "
        "one asking price abroad); shown beside the price",
    )

    passed_over: Price | None = Field(
        None, description="a newer weak price of the same kind this one was chosen over (PriceBook.latest)"
    )

    def describe(self) -> str:
        return f"${self.usd:,.0f} {KIND_WORDS[self.kind]}, {self.date}"

    def label(self) -> str:
        """Which price this is, as a row shows it: kind, date, weak or not, and what it was chosen over."""
        return (
            f"{KIND_WORDS[self.kind]}, {self.date}"
            + (", weak basis" if self.weak_basis else "")
            + (f"; chosen over a newer weak figure, {self.passed_over.describe()}" if self.passed_over else "")
        )

    def tag(self) -> str:
        """The same, short enough for a table cell: "used 2026-05-16 (over a newer weak $1,207)"."""
        head = f"{self.kind} {self.date}" + (" weak" if self.weak_basis else "")
        return head + (f" (over a newer weak ${self.passed_over.usd:,.0f})" if self.passed_over else "")


class CardPrice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    gpu_id: str
    kind: PriceKind
    usd: float = Field(gt=0)
    date: str = Field(pattern=DATE_RE)
    source: SourceUrl
    note: str | None = None
    weak_basis: str | None = Field(
        None,
        description="why this figure is a poor guide to what a buyer pays (the floor of a few listings, "
        "one asking price abroad); shown beside the price",
    )

    @property
    def price(self) -> Price:
        return Price(
            usd=self.usd, kind=self.kind, date=self.date, source=self.source, note=self.note, weak_basis=self.weak_basis
        )


class RamPrice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["ddr4", "ddr5", "ddr5-rdimm"]
    kind: PriceKind
    usd_per_gb: float = Field(gt=0)
    date: str = Field(pattern=DATE_RE)
    source: SourceUrl
    note: str | None = None
    caveat: str | None = Field(
        None, description="said on every build that adds this RAM: what the figure is not a price of"
    )


class MachinePrice(BaseModel):
    """A complete system as sold (unified-memory machines: Mac mini/Studio, DGX Spark)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gpu_id: str
    name: str
    kind: PriceKind
    price_usd: float = Field(gt=0)
    date: str = Field(pattern=DATE_RE)
    source: SourceUrl
    note: str | None = None
    sold_new: bool = Field(True, description="false: the maker no longer sells this configuration (used market only)")


class PriceBook(BaseModel):
    """Every card price by GPU id (all kinds), and RAM per GB by type."""

    model_config = ConfigDict(frozen=True)

    cards: dict[str, tuple[Price, ...]]
    ram: dict[str, RamPrice]

    def latest(self, gpu_id: str, kind: PriceKind) -> Price | None:
        """The price of this kind a buyer should be quoted: the most recently observed one,
        unless that one rests on a weak basis and a sound one was observed at most
        ``WEAK_YIELDS_WITHIN_MONTHS`` (6) before it; then the newest sound one, which says
        what it was chosen over.

        Why: a market moves, so a newer figure normally wins. But a weak figure measures
        something else than a sound one (the cheapest asking prices still listed, three
        listings, a guide's rough range), and the gap between the two is then mostly that
        bias, not the market: in April 2026 the asking-price floor for a used RTX 3090 was
        $1,049 while its eBay sold median in May settled near $750, so September's $1,207
        floor says little about what one sells for. Within the staleness window (the age
        at which the app warns that any price may be out of date) the sound figure is the
        better evidence; past it the market may really have moved, and the newer weak
        figure is the better of two poor guides. A weak figure with no sound one of its
        kind is used as it is (and labelled weak wherever it prices a row)."""
        ps = [p for p in self.cards.get(gpu_id, ()) if p.kind == kind]
        if not ps:
            return None
        newest = max(ps, key=lambda p: observed_on(p.date))
        if not newest.weak_basis:
            return newest
        sound = [
            p
            for p in ps
            if not p.weak_basis and age_months(p.date, observed_on(newest.date)) <= WEAK_YIELDS_WITHIN_MONTHS
        ]
        if not sound:
            return newest
        best = max(sound, key=lambda p: observed_on(p.date))
        return best.model_copy(update={"passed_over": newest})

    def for_card(self, gpu_id: str, *, used: bool) -> Price | None:
        """The price a buyer would pay: new (the latest street price, else MSRP); with
        ``used``, the latest used price where one is cited and cheaper, else new."""
        new = self.latest(gpu_id, "street") or self.latest(gpu_id, "msrp")
        if not used:
            return new
        second = self.latest(gpu_id, "used")
        if second is not None and (new is None or second.usd < new.usd):
            return second
        return new


def _first_url(text: str | None) -> str | None:
    m = re.search(r"https://\S+", text or "")
    return m.group(0).rstrip("'\");,") if m else None


def gpu_db_prices(gpus: Iterable) -> dict[str, list[Price]]:
    """Prices data/gpus.yaml carries: launch MSRP (dated by launch year, cited by the
    release source) and a street price whose source text says NEW or USED."""
    out: dict[str, list[Price]] = {}
    for g in gpus:
        if g.launch_price_usd and g.year and _first_url(g.sources.release):
            out.setdefault(g.id, []).append(
                Price(usd=g.launch_price_usd, kind="msrp", date=str(g.year), source=_first_url(g.sources.release))
            )
        if g.street_price_usd and _first_url(g.sources.street_price):
            text = g.sources.street_price or ""
            kind: PriceKind = "used" if text.strip().upper().startswith("USED") else "street"
            out.setdefault(g.id, []).append(
                Price(usd=g.street_price_usd, kind=kind, date=g.street_price_date, source=_first_url(text), note=text)
            )
    return out


@cache
def load_price_file(path: DataPath = PRICES_FILE) -> tuple[tuple[CardPrice, ...], tuple[RamPrice, ...]]:
    raw = read_yaml_mapping(path, "price list")
    if not isinstance(raw, dict):
        raise SizingError(f"{path}: expected a mapping with 'cards' and 'ram'")
    cards = tuple(
        validate(CardPrice, e, f"{path}: card {e.get('gpu_id', i) if isinstance(e, dict) else i!r},")
        for i, e in enumerate(raw.get("cards") or [])
    )
    ram = tuple(
        validate(RamPrice, e, f"{path}: ram {e.get('type', i) if isinstance(e, dict) else i!r},")
        for i, e in enumerate(raw.get("ram") or [])
    )
    return cards, ram


@cache
def machine_prices(path: DataPath = MACHINES_FILE) -> tuple[MachinePrice, ...]:
    raw = read_yaml_mapping(path, "price list")
    return tuple(
        validate(MachinePrice, e, f"{path}: entry {e.get('gpu_id', i) if isinstance(e, dict) else i!r},")
        for i, e in enumerate(raw.get("machines") or [])
    )


def price_book(gpus: Iterable, path: DataPath = PRICES_FILE) -> PriceBook:
    """All card prices: the price file's street/used figures, then every one of gpus.yaml's
    not already listed (``PriceBook.latest`` chooses among several of a kind; a sold
    median in gpus.yaml is not hidden by a newer weak figure in the price file)."""
    cards, ram = load_price_file(path)  # type: ignore[arg-type]  # a DataPath is hashable
    merged: dict[str, list[Price]] = {}
    for c in cards:
        merged.setdefault(c.gpu_id, []).append(c.price)
    for gid, ps in gpu_db_prices(gpus).items():
        for p in ps:
            if not any(q.kind == p.kind and q.usd == p.usd and q.date == p.date for q in merged.get(gid, [])):
                merged.setdefault(gid, []).append(p)
    return PriceBook(cards={k: tuple(v) for k, v in merged.items()}, ram={r.type: r for r in ram})


# --------------------------------------------------------------------------------------
# age


@lru_cache(maxsize=4096)  # a few hundred distinct dates; a plan asks about each thousands of times
def observed_on(date: str) -> dt.date:
    """The earliest day a price's date can mean ("2026" -> 2026-01-01), so its age is
    never understated."""
    parts = [int(x) for x in date.split("-")]
    return dt.date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)


def age_months(date: str, today: dt.date) -> float:
    return max(0.0, (today - observed_on(date)).days / DAYS_PER_MONTH)


def is_stale(date: str, today: dt.date) -> bool:
    return age_months(date, today) > STALE_MONTHS


# --------------------------------------------------------------------------------------
# overrides


class PriceOverrides(BaseModel):
    """Prices the user typed in, by item id (a GPU id, a platform id or a system id)."""

    model_config = ConfigDict(frozen=True)

    usd: dict[str, float] = {}

    @overload
    def price(self, item_id: str, fallback: Price, today: dt.date) -> Price: ...
    @overload
    def price(self, item_id: str, fallback: Price | None, today: dt.date) -> Price | None: ...
    def price(self, item_id: str, fallback: Price | None, today: dt.date) -> Price | None:
        if item_id not in self.usd:
            return fallback
        return Price(
            usd=self.usd[item_id],
            kind=fallback.kind if fallback else "street",
            date=today.isoformat(),
            source="https://user.override/" + item_id,
            note="price entered by the user",
        )


NO_OVERRIDES = PriceOverrides()


def parse_overrides(items: Iterable[str] | Mapping[str, object], known: Iterable[str] = ()) -> PriceOverrides:
    """``ID=USD`` strings (or a mapping) to overrides; a non-positive or non-numeric price,
    or an id nothing is priced under, is refused with one message."""
    pairs: list[tuple[str, object]]
    if isinstance(items, Mapping):
        pairs = list(items.items())
    else:
        pairs = []
        for it in items:
            if "=" not in it:
                raise SizingError(f"price override {it[:60]!r}: expected ID=USD, e.g. nvidia-rtx-3090=700")
            key, text = it.split("=", 1)
            pairs.append((key.strip(), text.strip()))
    ids = set(known)
    out: dict[str, float] = {}
    for k, v in pairs:
        try:
            usd = float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise SizingError(
                f"price override for {k[:60]!r} must be a positive number of USD, got {str(v)[:40]!r}"
            ) from None
        if not (usd > 0 and math.isfinite(usd)):
            raise SizingError(f"price override for {k[:60]!r} must be a positive number of USD, got {str(v)[:40]}")
        if ids and k not in ids:
            raise SizingError(f"price override: nothing is priced under {k[:60]!r} (use a GPU, platform or system id)")
        out[k] = usd
    return PriceOverrides(usd=out)
