"""`llm-sizing fit`: what runs on this hardware.

Without ``--model``: what runs well here — the catalog ranked by usefulness
(``sizing.core.runs_well``): a usable speed floor first (``--min-tps``, default reading
speed), then the largest model, each at the best quant that keeps the speed; ``--task``
keeps the models tagged for a task. With ``--model``: that model's best quant at
``--ctx``, its largest context at ``--quant``, and (with ``--min-tps``) how many parallel
users it can serve. An adapter over ``sizing.core.solver``; it computes nothing itself.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from sizing.cli.hardware_args import add_hardware_args, hardware_from_args, machine_calibration
from sizing.errors import SizingError
from sizing.core.runs_well import READING_SPEED_TPS, TASKS


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fit",
        help="which models (and which quant, context, users) fit on a machine",
        description="Rank the catalog for a machine, or answer fit questions for one model.",
    )
    add_hardware_args(p, placement=False)
    p.add_argument("--model", metavar="M", help="one model (catalog id/alias, HF repo, .gguf, config.json)")
    p.add_argument("--ctx", type=int, default=4096, help="context for the best-quant question (default 4096)")
    p.add_argument("--quant", metavar="Q", help="quant for the largest-context / users questions (default: best)")
    p.add_argument(
        "--min-tps",
        type=float,
        metavar="X",
        help="catalog: the usable speed floor (default 10 tok/s, reading speed; 0: none); "
        "with --model: the minimum tokens/s each parallel user must see",
    )
    p.add_argument("--task", choices=TASKS, help="catalog: only models tagged for this task")
    p.add_argument("--limit", type=int, default=0, help="show only the first N catalog models")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sizing.core.speed.calibration import load_calibration

    if args.ctx <= 0:
        raise SizingError(f"--ctx must be > 0, got {args.ctx}")
    from sizing.core.solver import check_context

    check_context(args.ctx)  # before a model's maximum clamps it
    if args.limit < 0:
        raise SizingError(f"--limit must be ≥ 0 (0: all models), got {args.limit}")
    if args.min_tps is not None and not (0 <= args.min_tps < float("inf")):
        raise SizingError(f"--min-tps must be a finite number ≥ 0, got {args.min_tps:g}")
    if args.model and args.min_tps == 0:
        raise SizingError("--min-tps must be > 0 with --model (the tokens/s each user must see)")
    from sizing.core.speed.machine import calibrate_hardware

    hw = hardware_from_args(args)
    hw, calib = calibrate_hardware(hw, load_calibration(), machine_calibration(args, hw))
    if args.model:
        return _one(args, hw, calib)
    from sizing.core.runs_well import rank_for_hardware
    from sizing.sources.catalog import catalog_tasks, load_catalog
    from sizing.sources.releases import load_releases

    cat = load_catalog()
    floor = READING_SPEED_TPS if args.min_tps is None else args.min_tps
    releases = load_releases()
    rows = rank_for_hardware(
        cat.models,
        hw,
        calib,
        ctx=args.ctx,
        min_tps=floor,
        task=args.task,
        tasks_of=catalog_tasks(cat),
        released_of=releases.dates(),
        doubling_months=releases.doubling_months,
    )
    if args.limit and args.limit > 0:
        rows = rows[: args.limit]
    if args.json:
        print(
            json.dumps(
                {
                    "hardware": hw.name,
                    "ctx": args.ctx,
                    "min_tps": floor,
                    "task": args.task,
                    "calibration": calib.name,
                    "notes": list(hw.notes),
                    "models": [r.model_dump(mode="json") for r in rows],
                },
                indent=2,
            )
        )
        return 0
    task = f", task {args.task}" if args.task else ""
    print(f"What runs well on {hw.name} — context {args.ctx}, at least {floor:g} tok/s{task} ({calib.name})")
    for n in hw.notes:
        print(f"  note: {n}")
    if not rows:
        print("  no catalog model is tagged for this task")
        return 0
    table = [("model", "params", "best quant", "tok/s (low–high)", "where", "why here")]
    for r in rows:
        tps = (
            "—"
            if r.decode_tokens_per_s is None
            else (
                f"{r.decode_tokens_per_s:.0f} ({r.decode_range[0]:.0f}–{r.decode_range[1]:.0f})"
                if r.decode_range
                else f"{r.decode_tokens_per_s:.0f}"
            )
        )
        size = f"{r.params_b:.1f}B" + (
            f" ({r.active_params_b:.1f}B active)" if r.active_params_b < 0.95 * r.params_b else ""
        )
        where = f"GPU, experts of {r.n_cpu_moe} layers in RAM" if r.n_cpu_moe else r.where
        table.append((r.model_id, size, r.quant or "—", tps, where, r.reason))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return 0


def _one(args: argparse.Namespace, hw, calib) -> int:
    from sizing.sources.resolve import resolve_model
    from sizing.core.solver import QUANT_LADDER, best_quant, largest_context, max_parallel_users

    r = resolve_model(args.model)
    ctx = min(args.ctx, r.arch.max_context)
    kw: dict[str, Any] = {"tensors": r.tensors} if r.tensors else {}
    quants = (r.file_type,) if (r.tensors and r.file_type) else QUANT_LADDER  # a GGUF has one quant
    best = best_quant(r.arch, ctx, hw, calib, quants=quants, **kw)
    quant = args.quant or (best.quant if best else None) or (r.file_type or "Q4_K_M")
    limit = largest_context(r.arch, quant, hw, calib, **kw)
    commands = None
    if best is not None and best.fits:
        from sizing.core.commands import launch_commands

        c = launch_commands(
            r.arch.id,
            best.quant,
            best.placement,
            ctx=ctx,
            n_heads=r.arch.n_heads,
            n_kv_heads=r.arch.n_kv_heads,
            model_path=args.model if str(args.model).lower().endswith(".gguf") else None,
        )
        commands = {"llama_server": c.llama_server, "ollama": c.ollama, "vllm": c.vllm}
    users = None
    if args.min_tps is not None:
        users = max_parallel_users(r.arch, quant, ctx, hw, calib, min_tokens_per_s=args.min_tps, **kw)
    out = {
        "model": r.arch.id,
        "hardware": hw.name,
        "ctx": ctx,
        "best_quant": best.quant if best else None,
        "fits": bool(best and best.fits),
        "how": best.placement.how if best else "no quant fits",
        "decode_tokens_per_s": best.speed.decode_tokens_per_s.rounded() if best and best.speed else None,
        "gpu_layers": best.placement.gpu_layers if best else None,
        "n_cpu_moe": best.placement.n_cpu_moe if best else None,
        "tensor_split": list(best.placement.tensor_split) if best else None,
        "commands": commands,
        "largest_context": limit.model_dump(),
        "parallel_users": None
        if users is None
        else {
            "users": users.users,
            "per_user_tokens_per_s": round(users.per_user_tokens_per_s, 2),
            "min_tokens_per_s": users.min_tokens_per_s,
        },
        "calibration": calib.name,
        "notes": list(hw.notes),
    }
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{r.arch.name} on {hw.name}")
    if best:
        s = best.speed
        print(f"  best quant at ctx {ctx}: {best.quant} — {best.placement.how}")
        if s:
            d = s.decode_tokens_per_s
            print(f"  decode: {d.expected:.1f} tok/s (range {d.low:.1f}–{d.high:.1f}), calibration {s.calibration}")
    else:
        print(f"  no quant fits at ctx {ctx}")
    if hw.gpus:
        print(
            f"  largest context at {quant}: on GPU {limit.on_gpu or '—'}, with RAM offload "
            f"{limit.with_offload or '—'} (model max {limit.model_max})"
        )
    else:  # a CPU-only machine: one figure, in RAM
        print(f"  largest context at {quant}: {limit.with_offload or '—'} in RAM (model max {limit.model_max})")
    if users is not None:
        print(
            f"  parallel users at ≥ {args.min_tps:g} tok/s each: {users.users} ({users.per_user_tokens_per_s:.1f} tok/s each)"
        )
    if commands:
        print(f"  run: {commands['llama_server']}")
    for n in hw.notes:
        print(f"  note: {n}")
    return 0
