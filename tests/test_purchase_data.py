"""The purchase data a buyer acts on: the most-asked cards carry cited prices, idle draw is
cited where a figure exists and marked an estimate where not, and it reaches the running cost."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from sizing.core.builds import all_builds, cpu_builds, gpu_builds, offload_builds, unified_builds
from sizing.core.idle import CARD_IDLE_W, IdleTable, idle_table
from sizing.core.platforms import load_platforms, physical_fit
from sizing.core.prices import MachinePrice, PriceOverrides, load_price_file, machine_prices, observed_on, price_book
from sizing.errors import SizingError
from sizing.hardware.db import load_gpus

TODAY = dt.date(2026, 12, 1)
URL = re.compile(r"^https://\S+$")

#: the cards buyers ask about most for local LLMs (the issue's named ones first)
MOST_ASKED = (
    "nvidia-rtx-3090 nvidia-rtx-3090-ti nvidia-rtx-4090 nvidia-rtx-5090 nvidia-rtx-4060-ti-16gb "
    "nvidia-rtx-5060-ti-16gb nvidia-rtx-a6000 amd-rx-7900-xtx amd-mi50-16gb amd-mi60 nvidia-tesla-p40 "
    "nvidia-v100-sxm2-16gb nvidia-v100-sxm2-32gb nvidia-v100-pcie-32gb "
    "nvidia-rtx-3060-12gb nvidia-rtx-3060-ti nvidia-rtx-3070 nvidia-rtx-3070-ti nvidia-rtx-3080-10gb "
    "nvidia-rtx-3080-12gb nvidia-rtx-3080-ti nvidia-rtx-4060 nvidia-rtx-4060-ti-8gb nvidia-rtx-4070 "
    "nvidia-rtx-4070-super nvidia-rtx-4070-ti nvidia-rtx-4070-ti-super nvidia-rtx-4080 nvidia-rtx-4080-super "
    "nvidia-rtx-5060 nvidia-rtx-5060-ti-8gb nvidia-rtx-5070 nvidia-rtx-5070-ti nvidia-rtx-5080 "
    "nvidia-rtx-2080-ti nvidia-rtx-2060-12gb nvidia-gtx-1080-ti nvidia-titan-rtx nvidia-rtx-a4000 "
    "nvidia-rtx-a5000 nvidia-rtx-6000-ada nvidia-rtx-pro-6000-blackwell nvidia-quadro-rtx-8000 "
    "nvidia-tesla-p100-16gb nvidia-a100-pcie-80gb amd-rx-6700-xt amd-rx-6800 amd-rx-6800-xt amd-rx-6900-xt "
    "amd-rx-7600-xt amd-rx-7800-xt amd-rx-7900-gre amd-rx-7900-xt amd-rx-9060-xt-16gb amd-rx-9070 "
    "amd-rx-9070-xt amd-radeon-pro-w7900 intel-arc-a770-16gb intel-arc-b580 intel-arc-pro-b60"
).split()
#: no page quoting their price with a date was found: left out rather than guessed (the V100
#: SXM2 32 GB module's one figure came from a chatbot's guide; GPU Poet's V100s are PCIe cards)
UNPRICED = {"amd-mi60", "nvidia-v100-sxm2-32gb"}


@pytest.fixture(scope="module")
def gpus():
    return load_gpus().all


def test_the_most_asked_cards_are_real_ids_and_priced_with_kind_date_and_source(gpus):
    ids = {g.id for g in gpus}
    assert len(set(MOST_ASKED)) == 60 and set(MOST_ASKED) <= ids
    book = price_book(gpus)
    priced = {g for g in MOST_ASKED if book.cards.get(g)}
    # every card not named as unpriced has a cited price; a newly cited one must leave the list
    assert priced == set(MOST_ASKED) - UNPRICED, sorted(set(MOST_ASKED) - UNPRICED - priced)
    for g in priced:
        for p in book.cards[g]:
            assert p.kind in ("msrp", "street", "used") and URL.match(p.source) and p.date, (g, p)
    used = {g for g in priced if any(p.kind == "used" for p in book.cards[g])}
    street = {g for g in priced if any(p.kind == "street" for p in book.cards[g])}
    assert {
        "nvidia-rtx-3090",
        "nvidia-rtx-3090-ti",
        "nvidia-rtx-4090",
        "nvidia-rtx-4060-ti-16gb",
        "nvidia-rtx-a6000",
        "nvidia-tesla-p40",
        "nvidia-v100-sxm2-16gb",
        "nvidia-v100-pcie-32gb",
    } <= used
    assert {
        "nvidia-rtx-5090",
        "nvidia-rtx-4090",
        "nvidia-rtx-4060-ti-16gb",
        "nvidia-rtx-5060-ti-16gb",
        "amd-rx-7900-xtx",
    } <= street
    assert "amd-mi50-16gb" in used  # the issue names it; its one cited price is a used one
    # a floor: what is cited today, 43 of the 60 used. The issue asks for all 60; the other 17
    # have no citable used price (searched December 2026): they are priced new or at launch
    # MSRP, and the MI60 and the V100 SXM2 32 GB not at all (UNPRICED)
    assert len(used) >= 43 and len(street) >= 51


def test_a_price_citing_a_chatbot_answer_does_not_load(tmp_path):
    """A shared chatbot answer is written by a model: it cites no market, so no price may
    rest on one. The file, the entry and the field are named."""
    entry = "  - {gpu_id: nvidia-v100-sxm2-32gb, kind: used, usd: 325, date: '2026-02', source: %s}\n"
    good = tmp_path / "good.yaml"
    good.write_text("cards:\n" + entry % "https://gpupoet.com/gpu/market-report/gpu-market-report-april-2026")
    (card,), _ = load_price_file(good)
    assert card.usd == 325
    bad = tmp_path / "bad.yaml"
    bad.write_text("cards:\n" + entry % "https://claude.ai/public/artifacts/69cb344f")
    with pytest.raises(SizingError, match=r"bad\.yaml.*nvidia-v100-sxm2-32gb.*source.*claude\.ai serves chatbot"):
        load_price_file(bad)


def test_idle_figures_are_cited_and_a_bad_entry_is_refused(tmp_path):
    t = idle_table()
    assert t.cards and t.machines
    for c in t.cards.values():
        assert URL.match(c.source) and c.date and c.idle_w > 0
    bad = tmp_path / "idle.yaml"
    bad.write_text("cards:\n  - {gpu_id: nvidia-rtx-3090, idle_w: 18, date: '2021'}\n")
    with pytest.raises(SizingError, match="nvidia-rtx-3090.*source"):
        idle_table(bad)


def test_a_builds_idle_draw_is_host_plus_cited_cards_and_says_so(gpus):
    platforms, _ = load_platforms()
    am4 = next(p for p in platforms if p.id == "desktop-am4-b550")
    book = price_book(gpus)
    pick = [g for g in gpus if g.id in ("nvidia-rtx-3090", "nvidia-rtx-4060-ti-16gb")]
    t = idle_table()
    builds, _ = gpu_builds(pick, [am4], book, used=True, today=TODAY, counts=(2,), idle=t)
    by_gpu = {b.gpu_id: b for b in builds}
    cited, est = by_gpu["nvidia-rtx-3090"], by_gpu["nvidia-rtx-4060-ti-16gb"]
    assert cited.idle_w == am4.idle_w + 2 * t.cards["nvidia-rtx-3090"].idle_w
    assert any("nationalpcbuilder" in n for n in cited.notes)
    assert est.idle_w == am4.idle_w + 2 * CARD_IDLE_W and any("estimate" in n and "idle" in n for n in est.notes)
    # without the table every card is the stated estimate, so the table is what moved the 3090
    bare, _ = gpu_builds(
        pick[:1] if pick[0].id == "nvidia-rtx-3090" else pick[1:],
        [am4],
        book,
        used=True,
        today=TODAY,
        counts=(2,),
        idle=IdleTable(cards={}, machines=()),
    )
    assert bare[0].idle_w == am4.idle_w + 2 * CARD_IDLE_W != cited.idle_w


def test_unified_machines_use_apples_idle_figures_and_say_when_withdrawn(gpus):
    by_id = {g.id: g for g in gpus}
    builds = {b.gpu_id: b for b in unified_builds(machine_prices(), by_id, today=TODAY, idle=idle_table())}
    ultra = builds["apple-m3-ultra-80c-512gb"]
    assert ultra.total_usd == 9499 and ultra.idle_w == pytest.approx(8.3)
    assert any("withdrew" in n for n in ultra.notes) and any("thefilibusterblog" in n for n in ultra.notes)
    new_only = {b.gpu_id for b in unified_builds(machine_prices(), by_id, today=TODAY, idle=idle_table(), used=False)}
    assert "apple-m3-ultra-80c-512gb" not in new_only
    # Apple's rise of 25 June 2026 is the M3 Ultra's newest price; the M4-generation Macs were
    # replaced on 25 August 2026, so a new-only plan offers none of them
    u96 = builds["apple-m3-ultra-60c-96gb"]
    assert u96.total_usd == 5299 and u96.lines[0].unit.date == "2026-06-25"
    assert not any(g.startswith(("apple-m4", "apple-m3-ultra")) for g in new_only)
    # what Apple sells instead: the M5 Max Mac Studio at its list price
    assert {"apple-m5-max-40c-64gb", "apple-m5-max-40c-128gb"} <= new_only
    assert builds["apple-m5-max-40c-128gb"].total_usd == 5099
    assert "nvidia-dgx-spark-128gb" in new_only and "amd-ryzen-ai-max-plus-395-128gb" in new_only
    # the M4 Max 128 GB, at its cited configured launch price, used or refurbished only
    m4max = builds["apple-m4-max-40c-128gb"]
    assert m4max.total_usd == 3499 and m4max.lines[0].unit.kind == "msrp"
    # the 256 GB option: Apple's starting price plus the cited upgrade, withdrawn like the 512 GB one
    u256 = builds["apple-m3-ultra-60c-256gb"]
    assert u256.total_usd == 3999 + 1600 and "apple-m3-ultra-60c-256gb" not in new_only
    assert any("withdrew" in n or "dropped" in n for n in u256.notes)
    assert ultra.load_w == 295 and any("load: 295 W" in n for n in ultra.notes)  # Apple's M2 Ultra max stands in
    assert builds["nvidia-dgx-spark-128gb"].idle_w == 25
    mini = builds["apple-m4-10c-16gb"]  # no idle or load figure cited: both said to be estimate / unknown
    assert any("estimate" in n for n in mini.notes) and any("load power unknown" in n for n in mini.notes)


def test_idle_draw_raises_the_cost_per_token_of_a_build_that_idles_hot(gpus):
    """Two P40s idle at 45 W each with a model loaded (cited): that reaches the running cost."""
    builds, _ = all_builds(gpus, used=True, overrides=PriceOverrides(), today=TODAY, ram_need_gb=40)
    p40 = next(b for b in builds if b.id == "desktop-am4-b550+2xnvidia-tesla-p40")
    assert p40.idle_w == pytest.approx(45 + 2 * 45)


def test_intel_desktops_and_a_threadripper_workstation_are_priced_and_hold_what_they_claim(gpus):
    """The platforms the issue names beyond AM4/AM5: each is priced with kind, date and
    source, cites its spec page, and fits (or refuses) cards by its own slots and PSU."""
    plats = {p.id: p for p in load_platforms()[0]}
    lga1700, lga1851, trx50 = plats["desktop-lga1700-z790"], plats["desktop-lga1851-z890"], plats["hedt-trx50"]
    for p in (lga1700, lga1851, trx50):
        assert p.price.kind in ("msrp", "street", "used") and URL.match(p.price.source) and p.price.date
        assert "https://" in p.spec_source and p.ram_included_gb == 0  # RAM is priced per GB, at today's price
    assert "intel.com" in lga1700.spec_source and "intel.com" in lga1851.spec_source and "amd.com" in trx50.spec_source
    # DDR5-6400 is Arrow Lake's speed on two-slot boards only: the four-slot PRIME Z890-P runs DDR5-5600
    assert lga1851.ram_bandwidth_gbs == lga1700.ram_bandwidth_gbs == 2 * 8 * 5.6
    assert trx50.klass == "hedt" and trx50.ram_channels == 4 and trx50.ram_bandwidth_gbs > lga1851.ram_bandwidth_gbs
    by_id = {g.id: g for g in gpus}
    r3090 = by_id["nvidia-rtx-3090"]
    two = physical_fit(lga1700, r3090, 2)
    assert two.ok and two.lanes == (16, 4) and any("x4" in n for n in two.notes)
    assert not physical_fit(lga1851, r3090, 3).ok  # two usable slots
    assert physical_fit(trx50, r3090, 3).ok and physical_fit(trx50, r3090, 3).lanes == (16, 16, 8)
    four = physical_fit(trx50, r3090, 4)
    assert not four.ok and any("slots" in r for r in four.reasons)
    # a build on each is priced whole: platform + RAM + cards, every line dated
    builds, _ = gpu_builds([r3090], [lga1700, trx50], price_book(gpus), used=True, today=TODAY, counts=(2,))
    assert {b.platform_id for b in builds} == {lga1700.id, trx50.id}
    for b in builds:
        assert [ln.item_id for ln in b.lines][0] == b.platform_id and any(
            ln.item_id.startswith("ram-") for ln in b.lines
        )
        assert b.total_usd == pytest.approx(sum(ln.usd for ln in b.lines))
    # each host's CPU decodes by its maker's kernel table: the build's host device says whose
    for b in builds:
        assert b.hardware.host.rate().cpu_vendor == plats[b.platform_id].cpu_vendor
    assert lga1700.cpu_vendor == lga1851.cpu_vendor == "GenuineIntel" and trx50.cpu_vendor == "AuthenticAMD"


def test_every_platform_names_the_cpu_vendor_its_cpu_is_made_by():
    """A platform's CPU vendor picks its decode kernel table; it must be the maker of the CPU
    the platform's name lists (Ryzen, EPYC and Threadripper: AMD; Core, Celeron and Xeon: Intel)."""
    from sizing.core.speed.cpu import vendor_from_name

    makers = {"Ryzen": "AuthenticAMD", "EPYC": "AuthenticAMD", "Threadripper": "AuthenticAMD"}
    makers |= {"Core": "GenuineIntel", "Celeron": "GenuineIntel", "Xeon": "GenuineIntel"}
    for p in load_platforms()[0]:
        named = {v for k, v in makers.items() if re.search(rf"\b{k}\b", p.name)}
        assert named == {p.cpu_vendor}, (p.id, p.name, p.cpu_vendor)
    assert vendor_from_name("Intel(R) Core(TM) i7-14700K") == "GenuineIntel"
    assert vendor_from_name("AMD Ryzen 9 7950X 16-Core Processor") == "AuthenticAMD"
    assert vendor_from_name("Apple M2 Max") is None and vendor_from_name("") is None and vendor_from_name(None) is None


