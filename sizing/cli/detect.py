"""`llm-sizing detect`: what this machine has (GPUs, CPU, RAM, disk) and their DB matches.

An adapter over ``sizing.hardware.detect.detect_machine``; a machine without a GPU or
driver gets a CPU-only report with the reason, and exit status 0.
"""

from __future__ import annotations

import argparse
import json
import sys

from sizing.hardware.detect import detect_machine
from sizing.units import gib


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "detect",
        help="detect this machine's GPUs, CPU, RAM and disk",
        description="Detect GPUs (NVML, ROCm/sysfs, macOS), CPU, RAM and free disk, and match "
        "each device to the GPU database.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--probe-bandwidth", action="store_true", help="measure RAM bandwidth (under 2 s; cached for a week)"
    )
    p.set_defaults(func=run)


def _gb(n: int | None) -> str:
    return "?" if n is None else gib(n)


def run(args: argparse.Namespace) -> int:
    m = detect_machine(probe_bandwidth=args.probe_bandwidth)
    if args.json:
        json.dump(m.to_json(), sys.stdout, indent=1)
        print()
        return 0
    c = m.cpu
    print(f"OS: {m.os}")
    print(f"CPU: {c.model} ({c.arch}), {c.cores or '?'} cores / {c.threads or '?'} threads")
    from sizing.core.speed.cpu import ISA_LABELS, isa_from_flags

    print(f"  ISA: {', '.join(c.flags) or 'n/a'} (llama.cpp kernels: {ISA_LABELS[isa_from_flags(c.flags)]})")
    if c.clock_ghz:
        print(f"  clock: {c.clock_ghz:.2f} GHz, {c.clock_basis or 'as the OS states it'}")
    if c.vendor:
        from sizing.core.speed.calibration import load_calibration
        from sizing.core.speed.estimate import decode_table_label

        print(f"  vendor: {c.vendor}; decode speed per weight type: {decode_table_label(c.vendor, load_calibration())}")
    print(f"RAM: {_gb(c.ram_total_bytes)} total, {_gb(c.ram_available_bytes)} available")
    if c.bandwidth:
        b = c.bandwidth
        print(
            f"  bandwidth: {b.gbs:.1f} GB/s measured (min {b.min_gbs:.1f}, max {b.max_gbs:.1f}, "
            f"spread {b.spread_pct:.0f}%, {b.runs} runs{', cached' if b.cached else ''})"
        )
    if m.disk:
        print(f"Disk: {_gb(m.disk.free_bytes)} free of {_gb(m.disk.total_bytes)} at {m.disk.path}")
    if not m.gpus:
        print("GPUs: none usable (CPU-only)")
    for g in m.gpus:
        match = g.db_id if g.match_status == "matched" else g.match_status
        print(f"GPU {g.vendor} #{g.index}: {g.name} [{match}] via {g.source}")
        print(
            f"  memory: {_gb(g.memory_total_bytes)} total, {_gb(g.memory_free_bytes)} free, "
            f"{_gb(g.usable_memory_bytes)} usable"
        )
        extras = [
            f"{k} {v}"
            for k, v in (
                ("driver", g.driver_version),
                ("CUDA", g.cuda_version),
                ("cc", g.compute_capability),
                ("target", g.llvm_target),
                ("cores", g.gpu_cores),
                ("PCIe gen", g.pcie_gen),
                ("width x", g.pcie_width),
                ("power limit W", g.power_limit_w),
            )
            if v is not None
        ]
        if extras:
            print(f"  {', '.join(extras)}")
        for p in g.other_processes:
            print(f"  other process {p.pid} ({p.name or '?'}): {_gb(p.used_bytes)}")
        for n in g.notes:
            print(f"  note: {n}")
    for n in m.notes:
        print(f"note: {n}")
    return 0
