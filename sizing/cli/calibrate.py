"""`llm-sizing calibrate`: see, undo, reset or add to this machine's speed calibration.

The calibration is fitted from the runs stored on this machine (live checks from
``verify``, or llama-bench results imported with ``--import``). Every run is listed
with whether it feeds the fit and, if not, why (a busy machine, the hypervisor, a
repeat well below the others). ``--forget ID`` removes one run, ``--reset --yes`` sets
all of them aside (renamed, not deleted).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sizing.errors import SizingError


def register(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "calibrate",
        help="show, undo, reset or import this machine's speed calibration",
        description="This machine's speed calibration: the stored runs it is fitted from, which are "
        "left out and why; forget one run, reset, or import llama-bench results.",
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument("--list", action="store_true", help="show the calibration and every stored run (default)")
    g.add_argument(
        "--import",
        dest="import_file",
        metavar="FILE",
        help="store the results of `llama-bench -o json` or `-o jsonl` run on this machine",
    )
    g.add_argument(
        "--measure",
        action="store_true",
        help="run the calibration on this machine: the packaged small models (per-token overhead) and a "
        "synthetic model sized for this machine's RAM (bandwidth), each --repeats times",
    )
    g.add_argument("--forget", metavar="ID", help="remove one stored run (its id from --list)")
    g.add_argument("--reset", action="store_true", help="set every stored run aside (needs --yes)")
    p.add_argument("--yes", action="store_true", help="confirm --reset")
    p.add_argument("--repeats", type=int, default=3, help="with --measure: runs of each model (median fitted)")
    p.add_argument("--threads", type=int, default=None, help="with --measure: CPU threads (default: llama.cpp's)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)
    return p


def _read(path: str) -> bytes:
    from sizing.live.bench_import import MAX_FILE_BYTES

    f = Path(path).expanduser()
    if not f.exists():
        raise SizingError(f"--import {path}: no such file")
    if not f.is_file():
        raise SizingError(f"--import {path}: not a regular file")
    try:
        with open(f, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise SizingError(f"--import {path}: cannot read ({e.strerror or e})") from None
    return data


def run(args: argparse.Namespace) -> int:
    from sizing.live import store
    from sizing.live.this_machine import import_llama_bench, machine_status

    if args.reset:
        if not args.yes:
            raise SizingError("--reset sets every stored run aside; add --yes to confirm")
        where = store.reset_store()
        msg = f"stored runs set aside in {where}" if where else "no stored runs"
        print(json.dumps({"reset": str(where) if where else None}) if args.json else msg)
        return 0
    if args.measure:
        import sys

        from sizing.live.measure_machine import measure_machine

        if args.threads is not None and args.threads <= 0:
            raise SizingError(f"--threads must be positive, got {args.threads}")
        say = (lambda line: print(line, file=sys.stderr)) if args.json else print
        measure_machine(repeats=args.repeats, n_threads=args.threads, say=say)
        status = machine_status()
        print(json.dumps(status, indent=2) if args.json else render(status))
        return 0
    if args.forget:
        gone = store.forget_run(args.forget)
        if args.json:
            print(json.dumps({"forgot": gone.id, "model": gone.model}))
        else:
            print(f"forgot run {gone.id} ({gone.model})")
        return 0
    if args.import_file:
        name = Path(args.import_file).name
        records, notes = import_llama_bench(_read(args.import_file), name)
        if args.json:
            print(
                json.dumps(
                    {"imported": [r.id for r in records], "notes": notes, "calibration": machine_status()}, indent=2
                )
            )
            return 0
        print(f"imported {len(records)} result{'s' if len(records) != 1 else ''} from {name}")
        for n in notes:
            print(f"  {n}")
    status = machine_status()
    if args.json and not args.import_file:
        print(json.dumps(status, indent=2))
        return 0
    print(render(status))
    return 0


def render(status: dict) -> str:
    lines = [f"run store: {status['store']}"]
    for w in status["skipped_lines"]:
        lines.append(f"  {w}")
    if not status["backends"]:
        lines.append(
            "no runs on this machine yet: `llm-sizing verify --model ...` or "
            "`llm-sizing calibrate --import llama-bench.json`"
        )
    for backend, b in status["backends"].items():
        lines.append(f"{backend}: {b['detail']} — {b['n_used']} used")
        for r in b["runs"]:
            mark = "used" if r["used"] else "LEFT OUT"
            speed = f"{r['decode_tokens_per_s']:.1f} tok/s" if r.get("decode_tokens_per_s") else "—"
            reason = f" — {r['reason']}" if r["reason"] else ""
            lines.append(f"  {r['id']:<14} {r.get('time') or '':<16} {mark:<8} {r['label']}: {speed}{reason}")
    if status["other_machines"]:
        lines.append(f"({status['other_machines']} stored runs from other machines or failed runs not shown)")
    return "\n".join(lines)
