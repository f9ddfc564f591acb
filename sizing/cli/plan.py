"""`llm-sizing plan`: what to buy to run these models at this context and speed, priced whole.

An adapter over ``sizing.plan.plan_purchase`` (the one composition the UI and the bench
call too): whole builds (platform + RAM + cards, complete systems, CPU-only servers)
ranked by objective; ``--json`` prints its ``PlanAnswer``. With
``--tokens-in-per-day/--tokens-out-per-day`` it adds buy-or-rent (``sizing.core.cloud``):
the chosen build (``--build``, else the top row) against cloud GPUs by the hour at their
predicted speed and APIs serving the same open model, with the break-even in months and
tokens. Bad input is one line on stderr and exit 2; a target no build meets is an answer
(the closest builds), exit 0.
"""

from __future__ import annotations

import argparse

from sizing.errors import SizingError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "plan",
        help="purchase planner: whole builds ranked for target models, context and speed",
        description="Rank whole builds (a host platform with 1-8 cards that physically fit it, complete systems "
        "such as Mac Studio, Strix Halo boxes, DGX Spark and prebuilt multi-GPU boxes, CPU-only servers), "
        "priced whole with dated, cited prices, by the objective you choose.",
    )
    p.add_argument("--model", action="append", required=True, metavar="M", help="target model (repeatable)")
    p.add_argument("--quant", default="Q4_K_M", help="quant (default Q4_K_M)")
    p.add_argument("--ctx", type=int, default=8192, help="context per request (default 8192)")
    p.add_argument(
        "--objective",
        default="cheapest",
        choices=("cheapest", "fastest", "cost-per-token"),
        help="cheapest that meets the target (default), fastest within budget, or lowest cost per million tokens",
    )
    p.add_argument("--target-tps", type=float, metavar="X", help="minimum decode tokens/s (slowest model)")
    p.add_argument("--prompt-tokens", type=int, metavar="N", help="prompt length for TTFT (default min(ctx, 512))")
    p.add_argument("--budget", type=float, metavar="USD", help="maximum price of the whole build")
    p.add_argument("--used", action="store_true", help="allow used cards where a used price is cited")
    p.add_argument(
        "--price",
        action="append",
        default=[],
        metavar="ID=USD",
        help="override a price (a GPU, platform, system or machine:GPU id); repeatable",
    )
    p.add_argument("--no-cpu-only", action="store_true", help="leave CPU-only servers out")
    p.add_argument("--limit", type=int, default=10, help="rows to show (default 10)")
    u = p.add_argument_group("use and running cost")
    u.add_argument("--region", default="EU", help="electricity price region from data/electricity.yaml (default EU)")
    u.add_argument("--power-price", type=float, metavar="USD/kWh", help="override the region's electricity price")
    u.add_argument("--hours-per-day", type=float, default=8.0, help="hours a day the machine generates (default 8)")
    u.add_argument("--years", type=float, default=3.0, help="years to spread the purchase over (default 3)")
    c = p.add_argument_group("buy or rent")
    c.add_argument("--tokens-in-per-day", type=float, metavar="N")
    c.add_argument("--tokens-out-per-day", type=float, metavar="N")
    c.add_argument("--build", metavar="ID", help="build id to compare with the cloud (default: the top row)")
    c.add_argument(
        "--cloud",
        metavar="ID",
        help="API provider id from data/cloud_prices.yaml (default: every "
        "provider serving the first model; proprietary ones as reference)",
    )
    c.add_argument("--api-in", type=float, metavar="USD/M", help="custom API input price per million tokens")
    c.add_argument("--api-out", type=float, metavar="USD/M", help="custom API output price per million tokens")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def _check(args: argparse.Namespace) -> None:
    import math

    def pos(name: str, v: float | None) -> None:
        if v is not None and not (v > 0 and math.isfinite(v)):
            raise SizingError(f"{name} must be > 0, got {v:g}")

    pos("--budget", args.budget)
    pos("--target-tps", args.target_tps)
    pos("--years", args.years)
    if args.ctx <= 0:
        raise SizingError(f"--ctx must be > 0, got {args.ctx}")
    if args.limit <= 0:
        raise SizingError(f"--limit must be > 0, got {args.limit}")
    if not (0 < args.hours_per_day <= 24):
        raise SizingError(f"--hours-per-day must be in (0, 24], got {args.hours_per_day:g}")
    if args.prompt_tokens is not None and args.prompt_tokens <= 0:
        raise SizingError(f"prompt tokens must be > 0, got {args.prompt_tokens}")
    if args.power_price is not None and not (args.power_price >= 0 and math.isfinite(args.power_price)):
        raise SizingError(f"--power-price must be ≥ 0 USD/kWh, got {args.power_price:g}")
    for name in ("tokens_in_per_day", "tokens_out_per_day", "api_in", "api_out"):
        v = getattr(args, name)
        if v is not None and not (v >= 0 and math.isfinite(v)):
            raise SizingError(f"--{name.replace('_', '-')} must be ≥ 0, got {v:g}")