def test_strix_halo_boxes_other_than_the_framework_are_priced_and_the_cheapest_per_chip_is_offered(gpus):
    by_id = {g.id: g for g in gpus}
    halo = [m for m in machine_prices() if m.gpu_id == "amd-ryzen-ai-max-plus-395-128gb"]
    names = {m.name for m in halo}
    for maker in ("Framework", "EVO-X2", "GTR9 Pro", "HP Z2 Mini G1a", "MS-S1 Max"):
        assert any(maker in n for n in names), maker
    offered = {b.gpu_id: b for b in unified_builds(machine_prices(), by_id, today=TODAY, idle=idle_table())}
    # each box at its newest price, then the cheapest box: not a launch price a later one replaced
    newest = {}
    for m in halo:
        if m.name not in newest or observed_on(m.date) >= observed_on(newest[m.name].date):
            newest[m.name] = m
    row = offered["amd-ryzen-ai-max-plus-395-128gb"]
    assert row.total_usd == min(m.price_usd for m in newest.values())
    assert row.total_usd > min(m.price_usd for m in halo)  # an older, lower figure is in the file
    assert row.lines[0].unit.date >= "2026-06"  # not stale by the 6-month rule on a 2026-12 plan
    assert "amd-ryzen-ai-max-plus-395-64gb" in offered


