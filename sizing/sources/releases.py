"""When each catalog model was published (``sizing/data/releases.yaml``), with its source.

"What runs well" ranks models by quality, not size alone: at equal size a newer model is
better, by the densing law's measured rate (the file's header cites it). The dates come
per family, each with the public page that states it; ``sizing.core.runs_well`` takes
them as a plain mapping, so the core reads no file.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

from sizing.core.tables import data_file, read_yaml, validate
from sizing.errors import SizingError

DEFAULT_PATH = data_file("releases.yaml")


class Family(BaseModel):
    """Models published together, the date they were, and where that is stated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    family: str = Field(min_length=1)
    released: dt.date
    source: str = Field(pattern=r"^https://\S+$")
    models: tuple[str, ...] = Field(min_length=1)


class Releases(BaseModel):
    """The whole table: the rate that turns a date into a ranking weight, and the families."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(pattern=r"^https://\S+$", description="where the doubling time is published")
    doubling_months: float = Field(gt=0, description="months in which capability per parameter doubles")
    families: tuple[Family, ...]

    def dates(self) -> dict[str, dt.date]:
        """Model id -> release date."""
        return {m: f.released for f in self.families for m in f.models}


def parse_releases(path=DEFAULT_PATH, known_ids: set[str] | None = None) -> Releases:
    """Read and check the table: a model is listed once, and (given ``known_ids``) is a
    catalog model. A mistake is one SizingError naming the file and the family."""
    raw = read_yaml(path, "release dates")
    table = validate(Releases, raw, f"{path}:", default="(top level)")
    seen: dict[str, str] = {}
    for f in table.families:
        for m in f.models:
            where = f"{path}: family {f.family!r}:"
            if m in seen:
                raise SizingError(f"{where} {m} is already dated by family {seen[m]!r}")
            if known_ids is not None and m not in known_ids:
                raise SizingError(f"{where} {m} is not a catalog model")
            seen[m] = f.family
    return table


@lru_cache(maxsize=1)
def load_releases() -> Releases:
    """The shipped table, checked against the shipped catalog (cached)."""
    from sizing.sources.catalog import load_catalog

    return parse_releases(DEFAULT_PATH, set(load_catalog().ids))
