"""Detection: the real path on this GPU-less machine, and every driver path through fakes
at the boundary this machine lacks (libnvidia-ml under the real pynvml, macOS tools,
sysfs trees)."""

from __future__ import annotations

import inspect
import json
import os

import psutil
import pynvml
import pytest

from hardware_fakes import (
    FakeGPU,
    FakeNVMLLibrary,
    install_fake_nvml,
    make_drm_card,
    make_kfd_node,
    write_pci_ids,
)
from sizing.hardware.detect import detect_machine
from sizing.hardware.detect.amd import detect_amd, gfx_name
from sizing.hardware.detect.apple import detect_apple
from sizing.hardware.detect.cpu import parse_cpuinfo, probe_bandwidth
from sizing.hardware.detect.nvidia import detect_nvidia

GIB = 1024**3
MIB = 1024**2


# ----------------------------------------------------------------------------- real path
def test_real_machine_without_gpu_is_cpu_only_with_a_note():
    m = detect_machine()
    assert m.cpu_only and m.gpus == ()
    assert any("NVML library not found" in n for n in m.notes)
    assert any("CPU-only" in n for n in m.notes)
    assert m.cpu.threads == psutil.cpu_count(logical=True)
    assert m.cpu.ram_total_bytes == psutil.virtual_memory().total
    assert 0 < m.cpu.ram_available_bytes <= m.cpu.ram_total_bytes
    assert m.disk is not None and 0 < m.disk.free_bytes <= m.disk.total_bytes
    data = json.loads(json.dumps(m.to_json()))
    assert data["cpu_only"] is True


def test_real_cpuinfo_flags_are_parsed():
    text = open("/proc/cpuinfo").read()
    model, flags = parse_cpuinfo(text)
    assert model
    raw = set(next(line for line in text.splitlines() if line.startswith("flags")).split())
    assert ("AVX2" in flags) == ("avx2" in raw)
    assert ("AVX512F" in flags) == ("avx512f" in raw)
    assert ("AMX" in flags) == ("amx_tile" in raw)


def test_arm_cpuinfo_features():
    text = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes asimddp sve sve2 i8mm bf16\nCPU implementer\t: 0x41\n"
    _, flags = parse_cpuinfo(text)
    assert {"NEON", "DOTPROD", "SVE", "SVE2", "I8MM", "BF16"} <= set(flags)


def test_bandwidth_probe_is_fast_repeatable_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_SIZING_CACHE_DIR", str(tmp_path))
    first = probe_bandwidth("test-cpu", refresh=True)
    assert first.seconds < 3.0  # target < 2 s (bench/hardware.py); slack for a busy CI box
    assert first.min_gbs <= first.gbs <= first.max_gbs
    assert first.spread_pct >= 0 and first.runs >= 3 and not first.cached
    again = probe_bandwidth("test-cpu", refresh=True)
    # repeatable: two independent probes agree within a factor of two on a busy box
    assert 0.5 < again.gbs / first.gbs < 2.0
    cached = probe_bandwidth("test-cpu")
    assert cached.cached and cached.gbs == again.gbs
    m = detect_machine()  # reuses the cache without probing
    assert m.cpu.bandwidth is None or m.cpu.bandwidth.cached


# ----------------------------------------------------------------------------- NVML
def _nvml_machine(monkeypatch, tmp_path, lib):
    install_fake_nvml(monkeypatch, lib)
    return detect_machine(sysfs_root=tmp_path, is_mac=False)


def test_fake_library_implements_only_functions_pynvml_really_calls():
    source = inspect.getsource(pynvml)
    for name in FakeNVMLLibrary.c_function_names():
        assert f'_nvmlGetFunctionPointer("{name}")' in source, name


def test_fake_errors_surface_as_the_real_pynvml_exceptions(monkeypatch):
    install_fake_nvml(monkeypatch, FakeNVMLLibrary([], errors={"nvmlInitWithFlags": 9}))
    with pytest.raises(pynvml.NVMLError_DriverNotLoaded):
        pynvml.nvmlInit()


