"""Shared reading of Linux DRM devices under /sys, for AMD and Intel GPUs.

The kernel exposes every GPU under ``/sys/class/drm/cardN/device`` with its PCI vendor
and device ids (and, for amdgpu, VRAM totals). Names come from the system's PCI id
database when installed. The root is a parameter so tests can build a fake tree.
"""

from __future__ import annotations

import re
from pathlib import Path

PCI_IDS = (
    "/usr/share/misc/pci.ids",
    "/usr/share/hwdata/pci.ids",
    "/usr/share/pci.ids",
)


def read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def read_int(path: Path) -> int | None:
    text = read(path)
    if text is None:
        return None
    try:
        return int(text, 0)
    except ValueError:
        return None


def drm_cards(root: Path, vendor_id: int) -> list[Path]:
    """``/sys/class/drm/cardN/device`` dirs of one PCI vendor (connectors excluded)."""
    base = root / "sys" / "class" / "drm"
    if not base.is_dir():
        return []
    cards = []
    for card in sorted(base.iterdir(), key=lambda p: _card_num(p.name)):
        if not re.fullmatch(r"card\d+", card.name):
            continue
        dev = card / "device"
        if read_int(dev / "vendor") == vendor_id:
            cards.append(dev)
    return cards


def _card_num(name: str) -> int:
    m = re.search(r"\d+", name)
    return int(m.group()) if m else 0


def pci_name(root: Path, vendor_id: int, device_id: int, subsystem: tuple[int, int] | None = None) -> str | None:
    """Device name from pci.ids ("Navi 31 [Radeon RX 7900 XT/7900 XTX/7900M]")."""
    for rel in PCI_IDS:
        path = root / rel.lstrip("/")
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        return _lookup(text, vendor_id, device_id, subsystem)
    return None


def _lookup(text: str, vendor_id: int, device_id: int, subsystem: tuple[int, int] | None) -> str | None:
    vend = f"{vendor_id:04x}"
    dev = f"{device_id:04x}"
    in_vendor = False
    device_name = None
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if not line.startswith("\t"):
            if in_vendor:
                break
            in_vendor = line.startswith(vend + " ")
            continue
        if not in_vendor:
            continue
        if line.startswith("\t\t"):
            if device_name is not None and subsystem is not None:
                sv, sd = subsystem
                parts = line.strip().split(None, 2)
                if len(parts) == 3 and parts[0] == f"{sv:04x}" and parts[1] == f"{sd:04x}":
                    return parts[2]
            continue
        if device_name is not None:
            break  # past our device's subsystem lines
        if line[1:].startswith(dev + " "):
            device_name = line[1:].split(" ", 1)[1].strip()
    return device_name


def bracketed_names(pci: str) -> list[str]:
    """'Navi 31 [Radeon RX 7900 XT/7900 XTX/7900M]' -> ['Radeon RX 7900 XT', 'Radeon RX 7900 XTX', ...]."""
    m = re.search(r"\[(.+)\]", pci)
    if not m:
        return [pci]
    parts = [p.strip() for p in m.group(1).split("/")]
    lead = re.match(r"^(\D*?)(?=\S*\d)", parts[0])
    prefix = lead.group(1) if lead else ""
    out = [parts[0]]
    for p in parts[1:]:
        # "7900 XTX" after "Radeon RX 7900 XT" means "Radeon RX 7900 XTX"
        out.append(p if re.match(r"^[A-Za-z]{3,}\s", p) else prefix + p)
    return out
