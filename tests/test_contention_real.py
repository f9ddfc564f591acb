"""A live check run while other processes hold every core is flagged and left out of this
machine's calibration (real llama.cpp run, real load recorder; no speed is asserted)."""

from __future__ import annotations

import multiprocessing
import os
import time

import pytest

from sizing.live.check import run_check

pytestmark = pytest.mark.live


def _burn(stop) -> None:
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


def test_a_run_under_a_cpu_burner_is_rejected_with_its_reason(smollm2_gguf, tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_SIZING_HOME", str(tmp_path / "home"))
    stop = multiprocessing.Event()
    burners = [multiprocessing.Process(target=_burn, args=(stop,), daemon=True) for _ in range(os.cpu_count() or 1)]
    for p in burners:
        p.start()
    time.sleep(0.5)
    try:
        r = run_check(
            str(smollm2_gguf),
            ctx=512,
            n_prompt=16,
            n_gen=4,
            n_threads=1,
            runner="embedded",
            timeout_s=240,
            data_directory=tmp_path / "home",
        )
    finally:
        stop.set()
        for p in burners:
            p.join(5)
            if p.is_alive():
                p.terminate()
    assert r.status == "ok", r.measured.message if r.measured else r.refused
    during = r.load["during"]
    assert during["others_busy_cores"] > 0.5  # the burners' time, not this run's
    v = r.verdict
    assert v is not None and not v.used and "machine busy" in v.reason
    # nothing was fitted from it: the calibration has no usable run, and says so
    assert r.calibration is not None and r.calibration.n_runs == 0
    from sizing.live.this_machine import machine_status

    status = machine_status(tmp_path / "home")
    runs = status["backends"]["cpu"]["runs"]
    assert [x["used"] for x in runs] == [False] and "machine busy" in runs[0]["reason"]
    assert status["backends"]["cpu"]["detail"] == "no usable run"