def test_a_products_newest_price_wins_and_says_whether_it_is_still_sold(gpus):
    """Two entries for one product: the later one prices it even when it is dearer, and its
    ``sold_new: false`` takes the product out of a new-only plan."""
    by_id = {g.id: g for g in gpus}
    url = "https://example.org/price"
    old = MachinePrice(
        gpu_id="apple-m4-10c-16gb", name="Mac mini", kind="msrp", price_usd=599, date="2024-10-29", source=url
    )
    rise = MachinePrice(
        gpu_id="apple-m4-10c-16gb", name="Mac mini", kind="msrp", price_usd=799, date="2026-05", source=url
    )
    gone = MachinePrice(
        gpu_id="apple-m4-10c-16gb",
        name="Mac mini",
        kind="msrp",
        price_usd=799,
        date="2026-08-25",
        source=url,
        sold_new=False,
    )
    (row,) = unified_builds([rise, old], by_id, today=TODAY)  # file order does not matter
    assert row.total_usd == 799 and row.lines[0].unit.date == "2026-05"
    assert unified_builds([old, rise, gone], by_id, today=TODAY, used=False) == []
    (used_row,) = unified_builds([old, gone], by_id, today=TODAY, used=True)
    assert used_row.total_usd == 799
    # another maker's box with the same chip is a separate product: the cheaper current one wins
    other = MachinePrice(
        gpu_id="apple-m4-10c-16gb", name="Other box", kind="street", price_usd=700, date="2026-01", source=url
    )
    (row,) = unified_builds([old, rise, other], by_id, today=TODAY)
    assert row.label == "Other box" and row.total_usd == 700


