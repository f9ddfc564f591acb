#!/usr/bin/env python3
"""Top builds for the models buyers ask about most, at 32K context; prints them.

    .venv/bin/python bench/purchase.py [--used] [--ctx 32768] [--top 5]

For Qwen3-30B-A3B, gpt-oss-120b, Llama-3.3-70B and Qwen3-235B-A22B it prints, per
objective (cheapest that reaches a usable speed, lowest cost per million tokens, fastest
within a budget), the top builds: each physically buildable (slots, lanes, PSU), priced
whole (platform + RAM + cards, or a complete system as sold) with the kind and date of
every price, its predicted decode speed and the calibration behind it. Figures, not
assertions: the maintainers hold them against public build reports.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sizing.core.builds import all_builds
from sizing.core.cloud import electricity
from sizing.core.prices import PriceOverrides
from sizing.core.purchase import Usage, memory_need, offload_ram_sizer, plan
from sizing.core.speed.calibration import load_calibration
from sizing.core.speed.coverage import bench_coverage
from sizing.hardware.db import load_gpus
from sizing.sources.catalog import load_catalog

MODELS = {
    "Qwen/Qwen3-30B-A3B": 30.0,
    "openai/gpt-oss-120b": 20.0,
    "meta-llama/Llama-3.3-70B-Instruct": 10.0,
    "Qwen/Qwen3-235B-A22B": 5.0,
}
FASTEST_BUDGET = 10_000.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--used", action="store_true", help="allow cited used prices")
    ap.add_argument("--ctx", type=int, default=32768)
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("--quant", default="Q4_K_M")
    ap.add_argument("--region", default="EU")
    a = ap.parse_args()
    today = dt.date.today()
    gpus, cat, calib, coverage = load_gpus().all, load_catalog(), load_calibration(), bench_coverage()
    usage = Usage(years=3, hours_per_day=8, usd_per_kwh=electricity().usd_per_kwh(a.region))
    print(f"purchase bench: ctx {a.ctx}, {a.quant}, {'used allowed' if a.used else 'new only'}, "
          f"{a.region} electricity {usage.usd_per_kwh:.3f} USD/kWh, 8 h/day, 3 years, today {today}")
    for mid, target in MODELS.items():
        arch = cat.get(mid)
        t0 = time.perf_counter()
        need = memory_need([arch], a.quant, a.ctx, calib)
        builds, refused = all_builds(gpus, used=a.used, overrides=PriceOverrides(), today=today,
                                     ram_need_gb=need.cpu_ram_gib, offload=arch.is_moe,
                                     model_gb=need.core_gib, ram_for=offload_ram_sizer([arch], a.quant, a.ctx, calib))
        for objective, kw in (("cheapest", {"target_tps": target}), ("cost-per-token", {"target_tps": target}),
                              ("fastest", {"budget_usd": FASTEST_BUDGET})):
            r = plan([arch], builds, quant=a.quant, ctx=a.ctx, calib=calib, coverage=coverage, today=today,
                     objective=objective, usage=usage, limit=a.top, refused_physically=refused,
                     core_gib=need.core_gib, **kw)
            cond = f"≥ {target:g} tok/s" if "target_tps" in kw else f"≤ ${FASTEST_BUDGET:,.0f}"
            print(f"\n== {mid} — {objective} ({cond}) — {r.message}")
            print(f"   {r.considered} builds placed, {r.refused_physically} card/platform/count combinations "
                  f"refused as not physically buildable")
            for o in r.options or r.closest:
                kinds = "/".join(sorted({ln['kind'] for ln in o.lines}))
                tps = "—" if o.decode_tokens_per_s is None else f"{o.decode_tokens_per_s:6.1f}"
                cpm = "—" if o.usd_per_m_tokens is None else f"${o.usd_per_m_tokens:.2f}/M"
                print(f"  {o.rank}. ${o.price_usd:>8,.0f}  {tps} tok/s  {cpm:>9}  {o.label}")
                print(f"       prices: {kinds}, oldest {o.oldest_price}; speed: {o.calibration.label}")
                if not r.options:
                    print(f"       short: {o.shortfall}")
        print(f"   ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
