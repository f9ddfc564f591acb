"""The clock the CPU speed model counts at: a VM's nominal clock is its generation's boost.

The cpuinfo texts below are laid out as Linux prints them (first processor block of a
KVM guest); the machine's own /proc/cpuinfo is read too.
"""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from sizing.core.cpu_clock import CpuId, core_clock, cpu_generations, generation_of
from sizing.errors import SizingError
from sizing.hardware.detect.cpu import detect_cpu, parse_cpuid

GENOA_GUEST = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
stepping\t: 1
cpu MHz\t\t: 2596.130

processor\t: 1
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 18
"""


def test_a_masked_guest_still_names_its_family_and_model():
    assert parse_cpuid(GENOA_GUEST) == CpuId(vendor="AuthenticAMD", family=25, model=17)
    assert parse_cpuid("processor\t: 0\nFeatures\t: fp asimd\n") is None  # ARM: no x86 CPUID
    assert parse_cpuid("vendor_id\t: GenuineIntel\ncpu family\t: six\nmodel\t\t: 143\n") is None


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 CPUID fields")
def test_this_machines_cpuinfo_gives_a_cpuid_and_a_clock_with_its_basis():
    text = Path("/proc/cpuinfo").read_text()
    cpuid = parse_cpuid(text)
    assert cpuid is not None and cpuid.vendor in ("AuthenticAMD", "GenuineIntel") and cpuid.family > 0
    cpu = detect_cpu()
    assert cpu.clock_ghz and cpu.clock_basis
    if generation_of(cpuid) is not None and "GHz, its nominal clock" in cpu.clock_basis:
        assert cpu.clock_ghz == generation_of(cpuid).boost_ghz


def test_a_vm_counts_at_its_generations_boost_clock():
    genoa = CpuId(vendor="AuthenticAMD", family=25, model=17)
    gen = generation_of(genoa)
    assert gen is not None and gen.boost_ghz > 2.6
    clock = core_clock(2.6, is_max=False, cpuid=genoa)
    assert clock.ghz == gen.boost_ghz
    assert "2.60 GHz" in clock.basis and gen.source in clock.basis
    # a frequency driver's maximum is the turbo clock already: kept
    assert core_clock(4.1, is_max=True, cpuid=genoa).ghz == 4.1
    # a generation not listed keeps the stated clock, and says so
    other = core_clock(2.6, is_max=False, cpuid=CpuId(vendor="AuthenticAMD", family=99, model=1))
    assert other.ghz == 2.6 and "nominal" in other.basis
    # a stated clock above the listed boost is kept
    assert core_clock(gen.boost_ghz + 0.5, is_max=False, cpuid=genoa).ghz == gen.boost_ghz + 0.5
    assert core_clock(None, is_max=False, cpuid=None) is None


def test_every_generation_is_sourced_and_no_cpuid_is_listed_twice():
    seen = set()
    for g in cpu_generations():
        assert g.source.startswith("http") or "http" in g.source
        for m in g.models:
            key = (g.vendor, g.family, m)
            assert key not in seen, key
            seen.add(key)


def test_a_bad_entry_names_its_file_entry_and_field(tmp_path):
    bad = tmp_path / "cpu_boost.yaml"
    bad.write_text(
        "generations:\n"
        "  - id: amd-genoa\n    name: Genoa\n    vendor: AuthenticAMD\n    family: 25\n"
        "    models: [17]\n    boost_ghz: 37\n    source: https://example.org/genoa\n"
    )
    with pytest.raises(SizingError, match=r"cpu_boost.yaml: entry 'amd-genoa': field boost_ghz"):
        cpu_generations(bad)
    bad.write_text("generations: [")
    with pytest.raises(SizingError, match="not valid YAML"):
        cpu_generations(bad)
