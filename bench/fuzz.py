"""Fuzz counts: many generated GGUF headers, query strings and CLI flags (Hypothesis).

    .venv/bin/python bench/fuzz.py [--headers N] [--queries N] [--cli N] [--seed S]

The same strategies and checks as tests/test_fuzz.py (tests/fuzz_cases.py), with many
more examples. Prints, per surface: runs, outcomes, tracebacks (any failure other than
one clear refusal) and hangs (a case past its budget of CPU time, so that a loaded
machine does not count as a hang: 5 s for a header or a CLI run, 20 s for `fit` over
the whole catalog, 60 s for a page). Target: 0 tracebacks, 0 hangs. Failing cases are
printed.
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.pop("LLM_SIZING_WEB_MODE", None)

from fuzz_cases import check_cli, check_header, check_query, cli_flags, gguf_headers, query_strings  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang()


def run(name: str, strategy, check, n: int, budget_s: float, seed: int) -> dict:
    counts = collections.Counter()
    failures: list[str] = []
    slowest = [0.0]

    @settings(max_examples=n, deadline=None, database=None, derandomize=False, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def one(case):
        counts["runs"] += 1
        start = time.perf_counter()
        signal.setitimer(signal.ITIMER_PROF, budget_s)
        try:
            counts[check(case)] += 1
        except Hang:
            counts["hangs"] += 1
            failures.append(f"HANG {case!r:.300}")
        except BaseException:
            counts["tracebacks"] += 1
            failures.append(f"{case!r:.300}\n{traceback.format_exc(limit=6)}")
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
            slowest[0] = max(slowest[0], time.perf_counter() - start)

    signal.signal(signal.SIGPROF, _alarm)
    t0 = time.perf_counter()
    import random

    random.seed(seed)
    one()
    counts.setdefault("tracebacks", 0)
    counts.setdefault("hangs", 0)
    print(
        f"{name:10s} runs {counts['runs']:5d}  tracebacks {counts['tracebacks']}  hangs {counts['hangs']}  "
        f"slowest {slowest[0]:.2f} s  total {time.perf_counter() - t0:.0f} s  "
        + "  ".join(f"{k}: {v}" for k, v in sorted(counts.items()) if k not in ("runs", "tracebacks", "hangs"))
    )
    for f in failures[:5]:
        print("  ", f.replace("\n", "\n   "))
    return counts


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--headers", type=int, default=5000)
    p.add_argument("--queries", type=int, default=150)
    p.add_argument("--cli", type=int, default=400, help="per subcommand (estimate, finetune, gpus, fit)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    total = collections.Counter()
    total += run("headers", gguf_headers(), check_header, a.headers, 5.0, a.seed)
    if a.queries:
        total += run("queries", query_strings, check_query, a.queries, 60.0, a.seed)
    for cmd in ("estimate", "finetune", "gpus", "fit") if a.cli else ():
        total += run(f"cli {cmd}", cli_flags(cmd), check_cli, a.cli, 20.0 if cmd == "fit" else 5.0, a.seed)
    print(f"{'all':10s} runs {total['runs']:5d}  tracebacks {total['tracebacks']}  hangs {total['hangs']}")
    return 1 if total["tracebacks"] or total["hangs"] else 0


if __name__ == "__main__":
    sys.exit(main())
