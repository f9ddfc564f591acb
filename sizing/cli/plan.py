"""`llm-sizing plan`: what to buy to run these models at this context and speed.

An adapter over ``sizing.core.planner``: it resolves the models, loads the GPU database and
the calibration, and prints the ranked configurations (or "no configuration meets
this" with the closest options). With ``--tokens-per-day-in/out`` it adds the monthly
cost against an API and the break-even point.
"""

from __future__ import annotations

import argparse
import json

from sizing.errors import SizingError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "plan",
        help="purchase planner: ranked hardware for target models, context and speed",
        description="Rank machines (1-8 identical GPUs, Apple and other unified-memory machines) "
        "that hold the models on their accelerators, within budget and power cap.",
    )
    p.add_argument("--model", action="append", required=True, metavar="M", help="target model (repeatable)")
    p.add_argument("--quant", default="Q4_K_M", help="quant (default Q4_K_M)")
    p.add_argument("--ctx", type=int, default=8192, help="context per request (default 8192)")
    p.add_argument("--target-tps", type=float, metavar="X", help="minimum decode tokens/s")
    p.add_argument("--target-ttft", type=float, metavar="S", help="maximum time to first token, seconds")
    p.add_argument("--prompt-tokens", type=int, metavar="N", help="prompt length for TTFT (default min(ctx, 512))")
    p.add_argument("--budget", type=float, metavar="USD", help="maximum price")
    p.add_argument("--power-cap", type=float, metavar="W", help="maximum board power")
    p.add_argument("--limit", type=int, default=10, help="options to show (default 10)")
    c = p.add_argument_group("local against cloud")
    c.add_argument("--tokens-in-per-day", type=float, metavar="N")
    c.add_argument("--tokens-out-per-day", type=float, metavar="N")
    c.add_argument("--years", type=float, default=3.0, help="years of use (default 3)")
    c.add_argument("--power-price", type=float, default=0.30, metavar="USD/kWh", help="default 0.30")
    c.add_argument("--cloud", default="openai-gpt-4o-mini", help="provider id from data/cloud_prices.yaml")
    c.add_argument("--api-in", type=float, metavar="USD/M", help="override API input price per million tokens")
    c.add_argument("--api-out", type=float, metavar="USD/M", help="override API output price per million tokens")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sizing.core.speed.calibration import load_calibration
    from sizing.hardware.cpus import load_cpus
    from sizing.hardware.db import load_gpus
    from sizing.sources.resolve import resolve_model
    from sizing.core.planner import cloud_prices, local_vs_cloud, plan_purchase

    if args.budget is not None and args.budget <= 0:
        raise SizingError(f"--budget must be > 0 USD, got {args.budget:g}")
    if args.power_cap is not None and args.power_cap <= 0:
        raise SizingError(f"--power-cap must be > 0 W, got {args.power_cap:g}")
    if args.ctx <= 0:
        raise SizingError(f"--ctx must be > 0, got {args.ctx}")
    if args.limit <= 0:
        raise SizingError(f"--limit must be > 0, got {args.limit}")
    models = [resolve_model(m).arch for m in args.model]
    calib = load_calibration()
    result = plan_purchase(
        models,
        quant=args.quant,
        ctx=args.ctx,
        calib=calib,
        gpus=load_gpus().all,
        target_tps=args.target_tps,
        target_ttft_s=args.target_ttft,
        budget_usd=args.budget,
        power_cap_w=args.power_cap,
        prompt_tokens=args.prompt_tokens,
        limit=args.limit,
        cpus=load_cpus().all,
    )
    cost = None
    if args.tokens_in_per_day is not None or args.tokens_out_per_day is not None:
        best = (result.options or result.closest or (None,))[0]
        if best is None or not best.decode_tokens_per_s or best.price_usd is None:
            raise SizingError("no priced configuration runs these models, so there is nothing to compare with the cloud")
        providers = {p.id: p for p in cloud_prices()}
        if args.cloud not in providers and (args.api_in is None or args.api_out is None):
            raise SizingError(f"unknown --cloud {args.cloud!r}; known: {', '.join(providers)}")
        slowest = min((m for m in best.models if m.decode_tokens_per_s), key=lambda m: m.decode_tokens_per_s)
        prefill = (args.prompt_tokens or min(args.ctx, 512)) / max(1e-9, (slowest.ttft_s or 1e-9))
        cost = local_vs_cloud(
            tokens_in_per_day=args.tokens_in_per_day or 0.0,
            tokens_out_per_day=args.tokens_out_per_day or 0.0,
            hardware_price_usd=best.price_usd,
            years=args.years,
            watts=best.watts or 0.0 or _no_watts(best.label),
            power_price_per_kwh=args.power_price,
            decode_tokens_per_s=slowest.decode_tokens_per_s,
            prefill_tokens_per_s=prefill,
            cloud=providers.get(args.cloud),
            api_input_per_m=args.api_in,
            api_output_per_m=args.api_out,
        )
    if args.json:
        out = {
            "message": result.message,
            "met": result.met,
            "options": [o.to_json() for o in result.options],
            "closest": [o.to_json() for o in result.closest],
            "considered": result.considered,
            "notes": list(result.notes),
            "calibration": calib.name,
            "cost": cost.model_dump() if cost else None,
        }
        print(json.dumps(out, indent=2))
        return 0
    print(result.message)
    rows = result.options or result.closest
    table = [("configuration", "price", "tok/s", "$/(tok/s)", "TTFT s", "watts", "headroom", "pareto", "")]
    for o in rows:
        table.append((
            o.label,
            "—" if o.price_usd is None else f"${o.price_usd:,.0f}",
            "—" if o.decode_tokens_per_s is None else f"{o.decode_tokens_per_s:.1f}",
            "—" if o.usd_per_token_s is None else f"{o.usd_per_token_s:,.0f}",
            "—" if o.ttft_s is None else f"{o.ttft_s:.2f}",
            "—" if o.watts is None else f"{o.watts:.0f}",
            "—" if o.headroom is None else f"{o.headroom:.0%}",
            "*" if o.pareto else "",
            o.shortfall or "",
        ))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    shown = set()
    for o in rows:  # the expert-offload builds: how to run them (one line per distinct command)
        for m in o.models:
            if m.command and m.command not in shown and len(shown) < 3:
                shown.add(m.command)
                print(f"run on {o.label}: {m.command}")
    for n in result.notes:
        print(f"note: {n}")
    if cost:
        be = "never" if cost.break_even_months is None else f"{cost.break_even_months:.1f} months"
        print(f"local ${cost.local_monthly_usd:,.2f}/month vs {cost.cloud_name} ${cost.cloud_monthly_usd:,.2f}/month; break-even: {be}")
        print(f"  ({cost.basis})")
    return 0


def _no_watts(label: str) -> float:
    raise SizingError(f"{label}: power draw unknown, so its electricity cost cannot be computed")
