"""`calibrate --measure`: which runs calibrate which factor (no run is started here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sizing.errors import SizingError
from sizing.live.calibrate import ATTENTION_SPREAD, BANDWIDTH_BOUND_BYTES
from sizing.live.measure_machine import CTX, RAM_SHARE, bandwidth_model, calibration_plan

GIB = 1 << 30


def test_the_bandwidth_run_is_bandwidth_bound_and_fits_the_ram():
    run = bandwidth_model(16 * GIB)
    assert run.synthetic and run.regime == "bandwidth"
    assert run.read_bytes >= BANDWIDTH_BOUND_BYTES
    assert run.memory_bytes <= RAM_SHARE * 16 * GIB
    # the smallest candidate that qualifies: more RAM does not make the run longer
    assert bandwidth_model(200 * GIB) == run


def test_too_little_ram_says_so_and_keeps_the_published_bandwidth():
    with pytest.raises(SizingError, match="bandwidth stays as published"):
        bandwidth_model(2 * GIB)


def test_plan_pairs_small_real_models_with_one_bandwidth_run(smollm2_gguf):
    plan = calibration_plan(16 * GIB, [Path(smollm2_gguf)])
    assert [p.regime for p in plan] == ["overhead", "attention", "bandwidth"]
    assert not plan[0].synthetic and plan[0].model == str(smollm2_gguf)
    # the attention run is the same file after a long prompt: two depths of one model, far
    # enough apart that the fit can take an attention rate from them
    deep = plan[1]
    assert deep.model == plan[0].model and deep.n_gen == plan[0].n_gen
    shallow_cells, deep_cells = plan[0].n_prompt + plan[0].n_gen / 2, deep.n_prompt + deep.n_gen / 2
    assert deep_cells >= ATTENTION_SPREAD * shallow_cells and deep.n_prompt + deep.n_gen < CTX


def test_cli_rejects_bad_repeats_in_one_line(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "sizing", "calibrate", "--measure", "--repeats", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "LLM_SIZING_HOME": str(tmp_path)},
    )
    assert r.returncode == 2 and "--repeats must be 1 to 10" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