def test_single_gpu_all_fields(monkeypatch, tmp_path):
    me = os.getpid()
    gpu = FakeGPU(
        "NVIDIA GeForce RTX 4090",
        total=24564 * MIB,
        used=1200 * MIB,
        procs=[(me, 300 * MIB), (4242, 900 * MIB)],
    )
    lib = FakeNVMLLibrary([gpu], process_names={4242: "/usr/bin/Xorg"})
    m = _nvml_machine(monkeypatch, tmp_path, lib)
    assert not m.cpu_only
    (g,) = m.gpus
    assert g.name == "NVIDIA GeForce RTX 4090" and g.source == "nvml"
    assert g.memory_total_bytes == 24564 * MIB
    assert g.memory_free_bytes == (24564 - 1200) * MIB and g.memory_used_bytes == 1200 * MIB
    assert g.driver_version == "550.54.15" and g.cuda_version == "12.4"
    assert g.compute_capability == "8.9"
    assert (g.pcie_gen, g.pcie_width, g.power_limit_w) == (4, 16, 450.0)
    assert [(p.pid, p.name, p.used_bytes) for p in g.other_processes] == [(4242, "/usr/bin/Xorg", 900 * MIB)]
    assert g.db_id == "nvidia-rtx-4090" and g.match_status == "matched"
    assert "nvmlShutdown" in lib.calls


def test_multi_gpu_h100(monkeypatch, tmp_path):
    gpus = [
        FakeGPU("NVIDIA H100 80GB HBM3", total=81559 * MIB, cc=(9, 0), pcie=(5, 16), power_mw=700_000) for _ in range(2)
    ]
    m = _nvml_machine(monkeypatch, tmp_path, FakeNVMLLibrary(gpus))
    assert [g.index for g in m.gpus] == [0, 1]
    assert {g.db_id for g in m.gpus} == {"nvidia-h100-sxm5-80gb"}


def test_mixed_cards_match_known_and_keep_unknown_with_memory(monkeypatch, tmp_path):
    gpus = [
        FakeGPU("NVIDIA GeForce RTX 4090", total=24564 * MIB),
        FakeGPU("NVIDIA GeForce RTX 3060", total=12288 * MIB, cc=(8, 6)),  # 8 GB and 12 GB exist
        FakeGPU("NVIDIA Fancy Prototype 9000", total=40 * GIB, cc=(12, 0)),
    ]
    m = _nvml_machine(monkeypatch, tmp_path, FakeNVMLLibrary(gpus))
    ids = [(g.db_id, g.match_status) for g in m.gpus]
    assert ids == [("nvidia-rtx-4090", "matched"), ("nvidia-rtx-3060-12gb", "matched"), (None, "unknown")]
    unknown = m.gpus[2]
    assert unknown.memory_total_bytes == 40 * GIB
    assert any("not in the GPU database" in n and "Fancy Prototype 9000" in n for n in unknown.notes)


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (pynvml.NVML_ERROR_DRIVER_NOT_LOADED, "driver not loaded"),
        (pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH, "version mismatch"),
        (pynvml.NVML_ERROR_NO_PERMISSION, "no permission"),
    ],
)
def test_init_failures_give_cpu_only_with_a_clear_note(monkeypatch, tmp_path, code, words):
    lib = FakeNVMLLibrary([FakeGPU("NVIDIA GeForce RTX 4090", total=24 * GIB)], errors={"nvmlInitWithFlags": code})
    m = _nvml_machine(monkeypatch, tmp_path, lib)
    assert m.cpu_only
    assert any(words in n for n in m.notes), m.notes


def test_library_not_found_is_the_real_pynvml_failure(monkeypatch):
    install_fake_nvml(monkeypatch, None)  # no library: pynvml really tries to dlopen it
    devices, notes = detect_nvidia()
    assert devices == [] and "NVML library not found" in notes[0]