def run(args: argparse.Namespace) -> int:
    from sizing.core.cloud import Workload
    from sizing.plan import PlanRequest, plan_purchase

    _check(args)
    if (args.api_in is None) != (args.api_out is None):
        raise SizingError("give both --api-in and --api-out")
    req = PlanRequest(
        models=tuple(args.model),
        quant=args.quant,
        ctx=args.ctx,
        objective=args.objective,
        target_tps=args.target_tps,
        budget_usd=args.budget,
        used=args.used,
        prices=tuple(args.price),
        cpu_only=not args.no_cpu_only,
        limit=args.limit,
        prompt_tokens=args.prompt_tokens,
        region=args.region,
        usd_per_kwh=args.power_price,
        hours_per_day=args.hours_per_day,
        years=args.years,
    )
    work = None
    if args.tokens_in_per_day is not None or args.tokens_out_per_day is not None:
        work = Workload(
            tokens_in_per_day=args.tokens_in_per_day or 0.0, tokens_out_per_day=args.tokens_out_per_day or 0.0
        )
    try:
        answer = plan_purchase(
            req,
            workload=work,
            build_id=args.build,
            cloud=args.cloud,
            api_price=(args.api_in, args.api_out) if args.api_in is not None else None,
        )
    except SizingError as exc:
        if args.build and args.build in str(exc):
            raise SizingError(f"--build: {exc}") from None
        raise
    if args.json:
        print(answer.to_json())
        return 0
    _print(answer)
    return 0


def _calibration_cell(c) -> str:
    """The entry behind the speed, its rows (and its rows of the card's own architecture
    when the entry is a fallback), the rows on the card itself."""
    own = f", {c.family_decode_rows} {c.family}" if c.family else ""
    return f"{c.entry} {c.entry_decode_rows} rows{own}, {c.device_rows} on device" + (" WEAK" if c.weak else "")


def _print(result) -> None:
    print(result.message)
    rows = result.rows
    table = [
        (
            "#",
            "build",
            "price",
            "priced at",
            "tok/s",
            "at ctx",
            "$/M tok",
            "load W",
            "calibration",
            "why / short of target",
        )
    ]
    for o in rows:
        table.append(
            (
                str(o.rank),
                o.label,
                f"${o.price_usd:,.0f}",
                o.price_basis.split(": ", 1)[-1],
                "—" if o.decode_tokens_per_s is None else f"{o.decode_tokens_per_s:.1f}",
                "—" if o.decode_at_ctx_tokens_per_s is None else f"{o.decode_at_ctx_tokens_per_s:.1f}",
                "—" if o.usd_per_m_tokens is None else f"{o.usd_per_m_tokens:.2f}",
                f"{o.load_w:.0f}",
                _calibration_cell(o.calibration),
                o.why if result.options else (o.shortfall or ""),
            )
        )
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    print(
        "tok/s: decode with an empty cache, as public benchmarks report it; at ctx: decode averaged as the "
        "chosen context fills from the prompt (the slowest model's)"
    )
    for o in rows[:3]:
        print(f"\n#{o.rank} {o.label}  [build id: {o.build_id}]")
        for ln in o.lines:
            stale = "  (over 6 months old)" if ln["stale"] else ""
            weak = f"  (weak basis: {ln['weak_basis']})" if ln.get("weak_basis") else ""
            if ln.get("passed_over"):
                weak += f"  (chosen over a newer weak figure, {ln['passed_over']})"
            print(
                f"  {ln['qty']:g} × {ln['item']}: ${ln['usd']:,.0f} — {ln['kind']}, {ln['date']}{stale}, {ln['source']}"
                + weak
            )
        print(f"  speed basis: {o.speed_basis}")
        print(f"  calibration: {o.calibration.label}")
        for m in o.models:
            if m.llama_server:
                print(f"  launch ({m.model_id}): {m.llama_server}")
    for n in result.notes:
        print(f"note: {n}")
    cost = result.cost
    if cost:
        loc = cost.local
        print(f"\nbuy {cost.build_id}: ${loc.monthly_usd:,.2f}/month ({loc.basis})")
        for o, b in zip(cost.rent, cost.break_even):
            be = "never" if b.months is None else f"{b.months:.1f} months ({(b.tokens or 0) / 1e6:,.0f}M output tokens)"
            ref = " [reference only]" if o.reference_only else ""
            print(f"  rent {o.name}{ref}: ${o.monthly_usd:,.2f}/month ({o.basis}, {o.date}); break-even {be}")
