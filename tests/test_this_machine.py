"""`hardware_from_machine`: detected machines (through the detection fakes at the driver
boundary this machine lacks, and the real detection here) -> placement Hardware."""

from __future__ import annotations

import pytest

from hardware_fakes import FakeGPU, FakeNVMLLibrary, install_fake_nvml
from sizing.errors import SizingError
from sizing.hardware.db import load_gpus
from sizing.hardware.detect import detect_machine
from sizing.hardware.detect.machine import BandwidthProbe
from sizing.hardware.this_machine import hardware_from_machine
from test_hardware_detect import _mac, _mac_outputs

GIB = 1024**3
MIB = 1024**2


def _with_bandwidth(machine, gbs: float):
    """The machine as a probe measuring ``gbs`` would report it (the probe itself is
    tested in test_hardware_detect; here a known figure lets us follow it through)."""
    probe = BandwidthProbe(
        gbs=gbs,
        min_gbs=gbs,
        max_gbs=gbs,
        spread_pct=0.0,
        runs=3,
        buffer_bytes=256 * MIB,
        seconds=0.5,
        method="test figure",
    )
    return machine.model_copy(update={"cpu": machine.cpu.model_copy(update={"bandwidth": probe})})


def test_nvml_two_h100s_use_free_memory_and_database_rates(monkeypatch, tmp_path):
    gpus = [
        FakeGPU("NVIDIA H100 80GB HBM3", total=81559 * MIB, used=used * MIB, cc=(9, 0), pcie=(5, 16), power_mw=700_000)
        for used in (1000, 5000)
    ]
    install_fake_nvml(monkeypatch, FakeNVMLLibrary(gpus))
    m = _with_bandwidth(detect_machine(sysfs_root=tmp_path, is_mac=False), 77.0)
    db = load_gpus()
    hw = hardware_from_machine(m, db)
    entry = db.get("nvidia-h100-sxm5-80gb")
    assert [d.backend for d in hw.gpus] == ["cuda", "cuda"]
    assert [d.memory_bytes for d in hw.gpus] == [d.memory_free_bytes for d in m.gpus]
    assert hw.gpus[0].memory_bytes > hw.gpus[1].memory_bytes  # the busier card has less room
    assert all(d.bandwidth_gbs == entry.memory_bandwidth_gbs for d in hw.gpus)
    assert hw.host.bandwidth_gbs == 77.0 and hw.host.memory_bytes == m.cpu.ram_available_bytes
    assert not hw.unified and any("free GPU memory" in n for n in hw.notes)
    assert hardware_from_machine(m, db, backend="vulkan").gpus[0].backend == "vulkan"


def test_apple_unified_memory_is_one_pool_with_the_working_set(tmp_path):
    m = _with_bandwidth(
        detect_machine(run=_mac(_mac_outputs("Apple M3 Max", 40, 48 * GIB)), is_mac=True, sysfs_root=tmp_path), 60.0
    )
    db = load_gpus()
    hw = hardware_from_machine(m, db, threads=12)
    (gpu,) = hw.gpus
    assert hw.unified and gpu.kind == "unified" and gpu.backend == "metal"
    assert gpu.bandwidth_gbs == db.get("apple-m3-max-40c-48gb").memory_bandwidth_gbs  # the chip's, not the probe's
    assert 0.6 * 48 * GIB < gpu.memory_bytes < 0.9 * 48 * GIB
    assert hw.host.memory_bytes == 48 * GIB and hw.host.threads == 12
    raised = hardware_from_machine(m, db, wired_limit_mb=40_000)
    assert raised.gpus[0].memory_bytes == 40_000 * MIB


def test_cpu_only_machine_here():
    m = _with_bandwidth(detect_machine(), 21.5)  # the real detection: this machine has no GPU
    assert m.cpu_only
    hw = hardware_from_machine(m, load_gpus(), threads=3)
    assert hw.gpus == ()
    assert hw.host.backend == "cpu" and hw.host.bandwidth_gbs == 21.5 and hw.host.threads == 3
    assert hw.host.memory_bytes == m.cpu.ram_available_bytes
    assert any("CPU-only" in n for n in hw.notes)


def test_missing_figures_are_one_clear_error(monkeypatch, tmp_path):
    m = detect_machine()
    no_bw = m.model_copy(update={"cpu": m.cpu.model_copy(update={"bandwidth": None})})
    with pytest.raises(SizingError, match="--ram-bandwidth-gbs"):
        hardware_from_machine(no_bw, load_gpus())
    install_fake_nvml(monkeypatch, FakeNVMLLibrary([FakeGPU("NVIDIA Imaginary 9000", total=8 * GIB)]))
    odd = _with_bandwidth(detect_machine(sysfs_root=tmp_path, is_mac=False), 30.0)
    with pytest.raises(SizingError, match="not in the GPU database"):
        hardware_from_machine(odd, load_gpus())