def test_gpu_lost_mid_query_drops_that_gpu(monkeypatch, tmp_path):
    lost = FakeGPU(
        "NVIDIA GeForce RTX 4090", total=24 * GIB, errors={"nvmlDeviceGetMemoryInfo": pynvml.NVML_ERROR_GPU_IS_LOST}
    )
    m = _nvml_machine(monkeypatch, tmp_path, FakeNVMLLibrary([lost]))
    assert m.cpu_only
    assert any("GPU 0 skipped" in n and "GPU is lost" in n for n in m.notes)

    ok = FakeGPU("NVIDIA L4", total=23034 * MIB, pcie=(4, 16), power_mw=72_000)
    lost_later = FakeGPU(
        "NVIDIA L4", total=23034 * MIB, errors={"nvmlDeviceGetMaxPcieLinkWidth": pynvml.NVML_ERROR_GPU_IS_LOST}
    )
    m = _nvml_machine(monkeypatch, tmp_path, FakeNVMLLibrary([ok, lost_later]))
    assert [g.db_id for g in m.gpus] == ["nvidia-l4"]
    assert any("GPU 1 skipped" in n for n in m.notes)


def test_unsupported_optional_queries_leave_fields_unknown(monkeypatch, tmp_path):
    g = FakeGPU("NVIDIA A10G", total=23028 * MIB, pcie=None, power_mw=None, cc=(8, 6))
    lib = FakeNVMLLibrary([g], errors={"nvmlSystemGetCudaDriverVersion": pynvml.NVML_ERROR_NOT_SUPPORTED})
    (d,) = _nvml_machine(monkeypatch, tmp_path, lib).gpus
    assert (d.pcie_gen, d.pcie_width, d.power_limit_w, d.cuda_version) == (None, None, None, None)
    assert d.db_id == "nvidia-a10g"


def test_error_while_counting_gives_cpu_only(monkeypatch, tmp_path):
    lib = FakeNVMLLibrary(
        [FakeGPU("NVIDIA L4", total=24 * GIB)], errors={"nvmlDeviceGetCount_v2": pynvml.NVML_ERROR_UNKNOWN}
    )
    m = _nvml_machine(monkeypatch, tmp_path, lib)
    assert m.cpu_only and any("NVIDIA GPUs not read" in n for n in m.notes)


# ----------------------------------------------------------------------------- Apple
def _mac(outputs: dict[tuple[str, ...], str]):
    return lambda cmd: outputs.get(tuple(cmd))


def _profiler(model: str, cores: int) -> str:
    # shape of `system_profiler SPDisplaysDataType -json` on Apple Silicon
    return json.dumps(
        {
            "SPDisplaysDataType": [
                {
                    "_name": model,
                    "spdisplays_mtlgpufamilysupport": "spdisplays_metal3",
                    "spdisplays_ndrvs": [{"_name": "Color LCD", "spdisplays_main": "spdisplays_yes"}],
                    "spdisplays_vendor": "sppci_vendor_Apple",
                    "sppci_bus": "spdisplays_builtin",
                    "sppci_cores": str(cores),
                    "sppci_device_type": "spdisplays_gpu",
                    "sppci_model": model,
                }
            ]
        },
        indent=2,
    )


def _mac_outputs(chip: str, cores: int, ram: int, wired: str | None = "0\n"):
    out = {
        ("sysctl", "-n", "machdep.cpu.brand_string"): f"{chip}\n",
        ("sysctl", "-n", "hw.memsize"): f"{ram}\n",
        ("system_profiler", "SPDisplaysDataType", "-json"): _profiler(chip, cores),
    }
    if wired is not None:
        out[("sysctl", "-n", "iogpu.wired_limit_mb")] = wired
    return out


def test_apple_m3_max_default_working_set(tmp_path):
    install = _mac(_mac_outputs("Apple M3 Max", 40, 48 * GIB))
    m = detect_machine(run=install, is_mac=True, sysfs_root=tmp_path)
    (g,) = m.gpus
    assert g.vendor == "apple" and g.unified_memory and g.gpu_cores == 40
    assert g.memory_total_bytes == 48 * GIB
    assert g.db_id == "apple-m3-max-40c-48gb"
    assert 0.6 * 48 * GIB < g.usable_memory_bytes < 0.9 * 48 * GIB
    assert any("working set" in n for n in g.notes)