#: Rome SKUs AMD sells as "optimized for 4 channel memory configurations": two CCDs read about
#: half of eight channels (https://www.servethehome.com/amd-epyc-7002-rome-cpus-with-half-memory-bandwidth/)
HALF_BANDWIDTH_ROME = ("7282", "7272", "7252", "7232P")


def test_a_server_cpu_that_reads_half_its_channels_is_given_half_the_bandwidth(gpus):
    """Eight DIMMs on an EPYC 7252 hold 256 GB, but the two-CCD CPU streams only about four
    channels' worth: CPU-only and expert-offload speeds on it must use that, not 204.8 GB/s."""
    plats = load_platforms()[0]
    rome = [p for p in plats if any(f"EPYC {sku}" in p.name for sku in HALF_BANDWIDTH_ROME)]
    assert rome, "the used EPYC server is priced from a build with an EPYC 7252"
    for p in rome:
        assert p.ram_channels == 8 and p.ram_bandwidth_gbs <= 4 * 25.6, p.id
    # and it reaches the CPU-only build the planner places models on
    cpu = {b.platform_id: b for b in cpu_builds(rome, price_book(gpus), ram_need_gb=128, today=TODAY)}
    for p in rome:
        assert cpu[p.id].hardware.host.bandwidth_gbs == p.ram_bandwidth_gbs


