"""`llm-sizing gpus`: list the GPU database, or find the entry for a name.

A thin adapter over ``sizing.hardware.db``: it prints what the database holds and what
the matcher decided; it computes nothing itself. An ambiguous or unknown name exits 2
with the candidates (or the closest names), so scripts never get a silent guess.
"""

from __future__ import annotations

import argparse
import json
import sys

from sizing.errors import SizingError
from sizing.core.gpu import GPU
from sizing.hardware.db import load_gpus

VENDORS = ("nvidia", "amd", "intel", "apple")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "gpus",
        help="list GPUs in the database or match a name to an entry",
        description="List the GPU database, or match a device name (NVML, ROCm, macOS "
        "or marketing spelling) to its entry.",
    )
    p.add_argument(
        "--match", metavar="NAME", help='e.g. "NVIDIA GeForce RTX 4090", "4090 24GB", "Apple M3 Max 40-core"'
    )
    p.add_argument("--vendor", metavar="V", help=f"only this vendor: {', '.join(VENDORS)}")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def entry_json(g: GPU) -> dict:
    return g.model_dump(mode="json")


def _fmt(v: float | None, unit: str = "") -> str:
    return "—" if v is None else f"{v:g}{unit}"


def _table(gpus: list[GPU]) -> str:
    rows = [("id", "name", "memory", "bandwidth", "fp16 dense", "int8 dense")]
    for g in gpus:
        mem = "shared" if g.memory_gb is None else f"{g.memory_gb:g} GB"
        rows.append(
            (
                g.id,
                g.name,
                mem,
                _fmt(g.memory_bandwidth_gbs, " GB/s"),
                _fmt(g.fp16_tflops, " TF"),
                _fmt(g.int8_tops, " TOPS"),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _describe(g: GPU) -> str:
    lines = [f"{g.name}  [{g.id}]", f"  vendor: {g.vendor}, {g.kind}, {g.architecture or '?'}"]
    mem = "shares system RAM" if g.memory_gb is None else f"{g.memory_gb:g} GB {g.memory_type or ''}".rstrip()
    lines.append(f"  memory: {mem}, bandwidth {_fmt(g.memory_bandwidth_gbs, ' GB/s')}")
    lines.append(
        f"  dense FP16/BF16 tensor: {_fmt(g.fp16_tflops, ' TFLOPS')}, dense INT8: {_fmt(g.int8_tops, ' TOPS')}"
    )
    lines.append(f"  llama.cpp backends: {', '.join(g.backends) or 'none'}")
    for group, src in g.sources.model_dump().items():
        if src:
            lines.append(f"  source ({group}): {src}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    db = load_gpus()
    gpus = list(db.all)
    if args.vendor:
        vendor = args.vendor.strip().lower()
        if vendor not in VENDORS:
            raise SizingError(f"--vendor {args.vendor!r} is not one of {', '.join(VENDORS)}")
        gpus = [g for g in gpus if g.vendor == vendor]
    if args.match is None:
        if args.json:
            json.dump([entry_json(g) for g in gpus], sys.stdout, indent=1)
            print()
        else:
            print(_table(gpus))
        return 0

    result = db.match(args.match)
    vendor = args.vendor.strip().lower() if args.vendor else None
    candidates = [c for c in result.candidates if not vendor or c.vendor == vendor]
    if result.gpu is not None and (not vendor or result.gpu.vendor == vendor):
        if args.json:
            json.dump(entry_json(result.gpu), sys.stdout, indent=1)
            print()
        else:
            print(_describe(result.gpu))
        return 0
    status = "ambiguous" if candidates else "unknown"
    if args.json:
        json.dump(
            {
                "query": args.match,
                "status": status,
                "candidates": [{"id": c.id, "name": c.name, "memory_gb": c.memory_gb} for c in candidates],
                "suggestions": list(result.suggestions),
            },
            sys.stdout,
            indent=1,
        )
        print()
    elif candidates:
        print(
            f"llm-sizing: {args.match!r} is ambiguous; candidates: " + ", ".join(c.id for c in candidates),
            file=sys.stderr,
        )
    elif vendor and (result.matched or result.candidates):
        # the name is known, but not for this vendor: say what it is instead
        found = result.gpu.id if result.gpu is not None else ", ".join(c.id for c in result.candidates)
        print(f"llm-sizing: {args.match!r} matches no {vendor} device (it is {found})", file=sys.stderr)
    else:
        print(f"llm-sizing: {result.message()}", file=sys.stderr)
    return 2