def test_apple_wired_limit_is_honoured():
    devices, _ = detect_apple(_mac(_mac_outputs("Apple M2 Ultra", 76, 192 * GIB, "180000\n")), is_mac=True)
    assert devices[0].usable_memory_bytes == 180000 * MIB
    assert "iogpu.wired_limit_mb = 180000" in devices[0].notes[0]


def test_apple_without_wired_sysctl_and_bad_profiler():
    out = _mac_outputs("Apple M1", 8, 16 * GIB, wired=None)
    out[("system_profiler", "SPDisplaysDataType", "-json")] = "not json"
    devices, notes = detect_apple(_mac(out), is_mac=True)
    assert devices[0].name == "Apple M1" and devices[0].gpu_cores is None
    assert any("system_profiler" in n for n in notes)


def test_apple_sysctl_missing_gives_no_device():
    devices, notes = detect_apple(lambda cmd: None, is_mac=True)
    assert devices == [] and notes


# ----------------------------------------------------------------------------- AMD / Intel
def test_gfx_names():
    assert [gfx_name(v) for v in (110000, 90402, 90010, 110501, 120001)] == [
        "gfx1100",
        "gfx942",
        "gfx90a",
        "gfx1151",
        "gfx1201",
    ]


def test_amd_sysfs_radeon_instinct_and_apu(tmp_path):
    write_pci_ids(tmp_path)
    make_drm_card(
        tmp_path, 0, vendor=0x1002, device=0x744C, vram_total=25753026560, vram_used=1073741824, render_minor=128
    )
    make_kfd_node(tmp_path, 1, gfx_target_version=110000, render_minor=128)
    make_drm_card(tmp_path, 1, vendor=0x1002, device=0x74A1, vram_total=205822885888, vram_used=0, render_minor=129)
    make_kfd_node(tmp_path, 2, gfx_target_version=90402, render_minor=129)
    make_drm_card(
        tmp_path,
        2,
        vendor=0x1002,
        device=0x15BF,
        vram_total=512 * MIB,
        vram_used=100 * MIB,
        gtt_total=15 * GIB,
        render_minor=130,
    )
    make_kfd_node(tmp_path, 3, gfx_target_version=110003, render_minor=130)
    m = detect_machine(sysfs_root=tmp_path, run=lambda cmd: None, is_mac=False)
    by = {g.index: g for g in m.gpus}
    assert by[0].source == "sysfs" and by[0].llvm_target == "gfx1100"
    assert by[0].memory_free_bytes == 25753026560 - 1073741824
    assert (by[0].db_id, by[1].db_id, by[2].db_id) == ("amd-rx-7900-xtx", "amd-mi300x", "amd-radeon-780m")
    apu = by[2]
    assert apu.unified_memory and not by[0].unified_memory
    assert any("GTT" in n and "15.0 GiB" in n for n in apu.notes)


def test_amd_rocm_smi_json(tmp_path):
    out = json.dumps(
        {
            "card0": {
                "Card Series": "AMD Radeon RX 7900 XTX",
                "Card Model": "0x744c",
                "Card Vendor": "Advanced Micro Devices, Inc. [AMD/ATI]",
                "Card SKU": "EXT94157",
                "GFX Version": "gfx1100",
                "VRAM Total Memory (B)": "25753026560",
                "VRAM Total Used Memory (B)": "1073741824",
            }
        }
    )
    devices, _ = detect_amd(root=tmp_path, run=lambda cmd: out if cmd[0] == "rocm-smi" else None)
    assert devices[0].source == "rocm-smi" and devices[0].memory_total_bytes == 25753026560
    assert devices[0].llvm_target == "gfx1100"


