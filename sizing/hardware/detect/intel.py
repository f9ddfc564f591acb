"""Intel GPUs (Arc, Arc Pro, Data Center GPU) through Linux sysfs.

The i915/xe drivers do not expose VRAM size in one stable sysfs file across kernels,
so the device is identified by its PCI id name and its memory comes from the database
match. Integrated graphics that the database does not know are reported as a note,
not as a GPU, so a laptop's iGPU never turns a CPU-only answer into a GPU one.
"""

from __future__ import annotations

from pathlib import Path

from sizing.hardware.detect import sysfs
from sizing.hardware.detect.machine import DetectedGPU

INTEL_VENDOR = 0x8086


def detect_intel(root: Path = Path("/")) -> tuple[list[DetectedGPU], list[str]]:
    """Intel GPUs found under /sys/class/drm; returns (devices, notes). Never raises."""
    try:
        devices = []
        for i, dev in enumerate(sysfs.drm_cards(root, INTEL_VENDOR)):
            device_id = sysfs.read_int(dev / "device") or 0
            pci = sysfs.pci_name(root, INTEL_VENDOR, device_id)
            names = sysfs.bracketed_names(pci) if pci else []
            name = names[0] if names else f"Intel GPU [8086:{device_id:04x}]"
            devices.append(
                DetectedGPU(
                    index=i,
                    vendor="intel",
                    name=name if name.lower().startswith("intel") else f"Intel {name}",
                    alt_names=tuple(names[1:]),
                    source="sysfs",
                    pci_bus_id=dev.resolve().name,
                    notes=("VRAM size is not exposed in sysfs: memory comes from the database",),
                )
            )
        return devices, []
    except Exception as exc:  # noqa: BLE001
        return [], [f"Intel sysfs not readable: {exc}"]