def test_ram_past_one_dimm_per_channel_runs_slower_or_is_not_offered(gpus):
    """A desktop with two channels holds 96 GB in two 48 GB DIMMs; 128 GB or more needs a second
    DIMM in each channel, which the memory controller runs slower. Builds that need it get the
    slower bandwidth and say so, or, where no page gives that speed, are left out."""
    plats = {p.id: p for p in load_platforms()[0]}
    am5, lga1851, lga1700 = plats["desktop-am5"], plats["desktop-lga1851-z890"], plats["desktop-lga1700-z790"]
    book = price_book(gpus)
    for p in (am5, lga1851):
        assert p.ram_bandwidth_at(96) == (p.ram_bandwidth_gbs, None)
        bw, why = p.ram_bandwidth_at(128)
        assert bw == p.ram_bandwidth_2dpc_gbs < p.ram_bandwidth_gbs and "two DIMMs per channel" in why
        (cpu,) = cpu_builds([p], book, ram_need_gb=150, today=TODAY)
        assert cpu.ram_gb == 192 and cpu.hardware.host.bandwidth_gbs == p.ram_bandwidth_2dpc_gbs  # 4x 48 GB
        assert any("two DIMMs per channel" in n for n in cpu.notes)
        (small,) = cpu_builds([p], book, ram_need_gb=90, today=TODAY)
        assert small.hardware.host.bandwidth_gbs == p.ram_bandwidth_gbs
    assert lga1700.ram_bandwidth_at(128) is None
    assert cpu_builds([lga1700], book, ram_need_gb=150, today=TODAY) == []
    assert len(cpu_builds([lga1700], book, ram_need_gb=90, today=TODAY)) == 1
    # expert offload with 160 GB in RAM on the Arrow Lake desktop reads the experts at the slower speed
    r3090 = next(g for g in gpus if g.id == "nvidia-rtx-3090")
    (off,) = offload_builds([r3090], [lga1851], book, ram_need_gb=150, model_gb=140, today=TODAY, counts=(1,))
    assert off.hardware.host.bandwidth_gbs == lga1851.ram_bandwidth_2dpc_gbs


