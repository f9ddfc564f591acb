"""Which of several cited prices of one kind prices a card (``PriceBook.latest``), and how a
row says which one it used: a newer weak figure (an asking-price floor, a few listings) does
not displace a sound one observed within the staleness window before it."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from sizing.cli import main
from sizing.core.builds import all_builds
from sizing.core.prices import STALE_MONTHS, WEAK_YIELDS_WITHIN_MONTHS, Price, PriceBook, PriceOverrides, price_book
from sizing.core.purchase import plan
from sizing.core.speed.calibration import load_calibration
from sizing.core.speed.coverage import bench_coverage
from sizing.hardware.db import load_gpus
from sizing.sources.catalog import load_catalog

TODAY = dt.date(2026, 12, 1)


@pytest.fixture(scope="module")
def book():
    return price_book(load_gpus().all)


def test_a_used_3090_is_priced_at_its_sold_median_not_a_newer_asking_floor(book):
    """The packaged data holds a May 2026 eBay/r/hardwareswap sold figure (~$750, in
    data/gpus.yaml) and a September 2026 asking-price floor ($1,207, marked weak in
    data/prices.yaml). The buyer is quoted the sold figure, which says what it was chosen
    over; the newest-wins rule priced a used 3090 above a used 3090 Ti."""
    p = book.for_card("nvidia-rtx-3090", used=True)
    assert p is not None and p.kind == "used" and p.weak_basis is None
    assert p.date == "2026-05-16" and 600 < p.usd < 900
    assert p.passed_over is not None and p.passed_over.weak_basis and p.passed_over.date == "2026-09"
    assert p.passed_over.usd > p.usd
    assert "chosen over a newer weak figure" in p.label() and "$1,207" in p.label()
    ti = book.for_card("nvidia-rtx-3090-ti", used=True)
    assert ti is not None and p.usd < ti.usd


@pytest.mark.parametrize(
    "gpu_id, kind", [("nvidia-rtx-5060-ti-16gb", "street"), ("nvidia-rtx-pro-6000-blackwell", "street")]
)
def test_other_weak_newest_figures_yield_to_a_sound_one_months_before(book, gpu_id, kind):
    """Three Amazon listings (5060 Ti, September) and a guide's rough range (PRO 6000, June)
    yield to a retailer figure of the same kind from one and two months before."""
    p = book.latest(gpu_id, kind)
    assert p is not None and p.weak_basis is None and p.passed_over is not None
    assert p.passed_over.weak_basis and p.passed_over.usd > p.usd


def test_a_weak_figure_with_no_sound_one_is_used_and_labelled_weak(book):
    """The P100's two used figures are both weak: the newer prices it, marked as weak."""
    p = book.for_card("nvidia-tesla-p100-16gb", used=True)
    assert p is not None and p.weak_basis and p.passed_over is None and p.date == "2026-07"
    assert "weak basis" in p.label() and p.tag().endswith("weak")


def _p(usd: float, date: str, weak: bool) -> Price:
    return Price(
        usd=usd, kind="used", date=date, source="https://example.org/" + date, weak_basis="a floor" if weak else None
    )


@pytest.mark.parametrize(
    "sound_date, wins",
    [("2026-04-01", True), ("2026-03-05", True), ("2026-02-01", False), ("2025-09-01", False)],
)
def test_the_window_is_the_staleness_bar_counted_back_from_the_weak_figure(sound_date, wins):
    """A sound figure up to six months older than the weak one wins; an older one does not
    (the market may have moved since): the weak one then prices the card."""
    assert WEAK_YIELDS_WITHIN_MONTHS == STALE_MONTHS == 6
    sound, weak = _p(750, sound_date, False), _p(1207, "2026-09-01", True)
    got = PriceBook(cards={"x": (weak, sound)}, ram={}).latest("x", "used")
    assert got is not None
    assert (got.usd, got.passed_over) == ((750, weak) if wins else (1207, None))


def test_a_newer_sound_figure_wins_as_before():
    older_weak, newer = _p(1000, "2026-05", True), _p(800, "2026-08", False)
    got = PriceBook(cards={"x": (older_weak, newer)}, ram={}).latest("x", "used")
    assert got == newer and got.passed_over is None


def test_a_row_says_which_price_it_used():
    """A plan row carries the card's price basis (kind, date, weak or not, what it was chosen
    over) and its price line the same; a price the user typed is no longer 'over' anything."""
    gpus = load_gpus().all
    builds, _ = all_builds(gpus, used=True, overrides=PriceOverrides(), today=TODAY, ram_need_gb=64)
    arch = load_catalog().get("meta-llama/Llama-3.1-8B-Instruct")
    r = plan(
        [arch],
        [b for b in builds if b.gpu_id in ("nvidia-rtx-3090", "nvidia-tesla-p100-16gb") and b.count == 1],
        quant="Q4_K_M",
        ctx=8192,
        calib=load_calibration(),
        coverage=bench_coverage(),
        today=TODAY,
        objective="cheapest",
        limit=50,
    )
    rows = {o.gpu_id: o for o in r.options}
    r3090 = rows["nvidia-rtx-3090"]
    assert "used 2026-05-16 (over a newer weak $1,207)" in r3090.price_basis
    card = next(ln for ln in r3090.lines if ln["id"] == "nvidia-rtx-3090")
    assert card["passed_over"] and "$1,207" in card["passed_over"] and card["unit_usd"] < 900
    assert rows["nvidia-tesla-p100-16gb"].price_basis.endswith("used 2026-07 weak")
    given = PriceOverrides(usd={"nvidia-rtx-3090": 700.0}).price(
        "nvidia-rtx-3090", price_book(gpus).for_card("nvidia-rtx-3090", used=True), TODAY
    )
    assert given.passed_over is None and given.weak_basis is None


def test_the_cli_table_shows_the_price_each_row_used(capsys):
    code = main(
        [
            "plan",
            "--model",
            "meta-llama/Llama-3.1-8B-Instruct",
            "--used",
            "--objective",
            "cost-per-token",
            "--target-tps",
            "30",
            "--limit",
            "10",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "priced at" in out.splitlines()[1]
    row = next(ln for ln in out.splitlines() if "RTX 3090 on" in ln and ln[:1].isdigit())
    assert "$750 used 2026-05-16 (over a newer weak $1,207)" in row
    code = main(["plan", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--used", "--limit", "3", "--json"])
    d = json.loads(capsys.readouterr().out)
    assert code == 0 and all(o["price_basis"] for o in d["options"])
