"""`llm-sizing finetune`: memory and time to fine-tune a model (full, LoRA, QLoRA).

A thin adapter: it resolves the model and the GPU names, builds a ``FinetuneScenario``
and prints ``sizing.core.finetune.report.finetune_report``; it computes no number itself.
"""

from __future__ import annotations

import argparse
import json
import re

from sizing.errors import SizingError
from sizing.units import gib
from sizing.core.finetune.scenario import OPTIMIZERS, PRECISIONS, SHARDINGS, TARGET_MODULES, FinetuneScenario
from sizing.core.finetune.report import FinetuneReport, finetune_report


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "finetune",
        help="memory and time to fine-tune a model (full, LoRA, QLoRA)",
        description="Per-GPU memory of one training step (weights, gradients, optimizer, "
        "activations, overhead), whether it fits, and training tokens/s.",
    )
    p.add_argument("--model", required=True, metavar="M", help="catalog id/alias, HF repo id, .gguf or config.json")
    p.add_argument("--method", default="lora", help="full, lora or qlora (default lora)")
    p.add_argument("--precision", default="mixed_bf16", choices=PRECISIONS, help="full fine-tuning only")
    p.add_argument("--rank", type=int, default=16, metavar="R", help="LoRA rank (default 16)")
    p.add_argument(
        "--targets",
        default="q,k,v,o",
        metavar="LIST",
        help=f"LoRA target modules, comma-separated from {','.join(TARGET_MODULES)} (or 'all')",
    )
    p.add_argument("--seq-len", type=int, default=2048, metavar="N")
    p.add_argument("--micro-batch", type=int, default=1, metavar="B")
    p.add_argument("--optimizer", default="adamw", choices=OPTIMIZERS)
    p.add_argument(
        "--grad-checkpointing",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="recompute activations in the backward pass (default: on for LoRA/QLoRA, as "
        "the PEFT/TRL/Unsloth/Axolotl recipes do; off for full fine-tuning)",
    )
    p.add_argument("--no-flash-attn", action="store_true", help="eager attention (saves the s x s scores)")
    p.add_argument(
        "--gpu",
        nargs="+",
        action="extend",
        default=[],
        metavar="NAME",
        help='GPU(s) from the database, each sized as an option; "2x RTX 3090" for 2 cards '
        "(data parallel). fits is true when the run fits on every option",
    )
    p.add_argument("--gpus", type=int, default=1, metavar="N", help="cards per option when NAME has no count")
    p.add_argument("--sharding", default=None, choices=SHARDINGS, help="with --gpus > 1 (default ddp)")
    p.add_argument("--dataset-tokens", type=int, default=None, metavar="N", help="tokens per epoch, for time")
    p.add_argument(
        "--rank-gpus",
        choices=("time", "cost"),
        default=None,
        help="rank every GPU in the database where the run fits, fastest or cheapest first",
    )
    p.add_argument("--top", type=int, default=10, metavar="N", help="rows of --rank-gpus (default 10)")
    p.add_argument(
        "--adapter-dtype",
        choices=("fp32", "bf16"),
        default=None,
        help="LoRA/QLoRA adapter dtype (default: fp32 for LoRA as peft does, bf16 for QLoRA)",
    )
    p.add_argument(
        "--foreach-optimizer",
        action="store_true",
        help="GPU: torch.optim.AdamW's foreach path instead of the fused kernel (more memory)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


# "2x RTX 3090", "2 x RTX 3090", "RTX 3090 x2", "RTX 3090×2" (not the X of "RTX 4090")
_COUNT = re.compile(r"^\s*(\d+)\s*[x×]\s+(.+)$|^(.+?)(?:\s+[x×]|×)\s*(\d+)\s*$", re.IGNORECASE)


def _gpus(names: list[str], default_count: int) -> tuple[list, list[int]]:
    """Database entries and card counts for ``--gpu`` values ("RTX 4090", "2x RTX 3090")."""
    if not names:
        return [], []
    from sizing.hardware.db import load_gpus

    db = load_gpus()
    gpus, counts = [], []
    for raw in names:
        name, n = raw, default_count
        m = _COUNT.match(raw)
        if m:
            name, n = (m.group(2), int(m.group(1))) if m.group(1) else (m.group(3), int(m.group(4)))
        if not 1 <= n <= 64:
            raise SizingError(f"--gpu {raw!r}: count must be 1..64")
        r = db.match(name.strip())
        if not r.matched:
            raise SizingError(f"--gpu {raw!r}: {r.message()}")
        gpus.append(r.gpu)
        counts.append(n)
    return gpus, counts


def _targets(text: str) -> tuple[str, ...]:
    if text.strip().lower() == "all":
        return TARGET_MODULES
    return tuple(t.strip() for t in text.split(",") if t.strip())


def _gib(n: int | None) -> str:
    return "—" if n is None else gib(n, 2)


def _human(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def render(r: FinetuneReport) -> str:
    s, m = r.scenario, r.memory
    how = {
        "full": f"full fine-tuning ({s.precision})",
        "lora": f"LoRA r={s.rank} on {','.join(s.target_modules)}",
        "qlora": f"QLoRA (NF4) r={s.rank} on {','.join(s.target_modules)}",
    }[s.method]
    lines = [
        f"{s.model.name}: {how}, seq {s.seq_len} x micro-batch {s.micro_batch}, {s.optimizer}"
        + (", gradient checkpointing on" if s.grad_checkpointing else ", gradient checkpointing off")
        + (f", {s.n_gpus} GPUs {s.sharding}" if s.n_gpus > 1 else ""),
        f"  parameters: {m.params / 1e6:,.1f} M, trainable {m.trainable_params / 1e6:,.2f} M",
    ]
    for name, v in m.parts().items():
        lines.append(f"  {name:<12}{_gib(v):>12}")
    lines.append(f"  {'total/GPU':<12}{_gib(m.total_bytes):>12}  (peak at {m.peak_phase.replace('_', ' ')})")
    for w in m.warnings:
        lines.append(f"  ! {w}")
    for g in r.gpus:
        verdict = "fits" if g.fits else ("not supported" if not g.supported else "does not fit")
        cards = f"{g.n_gpus}x " if g.n_gpus > 1 else ""
        line = f"  {cards}{g.gpu_name} ({_gib(g.memory_bytes)} each): {verdict}"
        if g.throughput:
            t = g.throughput.tokens_per_s
            line += f"; {t['low']:,.0f}–{t['high']:,.0f} tokens/s (expected {t['expected']:,.0f})"
        if g.epoch_s:
            line += f"; epoch {_human(g.epoch_s['expected'])} ({_human(g.epoch_s['high'])}–{_human(g.epoch_s['low'])})"
        lines.append(line)
    if r.largest_micro_batch is not None:
        lines.append(f"  largest micro-batch that fits: {r.largest_micro_batch}; largest sequence: {r.largest_seq_len}")
        fit = [f.method for f in r.methods if f.fits]
        lines.append(f"  methods that fit: {', '.join(fit) or 'none'}")
    lines.append(f"  basis: {m.basis.method}; {m.basis.calibration}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from sizing.sources.resolve import resolve_model

    arch = resolve_model(args.model).arch
    sharding = args.sharding or ("ddp" if args.gpus > 1 else "none")
    if not 1 <= args.gpus <= 64:  # as for "N x NAME" in --gpu
        raise SizingError(f"--gpus must be 1 to 64, got {args.gpus}")
    if args.dataset_tokens is not None and args.dataset_tokens <= 0:
        raise SizingError(f"--dataset-tokens must be positive, got {args.dataset_tokens}")
    s = FinetuneScenario.build(
        model=arch,
        method=args.method,
        precision=args.precision,
        rank=args.rank,
        target_modules=_targets(args.targets),
        seq_len=args.seq_len,
        micro_batch=args.micro_batch,
        optimizer=args.optimizer,
        grad_checkpointing=args.grad_checkpointing,
        flash_attn=not args.no_flash_attn,
        n_gpus=args.gpus,
        sharding=sharding,
        adapter_dtype=args.adapter_dtype,
        fused_optimizer=not args.foreach_optimizer,
    )
    gpus, counts = _gpus(args.gpu, args.gpus)
    report = finetune_report(s, gpus, args.dataset_tokens, counts)
    ranked = None
    if args.rank_gpus:
        from sizing.core.finetune.plan import rank_gpus
        from sizing.hardware.db import load_gpus

        if args.top < 1:
            raise SizingError(f"--top must be at least 1, got {args.top}")
        tokens = args.dataset_tokens or 100_000_000
        ranked = rank_gpus(s, load_gpus().all, tokens, by=args.rank_gpus)[: args.top]
    if args.json:
        out = report.to_json()
        if ranked is not None:
            out["ranked_gpus"] = [
                {
                    "id": r.gpu_id,
                    "name": r.gpu_name,
                    "total_bytes": r.needed_bytes,
                    "memory_bytes": r.memory_bytes,
                    "tokens_per_s": r.throughput.tokens_per_s if r.throughput else None,
                    "epoch_s": r.epoch_s,
                    "price_usd": r.price_usd,
                }
                for r in ranked
            ]
        print(json.dumps(out, indent=2))
    else:
        print(render(report))
        if ranked is not None:
            print(render_ranking(ranked, args.rank_gpus, args.dataset_tokens or 100_000_000))
    return 0


def render_ranking(rows, by: str, tokens: int) -> str:
    head = (
        f"GPUs where it fits, {'fastest' if by == 'time' else 'cheapest to buy'} first ({tokens:,} tokens per epoch):"
    )
    lines = [head]
    if not rows:
        lines.append("  none in the database")
    for i, r in enumerate(rows, 1):
        price = f"${r.price_usd:,.0f} ({r.price_basis})" if r.price_usd else "price unknown"
        ep = _human(r.epoch_s["expected"]) if r.epoch_s else "—"
        lines.append(
            f"  {i:>2}. {r.gpu_name:<40} needs {_gib(r.needed_bytes)} of {_gib(r.memory_bytes)}; epoch {ep}; {price}"
        )
    return "\n".join(lines)
