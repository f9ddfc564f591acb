"""Every printed llama-server command allocates what we estimated.

Each case estimates a scenario, prints its llama-server command (sizing.commands), reads
that command line back the way llama-server reads it (sizing.live.server_args: its flags
and defaults), loads the model in the embedded llama.cpp with exactly those settings and
holds each part of llama.cpp's allocation to the estimate's claimed accuracy. The model is
the real Gemma-3-270M file (sliding window 512 on 5 of 6 layers, Q4_K repacked on CPU),
so parallel slots change the windowed cache. A command without ``-np`` (what we used to
print) is measured too: llama-server's 4 auto slots then allocate more than estimated.
"""

from __future__ import annotations

import shlex

import pytest

from sizing.answer import answer_for
from sizing.estimate import estimate
from sizing.live.probe import probe_many
from sizing.live.server_args import probe_config, read_server_argv
from harness.truth_cases import compare
from sizing.core.machine import cpu_hardware
from sizing.units import GIB

CASES = {
    "32K, 1 slot": dict(ctx=32768),
    "32K, 4 slots, unified cache": dict(ctx=32768, parallel=4),
    "16K, 2 slots, a stream each": dict(ctx=16384, parallel=2, kv_unified=False),
    "8K, q8_0 cache, -ub 256": dict(ctx=8192, kv_type="q8_0", ubatch=256),
    "8K, --no-repack": dict(ctx=8192, repack=False),
    "8K, --no-mmap": dict(ctx=8192, mmap=False),
}


def _command(path, kw) -> tuple[object, list[str]]:
    est = estimate(str(path), None, **kw)
    hw = cpu_hardware("test host", ram_bytes=64 * GIB, bandwidth_gbs=60.0, threads=4)
    ans = answer_for(est, hw)
    assert ans.commands is not None
    return est, shlex.split(ans.commands.llama_server)


@pytest.mark.live
def test_printed_llama_server_commands_allocate_the_estimate(gemma3_gguf):
    runs = [(name, *_command(gemma3_gguf, kw)) for name, kw in CASES.items()]
    settings = [read_server_argv(argv) for _, _, argv in runs]
    for s, (name, est, argv) in zip(settings, runs):
        assert s["n_parallel"] == est.n_parallel and s["ctx"] == est.ctx, (name, argv)
    # what we printed before: no -np, so llama-server's auto slots (4, unified)
    old = [a for a in runs[0][2] if a not in ("-np", "1")]
    configs = [probe_config(s) for s in settings] + [probe_config(read_server_argv(old))]
    measured = probe_many(gemma3_gguf, configs, timeout_s=300)
    bad = []
    for (name, est, argv), meas in zip(runs, measured):
        for c in compare(est.memory, meas):
            if not c.ok:
                bad.append(
                    f"{name}: {c.part} est {c.estimate:,} llama.cpp {c.measured:,} ({c.error:+.2%}) "
                    f"[{shlex.join(argv)}]"
                )
    assert not bad, "\n".join(bad)
    # the no-mmap run holds the weights in a plain CPU buffer, the no-repack run makes no copy
    assert "CPU_REPACK" not in measured[4].model_buffers and "CPU_Mapped" not in measured[5].model_buffers
    # and without -np the windowed cache is llama-server's 4 slots', not the one we estimated
    est_swa = sum(p.bytes for p in runs[0][1].memory.kv.parts if p.kind == "swa")
    old_swa = sum(c.bytes for c in measured[-1].kv_caches if c.kind == "swa")
    assert old_swa >= 2 * est_swa  # 4 windows + a micro-batch of cells, not 1
    assert measured[-1].kv_cache_bytes - runs[0][1].memory.kv_cache_bytes > 0.1 * measured[-1].kv_cache_bytes


def test_reading_a_command_line_follows_llama_server():
    s = read_server_argv(["llama-server", "-m", "a.gguf", "-c", "8192"])
    assert (s["n_parallel"], s["kv_unified"], s["flash_attn"]) == (4, True, None)  # the server's auto
    s = read_server_argv(
        shlex.split("llama-server -m a.gguf -c 8192 -np 2 -ctk q8_0 -ctv q8_0 -fa on --load-mode none")
    )
    assert (s["n_parallel"], s["kv_unified"], s["kv_type_k"], s["flash_attn"], s["mmap"]) == (
        2,
        False,
        "q8_0",
        True,
        False,
    )
    from sizing.errors import SizingError

    with pytest.raises(SizingError, match="--frobnicate"):
        read_server_argv(["llama-server", "--frobnicate"])
