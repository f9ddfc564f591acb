"""AMD GPUs: amdsmi (Python), else ``rocm-smi --json``, else the amdgpu sysfs files.

Each source is tried only when present, so a machine without ROCm still reports its
Radeon through sysfs (VRAM totals come from the amdgpu driver itself). The LLVM target
(``gfx1100``) is read from the KFD topology because it identifies the chip even when
the marketing name is missing.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

from sizing.hardware.detect import sysfs
from sizing.hardware.detect.command import Runner, run_command
from sizing.hardware.detect.machine import DetectedGPU
from sizing.units import MIB, gib

AMD_VENDOR = 0x1002


def gfx_name(version: int) -> str:
    """KFD ``gfx_target_version`` (e.g. 110000, 90402, 90010) -> 'gfx1100', 'gfx942', 'gfx90a'."""
    major, minor, step = version // 10000, version // 100 % 100, version % 100
    return f"gfx{major}{minor:x}{step:x}"


def kfd_targets(root: Path) -> dict[int, str]:
    """DRM render minor -> LLVM target, from /sys/class/kfd/kfd/topology/nodes/*/properties."""
    nodes = root / "sys" / "class" / "kfd" / "kfd" / "topology" / "nodes"
    out: dict[int, str] = {}
    if not nodes.is_dir():
        return out
    for node in nodes.iterdir():
        props: dict[str, int] = {}
        for line in (sysfs.read(node / "properties") or "").splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1].lstrip("-").isdigit():
                props[parts[0]] = int(parts[1])
        if props.get("gfx_target_version") and "drm_render_minor" in props:
            out[props["drm_render_minor"]] = gfx_name(props["gfx_target_version"])
    return out


def _render_minor(dev: Path) -> int | None:
    drm = dev / "drm"
    if not drm.is_dir():
        return None
    for entry in drm.iterdir():
        if entry.name.startswith("renderD") and entry.name[7:].isdigit():
            return int(entry.name[7:])
    return None


def from_sysfs(root: Path = Path("/")) -> list[DetectedGPU]:
    targets = kfd_targets(root)
    devices = []
    for i, dev in enumerate(sysfs.drm_cards(root, AMD_VENDOR)):
        device_id = sysfs.read_int(dev / "device")
        sub_vendor, sub_device = sysfs.read_int(dev / "subsystem_vendor"), sysfs.read_int(dev / "subsystem_device")
        sub = (sub_vendor, sub_device) if sub_vendor is not None and sub_device is not None else None
        product = sysfs.read(dev / "product_name")  # only some boards expose it
        pci = sysfs.pci_name(root, AMD_VENDOR, device_id, sub) if device_id else None
        alts = tuple(sysfs.bracketed_names(pci)) if pci else ()
        name = product or (alts[0] if alts else f"AMD GPU [1002:{device_id or 0:04x}]")
        total = sysfs.read_int(dev / "mem_info_vram_total")
        used = sysfs.read_int(dev / "mem_info_vram_used")
        minor = _render_minor(dev)
        gtt = sysfs.read_int(dev / "mem_info_gtt_total")
        notes: tuple[str, ...] = ()
        if gtt and total is not None and gtt > total:
            # an APU's VRAM is a small BIOS carve-out; GTT is system RAM the GPU can map
            notes = (f"GTT (system RAM the GPU can map): {gib(gtt)}",)
        devices.append(
            DetectedGPU(
                index=i,
                vendor="amd",
                name=name,
                alt_names=tuple(a for a in alts if a != name),
                source="sysfs",
                memory_total_bytes=total,
                memory_used_bytes=used,
                memory_free_bytes=total - used if total is not None and used is not None else None,
                usable_memory_bytes=total - used if total is not None and used is not None else None,
                llvm_target=targets.get(minor) if minor is not None else None,
                pci_bus_id=dev.resolve().name if dev.exists() else None,
                notes=notes,
            )
        )
    return devices


def from_rocm_smi(run: Runner = run_command) -> list[DetectedGPU] | None:
    """Parse ``rocm-smi --showproductname --showmeminfo vram --json``; None when absent."""
    out = run(["rocm-smi", "--showproductname", "--showmeminfo", "vram", "--json"])
    if not out:
        return None
    try:
        data = json.loads(out)
    except ValueError:
        return None
    devices = []
    cards = sorted((k for k in data if k.lower().startswith("card")), key=lambda k: int(k[4:] or 0))
    for i, key in enumerate(cards):
        card = {k.lower(): v for k, v in data[key].items()}
        series = str(card.get("card series") or card.get("card model") or "AMD GPU")
        # older rocm-smi prints the pci.ids string: "Navi 31 [Radeon RX 7900 XT/7900 XTX/7900M]"
        names = sysfs.bracketed_names(series) if "[" in series else [series]
        total = _num(card.get("vram total memory (b)"))
        used = _num(card.get("vram total used memory (b)"))
        gfx = card.get("gfx version")
        devices.append(
            DetectedGPU(
                index=i,
                vendor="amd",
                name=names[0],
                alt_names=tuple(names[1:]),
                source="rocm-smi",
                memory_total_bytes=total,
                memory_used_bytes=used,
                memory_free_bytes=total - used if total is not None and used is not None else None,
                usable_memory_bytes=total - used if total is not None and used is not None else None,
                llvm_target=gfx if isinstance(gfx, str) and gfx.startswith("gfx") else None,
            )
        )
    return devices


def from_amdsmi(amdsmi: ModuleType) -> list[DetectedGPU]:
    """Read GPUs through the amdsmi Python package (ROCm 6+)."""
    amdsmi.amdsmi_init()
    try:
        devices = []
        for i, h in enumerate(amdsmi.amdsmi_get_processor_handles()):
            asic = amdsmi.amdsmi_get_gpu_asic_info(h)
            vram = amdsmi.amdsmi_get_gpu_vram_usage(h)  # MB
            total = int(vram["vram_total"]) * MIB
            used = int(vram["vram_used"]) * MIB
            gfx = str(asic.get("target_graphics_version") or "")
            devices.append(
                DetectedGPU(
                    index=i,
                    vendor="amd",
                    name=str(asic.get("market_name") or "AMD GPU"),
                    source="amdsmi",
                    memory_total_bytes=total,
                    memory_used_bytes=used,
                    memory_free_bytes=total - used,
                    usable_memory_bytes=total - used,
                    llvm_target=gfx if gfx.startswith("gfx") else None,
                )
            )
        return devices
    finally:
        amdsmi.amdsmi_shut_down()


def _num(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def detect_amd(
    *, root: Path = Path("/"), run: Runner = run_command, amdsmi: ModuleType | None = None
) -> tuple[list[DetectedGPU], list[str]]:
    """AMD GPUs from the best source present; returns (devices, notes). Never raises."""
    notes: list[str] = []
    if amdsmi is None:
        try:
            import amdsmi  # type: ignore[no-redef]
        except Exception:  # noqa: BLE001 - absent, or present but broken
            amdsmi = None
    if amdsmi is not None:
        try:
            return from_amdsmi(amdsmi), notes
        except Exception as exc:  # noqa: BLE001
            notes.append(f"amdsmi failed ({exc}); trying rocm-smi and sysfs")
    try:
        rocm = from_rocm_smi(run)
        if rocm:
            return rocm, notes
    except Exception as exc:  # noqa: BLE001
        notes.append(f"rocm-smi output not understood ({exc}); trying sysfs")
    try:
        return from_sysfs(root), notes
    except Exception as exc:  # noqa: BLE001
        return [], notes + [f"AMD sysfs not readable: {exc}"]
