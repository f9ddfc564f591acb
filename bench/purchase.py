#!/usr/bin/env python3
"""Top builds for the models buyers ask about most, at 32K context; prints them.

    .venv/bin/python bench/purchase.py [--used] [--ctx 32768] [--top 5]

For Qwen3-30B-A3B, gpt-oss-120b, Llama-3.3-70B and Qwen3-235B-A22B it prints, per
objective (cheapest that reaches a usable speed, lowest cost per million tokens, fastest
within a budget), the top builds: each physically buildable (slots, lanes, PSU), priced
whole (platform + RAM + cards, or a complete system as sold) with the kind and date of
every price, its predicted decode speed and the calibration behind it, why it ranks there,
and what the build's notes say (PCIe lanes, cooling, PSU, idle-power estimates). Figures, not
assertions: the maintainers hold them against public build reports.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sizing.plan import PlanRequest, plan_purchase
from sizing.sources.catalog import load_catalog

MODELS = {
    "Qwen/Qwen3-30B-A3B": 30.0,
    "openai/gpt-oss-120b": 20.0,
    "meta-llama/Llama-3.3-70B-Instruct": 10.0,
    "Qwen/Qwen3-235B-A22B": 5.0,
}
FASTEST_BUDGET = 10_000.0
# notes every multi-card row carries, left out of the printout to keep the telling ones visible
GENERIC_NOTES = ("card width is not in the data",)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--used", action="store_true", help="allow cited used prices")
    ap.add_argument("--ctx", type=int, default=32768)
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("--quant", default="Q4_K_M")
    ap.add_argument("--region", default="EU")
    a = ap.parse_args()
    today = dt.date.today()
    cat = load_catalog()
    print(
        f"purchase bench: ctx {a.ctx}, {a.quant}, {'used allowed' if a.used else 'new only'}, "
        f"{a.region} electricity, 8 h/day, 3 years, today {today}"
    )
    for mid, target in MODELS.items():
        t0 = time.perf_counter()
        for objective, kw in (
            ("cheapest", {"target_tps": target}),
            ("cost-per-token", {"target_tps": target}),
            ("fastest", {"budget_usd": FASTEST_BUDGET}),
        ):
            req = PlanRequest(
                models=(mid,),
                quant=a.quant,
                ctx=a.ctx,
                objective=objective,
                used=a.used,
                limit=a.top,
                region=a.region,
                hours_per_day=8,
                years=3,
                **kw,
            )
            r = plan_purchase(req, resolve=cat.get, today=today)
            cond = f"≥ {target:g} tok/s" if "target_tps" in kw else f"≤ ${FASTEST_BUDGET:,.0f}"
            print(f"\n== {mid} — {objective} ({cond}) — {r.message}")
            print(
                f"   {r.considered} builds placed, {r.refused_physically} card/platform/count combinations "
                f"refused as not physically buildable; electricity {r.usd_per_kwh:.3f} USD/kWh"
            )
            for o in r.rows:
                kinds = "/".join(sorted({ln["kind"] for ln in o.lines}))
                tps = "—" if o.decode_tokens_per_s is None else f"{o.decode_tokens_per_s:6.1f}"
                cpm = "—" if o.usd_per_m_tokens is None else f"${o.usd_per_m_tokens:.2f}/M"
                weak = "  [WEAK calibration]" if o.calibration.weak else ""
                weak += "  [WEAK price]" if any(ln.get("weak_basis") for ln in o.lines) else ""
                print(f"  {o.rank}. ${o.price_usd:>8,.0f}  {tps} tok/s  {cpm:>9}  {o.label}{weak}")
                if o.decode_at_ctx_tokens_per_s:
                    print(
                        f"       decode as the {a.ctx:,}-token context fills: {o.decode_at_ctx_tokens_per_s:.1f} tok/s"
                    )
                print(f"       prices: {kinds}, oldest {o.oldest_price}; load {o.load_w:.0f} W, idle {o.idle_w:.0f} W")
                print(f"       priced at: {o.price_basis}")
                print(f"       speed: {o.speed_basis}")
                print(f"       calibration: {o.calibration.label}")
                print(f"       why: {o.why}")
                for n in o.notes:
                    if not n.startswith(GENERIC_NOTES):
                        print(f"       note: {n}")
                if not r.options:
                    print(f"       short: {o.shortfall}")
        print(f"   ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
