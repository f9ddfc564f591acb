"""Release dates (sizing/data/releases.yaml): every catalog model has one, with its source,
and a broken table is one clear message naming the file and the family."""

from __future__ import annotations

import datetime as dt

import pytest

from sizing.errors import SizingError
from sizing.sources.catalog import load_catalog
from sizing.sources.releases import DEFAULT_PATH, load_releases, parse_releases


def test_every_catalog_model_has_a_release_date_and_a_source():
    table = load_releases()
    dates = table.dates()
    assert set(dates) == set(load_catalog().ids)
    assert all(f.source.startswith("https://") for f in table.families)
    assert all(dt.date(2023, 1, 1) <= d <= dt.date.today() for d in dates.values())
    assert table.doubling_months == 3.5 and "s42256-025-01137-0" in table.source


def test_known_dates_read_as_published():
    dates = load_releases().dates()
    assert dates["Qwen/Qwen2.5-Coder-32B-Instruct"] == dt.date(2024, 11, 12)
    assert dates["codellama/CodeLlama-34b-hf"] == dt.date(2023, 8, 24)


def _write(tmp_path, families: str):
    p = tmp_path / "releases.yaml"
    p.write_text("source: https://example.org/law\ndoubling_months: 3.5\nfamilies:\n" + families)
    return p


@pytest.mark.parametrize(
    "families,message",
    [
        (
            "- {family: A, released: 2024-01-01, source: https://a.org, models: [x/a]}\n"
            "- {family: B, released: 2024-02-01, source: https://b.org, models: [x/a]}\n",
            "family 'B': x/a is already dated by family 'A'",
        ),
        (
            "- {family: A, released: 2024-01-01, source: https://a.org, models: [x/unknown]}\n",
            "family 'A': x/unknown is not a catalog model",
        ),
        ("- {family: A, released: soon, source: https://a.org, models: [x/a]}\n", "released"),
        ("- {family: A, released: 2024-01-01, source: somewhere, models: [x/a]}\n", "source"),
        ("- {family: A, released: 2024-01-01, source: https://a.org, models: []}\n", "models"),
    ],
)
def test_a_broken_table_is_one_clear_message(tmp_path, families, message):
    with pytest.raises(SizingError, match="releases.yaml") as err:
        parse_releases(_write(tmp_path, families), known_ids={"x/a"})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_the_shipped_file_is_the_default():
    assert parse_releases(DEFAULT_PATH).dates() == load_releases().dates()
