"""The GPU's share of a unified-memory machine, per platform, cited, with the line that raises it."""

from __future__ import annotations

import pytest

from sizing.errors import SizingError
from sizing.hardware.db import load_gpus
from sizing.core.machine import DEFAULT_HOST, custom_machine, machine_from_gpu
from sizing.core.unified_limits import platform_limits
from sizing.units import GIB, MIB


@pytest.fixture(scope="module")
def db():
    return load_gpus()


def test_every_rule_is_cited_and_names_real_devices(db):
    for p in platform_limits():
        assert p.source.count("https://") >= 1, p.name
        for gid in p.gpu_ids:
            assert db.get(gid).unified_memory, gid


def test_dgx_spark_as_its_os_sees_it(db):
    hw = machine_from_gpu(db.get("nvidia-dgx-spark-128gb"), host=DEFAULT_HOST)
    assert hw.gpus[0].memory_bytes == hw.host.memory_bytes == int(121.69 * GIB)
    assert any("121.69 GiB" in n for n in hw.notes)


def test_strix_halo_gtt_default_and_how_to_raise_it(db):
    g = db.get("amd-ryzen-ai-max-plus-395-128gb")
    hw = machine_from_gpu(g, host=DEFAULT_HOST)
    assert hw.gpus[0].memory_bytes == 64 * GIB and hw.host.memory_bytes == 128 * GIB
    note = next(n for n in hw.notes if "GTT" in n)
    assert "ttm.pages_limit=" in note
    raised = machine_from_gpu(g, host=DEFAULT_HOST, wired_limit_mb=110 * 1024)
    assert raised.gpus[0].memory_bytes == 110 * GIB
    with pytest.raises(SizingError):
        machine_from_gpu(g, host=DEFAULT_HOST, wired_limit_mb=200 * 1024)


def test_apple_working_set_and_the_sysctl_line(db):
    g = db.get("apple-m3-ultra-60c-96gb")
    hw = machine_from_gpu(g, host=DEFAULT_HOST)
    assert hw.gpus[0].memory_bytes < hw.host.memory_bytes
    assert any("sudo sysctl iogpu.wired_limit_mb=" in n for n in hw.notes)
    raised = machine_from_gpu(g, host=DEFAULT_HOST, wired_limit_mb=88 * 1024)
    assert raised.gpus[0].memory_bytes == 88 * 1024 * MIB


def test_an_unknown_platform_says_unknown():
    hw = custom_machine(memory_gb=32, bandwidth_gbs=120, backend="vulkan", unified=True)
    assert any("unknown" in n for n in hw.notes)


def test_apple_share_by_macos_release_is_shown_and_cited(db):
    """The working set changed with macOS: the answer sizes for the current releases and says
    what the 2023 releases gave (llama.cpp's logged recommendedMaxWorkingSetSize), each cited."""
    apple = next(p for p in platform_limits() if p.rule == "apple")
    assert apple.earlier is not None
    for pt in apple.earlier.points:
        assert pt.source.startswith("https://github.com/") and "2023" in pt.source
    # the 2023 logs: 2/3 of a 32 GB Mac, 3/4 of a 64 GB one
    shares = {pt.ram_gib: pt.gpu_mib / (pt.ram_gib * 1024) for pt in apple.earlier.points}
    assert shares[32] == pytest.approx(2 / 3, abs=1e-4) and shares[64] == pytest.approx(3 / 4, abs=1e-4)
    hw = machine_from_gpu(db.get("apple-m4-max-32c-36gb"), host=DEFAULT_HOST)
    note = next(n for n in hw.notes if "iogpu.wired_limit_mb" in n)
    assert "2023 macOS" in note and "67% on 32 GB" in note and "75% on 64 GB" in note
    assert note.index("2023 macOS") < note.index("sudo sysctl")
    # once the user states the raised limit, that is what counts: no history needed
    raised = machine_from_gpu(db.get("apple-m4-max-32c-36gb"), host=DEFAULT_HOST, wired_limit_mb=30 * 1024)
    assert not any("2023 macOS" in n for n in raised.notes)