def test_ram_is_bought_as_identical_modules_filling_every_channel(gpus):
    """160 GB on an eight-channel server is not a configuration anyone buys: the channels are
    filled evenly with identical modules (uneven or mixed population runs slower, or fails to
    train), so the build gets, and pays for, the next even fill."""
    plats = {p.id: p for p in load_platforms()[0]}
    book = price_book(gpus)
    epyc, wrx90, am4 = plats["server-epyc-rome"], plats["workstation-wrx90"], plats["desktop-am4-b550"]
    assert epyc.ram_fill(150) == (256.0, 8, 32)  # DDR4 has no 24 GB or 48 GB modules
    assert wrx90.ram_fill(150) == (192.0, 8, 24)  # DDR5 RDIMM does
    assert am4.ram_fill(96) == (128.0, 4, 32)  # not three sticks on a two-channel board
    assert am4.ram_fill(200) is None  # more than four 32 GB DDR4 DIMMs hold
    (cpu,) = cpu_builds([epyc], book, ram_need_gb=150, today=TODAY)
    ram = next(ln for ln in cpu.lines if ln.item_id.startswith("ram-"))
    assert cpu.ram_gb == 256 and ram.qty == 256 - epyc.ram_included_gb
    assert any("8× 32 GB, 1 per channel on all 8 channels" in n for n in cpu.notes)
    # DDR4 is priced at its own cited per-GB figure, and a server's RDIMMs say it is a
    # desktop kit's; DDR5 RDIMM has a figure of its own and no such caveat
    assert ram.unit.usd == book.ram["ddr4"].usd_per_gb != book.ram["ddr5"].usd_per_gb
    assert any("no DDR4 ECC RDIMM figure" in n for n in cpu.notes)
    (ws,) = cpu_builds([wrx90], book, ram_need_gb=150, today=TODAY)
    assert not any("RAM priced per GB" in n for n in ws.notes)
    for p in plats.values():
        if p.dimm_slots is None:
            continue
        for need in (32, 64, 96, 128, 150, 200, 300, 500):
            fill = p.ram_fill(need)
            if fill is not None:
                total, n, size = fill
                assert total >= need and n % p.ram_channels == 0 and n <= p.dimm_slots and total <= p.max_ram_gb


def test_a_card_in_a_chipset_slot_is_described_at_that_slots_pcie_generation(gpus):
    """B550's second x16-size slot is PCIe 3.0 x4 from the chipset, Z790/Z890's PCIe 4.0 x4:
    the row says so, not the CPU's generation."""
    plats = {p.id: p for p in load_platforms()[0]}
    r3090 = next(g for g in gpus if g.id == "nvidia-rtx-3090")
    for pid, want in (
        ("desktop-am4-b550", "PCIe 3.0 x4 (~4 GB/s"),
        ("desktop-lga1700-z790", "PCIe 4.0 x4 (~8 GB/s"),
        ("desktop-lga1851-z890", "PCIe 4.0 x4 (~8 GB/s"),
    ):
        fit = physical_fit(plats[pid], r3090, 2)
        assert fit.ok and any(want in n for n in fit.notes), (pid, fit.notes)
    # one card sits in the CPU's x16 slot: no narrow-link note
    assert not any("cards run at" in n for n in physical_fit(plats["desktop-am4-b550"], r3090, 1).notes)
