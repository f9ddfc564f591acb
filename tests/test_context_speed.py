"""Speed at the chosen context: decode as the cache fills, time to first token for the
user's prompt (default a quarter of the context), in the core, the CLI text and JSON."""

from __future__ import annotations

import json

import pytest

from sizing.core.speed.calibration import load_calibration
from sizing.cli import main
from sizing.core.speed.context import DEFAULT_PROMPT_SHARE, context_speed
from sizing.errors import SizingError
from sizing.estimate import estimate
from sizing.core.quant import apply_recipe
from sizing.core.speed.estimate import decode_step_seconds
from sizing.core.tensors import tensors_for
from sizing.core.traffic import DeviceRate, model_traffic, single_device_work

GPU = DeviceRate(name="test GPU", kind="gpu", backend="cuda", bandwidth_gbs=1008, matmul_tflops=165)


def _works(model: str, quant: str = "Q4_K_M"):
    est = estimate(model, quant, 4096, offline=True)
    arch = est.scenario.model
    tr = model_traffic(arch, apply_recipe(arch, tensors_for(arch), quant))
    return [single_device_work(tr, GPU)]


def test_decode_slows_as_the_cache_fills_and_the_mean_lies_between():
    works = _works("meta-llama/Llama-3.1-8B-Instruct")
    cal = load_calibration()
    cs = context_speed(works, cal, ctx=32768)
    empty = 1 / decode_step_seconds(works, cal, depth=0)[0]
    assert cs.prompt_tokens == int(32768 * DEFAULT_PROMPT_SHARE) and "quarter" in cs.prompt_basis
    assert cs.decode_full.expected < cs.decode_mean.expected < empty
    # the KV read grows linearly with depth, so the time-averaged step is the step at the middle
    mid = (cs.prompt_tokens + 32767) / 2
    assert 1 / cs.decode_mean.expected == pytest.approx(decode_step_seconds(works, cal, depth=int(mid))[0], rel=1e-3)
    depths = [p.depth for p in cs.curve]
    assert depths[0] == 0 and depths[-1] == 32768 and depths == sorted(depths)
    speeds = [p.decode_tokens_per_s for p in cs.curve]
    ttfts = [p.ttft_s for p in cs.curve]
    assert speeds == sorted(speeds, reverse=True) and ttfts == sorted(ttfts)


def test_a_longer_prompt_takes_longer_and_sliding_windows_cap_the_slowdown():
    cal = load_calibration()
    works = _works("meta-llama/Llama-3.1-8B-Instruct")
    short = context_speed(works, cal, ctx=32768, prompt_tokens=1024)
    long = context_speed(works, cal, ctx=32768, prompt_tokens=16384)
    assert long.ttft_s.expected > 8 * short.ttft_s.expected and short.prompt_basis == "set: 1,024 tokens"
    assert long.ttft_s.low <= long.ttft_s.expected <= long.ttft_s.high
    # Gemma 3: five of six layers attend to a 1k window: full-context decode drops far less
    g = _works("google/gemma-3-4b-it")
    gs = context_speed(g, cal, ctx=32768)
    ls = context_speed(_works("meta-llama/Llama-3.2-3B-Instruct"), cal, ctx=32768)
    g_drop = gs.decode_full.expected / gs.curve[0].decode_tokens_per_s
    l_drop = ls.decode_full.expected / ls.curve[0].decode_tokens_per_s
    assert g_drop > l_drop


@pytest.mark.parametrize("prompt", [0, -5, 40000])
def test_a_prompt_outside_the_context_is_refused(prompt):
    with pytest.raises(SizingError, match="prompt tokens must be 1 to the context"):
        context_speed(_works("Qwen/Qwen2.5-0.5B-Instruct"), load_calibration(), ctx=32768, prompt_tokens=prompt)


def test_cli_prints_and_serialises_the_speed_at_context(capsys):
    args = [
        "estimate",
        "--model",
        "meta-llama/Llama-3.1-8B-Instruct",
        "--quant",
        "Q4_K_M",
        "--ctx",
        "16384",
        "--gpu",
        "RTX 4090",
        "--offline",
    ]
    assert main([*args, "--json", "--context-prompt", "6000"]) == 0
    j = json.loads(capsys.readouterr().out)["at_context"]
    assert j["ctx"] == 16384 and j["prompt_tokens"] == 6000 and j["prompt_basis"] == "set: 6,000 tokens"
    assert j["decode_full"]["expected"] < j["decode_mean"]["expected"]
    assert j["curve"][-1]["depth"] == 16384 and j["ttft_s"]["expected"] > 0
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "at your context (16,384 tokens; prompt default: a quarter of the context (4,096 of 16,384 tokens))" in out
    assert main([*args, "--context-prompt", "20000"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--context-prompt: prompt tokens must be 1 to --ctx (16384)" in err
