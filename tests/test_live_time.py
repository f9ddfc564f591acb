"""The expected time of a live check, said before it starts, from the estimator's speeds."""

from __future__ import annotations

from sizing.core.live_time import check_time, repeated_time


def _speed():
    from sizing.core import solver
    from sizing.core.speed.calibration import load_calibration
    from sizing.hardware.this_machine import detect_hardware
    from sizing.sources.catalog import load_catalog

    arch = load_catalog().get("HuggingFaceTB/SmolLM2-135M-Instruct")
    plan = solver.solve(arch, "Q4_1", 2048, detect_hardware(), load_calibration(), prompt_tokens=64)
    assert plan.speed is not None
    return plan.speed


def test_a_check_takes_its_tokens_at_the_predicted_speeds_after_loading_its_file():
    sp = _speed()
    small = check_time(0, 64, 32, sp)
    longer = check_time(0, 64, 320, sp)
    from_disk = check_time(2e9, 64, 32, sp)
    # ten times the generated tokens at the same decode speed
    assert abs((longer.run_s - small.run_s) - 288 / sp.decode_tokens_per_s.expected) < 1e-9
    # a synthetic file (a sparse hole) reads nothing; 2 GB from disk takes longer to load
    assert from_disk.load_s > small.load_s and from_disk.run_s == small.run_s
    assert small.total_s == small.load_s + small.run_s
    assert "64 prompt + 32 generated tokens" in small.basis


def test_a_memory_only_check_says_so():
    t = check_time(1e9, 0, 0, _speed())
    assert t.run_s == 0 and "memory only" in t.basis


def test_a_plan_has_a_time_only_when_every_run_has_one():
    assert repeated_time([10.0, 5.0], 3) == 45.0
    assert repeated_time([10.0, None], 3) is None
    assert repeated_time([], 3) is None