def test_amd_rocm_smi_pci_ids_style_name_is_resolved_by_memory_and_target(tmp_path):
    # older rocm-smi: 'Card series' is the pci.ids string naming several boards
    out = json.dumps(
        {
            "card0": {
                "Card series": "Navi 31 [Radeon RX 7900 XT/7900 XTX/7900M]",
                "Card model": "0x744c",
                "GFX Version": "gfx1100",
                "VRAM Total Memory (B)": "21458059264",
                "VRAM Total Used Memory (B)": "4096",
            }
        }
    )
    m = detect_machine(sysfs_root=tmp_path, run=lambda cmd: out if cmd[0] == "rocm-smi" else None, is_mac=False)
    (g,) = m.gpus
    assert g.name == "Radeon RX 7900 XT" and "Radeon RX 7900 XTX" in g.alt_names
    assert g.db_id == "amd-rx-7900-xt"  # 20 GB: the XT, not the 24 GB XTX


class FakeAmdSmi:
    """The amdsmi calls we use, with its return shapes (dicts; VRAM in MB)."""

    class AmdSmiException(Exception):
        pass

    def __init__(self, fail=False):
        self.fail = fail

    def amdsmi_init(self):
        if self.fail:
            raise self.AmdSmiException("AMDSMI_STATUS_DRIVER_NOT_LOADED")

    def amdsmi_shut_down(self):
        pass

    def amdsmi_get_processor_handles(self):
        return ["h0"]

    def amdsmi_get_gpu_asic_info(self, h):
        return {
            "market_name": "AMD Instinct MI300X",
            "target_graphics_version": "gfx942",
            "vendor_id": "0x1002",
            "device_id": "0x74a1",
        }

    def amdsmi_get_gpu_vram_usage(self, h):
        return {"vram_total": 196592, "vram_used": 283}


def test_amdsmi_then_fallback_on_failure(tmp_path):
    devices, _ = detect_amd(root=tmp_path, run=lambda cmd: None, amdsmi=FakeAmdSmi())
    assert devices[0].name == "AMD Instinct MI300X" and devices[0].source == "amdsmi"
    devices, notes = detect_amd(root=tmp_path, run=lambda cmd: None, amdsmi=FakeAmdSmi(fail=True))
    assert devices == [] and "amdsmi failed" in notes[0]


def test_intel_arc_is_a_gpu_but_an_igpu_is_not(tmp_path):
    write_pci_ids(tmp_path)
    make_drm_card(tmp_path, 0, vendor=0x8086, device=0x46A6)
    make_drm_card(tmp_path, 1, vendor=0x8086, device=0xE20B)
    m = detect_machine(sysfs_root=tmp_path, run=lambda cmd: None, is_mac=False)
    assert [g.db_id for g in m.gpus] == ["intel-arc-b580"]
    assert any("Iris Xe" in n and "ignored" in n for n in m.notes)


def test_macos_cpu_model_and_arm_features(monkeypatch):
    from sizing.hardware.detect import cpu

    outputs = {
        ("sysctl", "-n", "machdep.cpu.brand_string"): "Apple M2 Pro\n",
        # `sysctl name...` prints "name: value" per line
        (
            "sysctl",
            "hw.optional.arm.FEAT_DotProd",
            "hw.optional.arm.FEAT_I8MM",
            "hw.optional.arm.FEAT_BF16",
        ): "hw.optional.arm.FEAT_DotProd: 1\nhw.optional.arm.FEAT_I8MM: 1\nhw.optional.arm.FEAT_BF16: 1\n",
    }
    monkeypatch.setattr(cpu, "_run", lambda cmd: outputs.get(tuple(cmd)))
    monkeypatch.setattr(cpu.platform, "system", lambda: "Darwin")
    monkeypatch.setattr(cpu.platform, "machine", lambda: "arm64")
    model, flags = cpu._model_and_flags()
    assert model == "Apple M2 Pro"
    assert flags == ("BF16", "DOTPROD", "I8MM", "NEON")
