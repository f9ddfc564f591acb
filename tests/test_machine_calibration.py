"""This machine's calibration reaches the speed estimate.

A real live check (SmolLM2-135M through the embedded llama.cpp) is stored in a temporary
``LLM_SIZING_HOME`` by the real runner and store; ``estimate``/``fit --hardware this``
must then use the factors fitted to it and say so. Without stored runs they name the
public calibration. The pure step (``calibrate_hardware``) is checked on its own too.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest


from sizing.core.speed.calibration import load_calibration
from sizing.core.speed.estimate import kernel_table_base, kernel_table_full_name
from sizing.cli import main
from sizing.live.calibrate import MachineFactors
from sizing.core.speed.machine import MachineCalibration, calibrate_hardware
from sizing.core.machine import DEFAULT_HOST, custom_machine

CTX = 512


def _estimate(capsys, model: str) -> dict:
    assert main(["estimate", "--model", model, "--ctx", str(CTX), "--hardware", "this", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def stored_run(smollm2_gguf, tmp_path_factory):
    """One real check of SmolLM2 at CTX, stored where LLM_SIZING_HOME points."""
    from sizing.live.check import run_check

    home = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setenv("LLM_SIZING_HOME", str(home))
    from conftest import _QuietLoad

    mp.setattr("sizing.live.check.LoadMonitor", _QuietLoad)
    try:
        result = run_check(str(smollm2_gguf), ctx=CTX, n_prompt=64, n_gen=32, timeout_s=180)
    finally:
        mp.undo()
    assert result.status == "ok", result.measured.message
    assert result.stored_in is not None
    return home, result


@pytest.mark.live
def test_estimate_on_this_machine_uses_its_stored_runs(capsys, monkeypatch, tmp_path, smollm2_gguf, stored_run):
    home, result = stored_run
    monkeypatch.setenv("LLM_SIZING_HOME", str(tmp_path / "empty"))
    public = _estimate(capsys, str(smollm2_gguf))
    assert "this machine" not in public["speed_calibration"]
    assert public["speed_calibration"].startswith(load_calibration().name)
    assert public["basis"][-1]["source"].startswith("fit to public llama-bench results")
    assert "refitted" not in public["basis"][-1]["source"] and public["basis"][-1]["measured"] is False

    monkeypatch.setenv("LLM_SIZING_HOME", str(home))
    mine = _estimate(capsys, str(smollm2_gguf))
    today = datetime.now(UTC).date().isoformat()
    assert f"this machine: 1 run, last on {today}" in mine["speed_calibration"]
    speed_basis = mine["basis"][-1]
    assert "this machine" in speed_basis["calibration"] and speed_basis["measured"] is True
    assert speed_basis["source"].endswith("refitted to 1 live check stored on this machine")
    # One small-model run describes the per-token overhead, not the bandwidth (a 135M model
    # is not bandwidth-bound): a run slower than its bytes at the published bandwidth is
    # explained by its overhead, so the same scenario is now predicted as llama.cpp measured
    # it. A run faster than even those bytes (a core that streams faster than the public
    # rows' ones) fits no line through that bandwidth: its measured ÷ predicted ratio then
    # scales the whole step, and the calibration names that factor.
    # The estimate is for an empty cache; the run decoded at depth 80, where each token also
    # attended over the cache (its own part of the step, at the default attention rate: one
    # depth fits no rate of this machine's), so that part is taken off the measured step;
    # and the run was a server's, which sampled each token over the vocabulary on the host,
    # a part llama-bench's rows (and so the estimate's graph step) leave out.
    attention = result.estimate["predicted_decode_attention_s"]
    sampling = result.estimate["predicted_decode_sampling_s"]
    assert attention > 0 and sampling > 0
    public_tps = public["decode_tokens_per_s"]["expected"]
    expected = mine["decode_tokens_per_s"]["expected"]
    if "effective bandwidth" in mine["speed_calibration"]:
        assert "no bandwidth-bound run yet" in mine["speed_calibration"]
        measured = 1 / (1 / result.measured.decode_tokens_per_s - attention - sampling)
        assert expected == pytest.approx(measured, rel=0.03)
    else:
        step = 1 / result.estimate["predicted_decode_tokens_per_s"] - sampling
        ratio = step / (1 / result.measured.decode_tokens_per_s - sampling)
        assert ratio > 1 and f"bandwidth ×{ratio:.2f}" in mine["speed_calibration"]
        assert expected == pytest.approx(public_tps * ratio, rel=1e-3)  # both printed to 0.01 tok/s
    # memory does not depend on the calibration
    assert mine["total_bytes"] == public["total_bytes"]


@pytest.mark.live
def test_fit_on_this_machine_names_the_calibration(capsys, monkeypatch, tmp_path, stored_run):
    home, _ = stored_run
    for env, expect in ((str(home), True), (str(tmp_path / "empty"), False)):
        monkeypatch.setenv("LLM_SIZING_HOME", env)
        assert main(["fit", "--model", "smollm2-135m", "--ctx", str(CTX), "--hardware", "this", "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert ("this machine: 1 run" in out["calibration"]) is expect
        assert out["calibration"].startswith(load_calibration().name)


def _factors(backend: str) -> MachineCalibration:
    return MachineCalibration(
        backend=backend,
        n_runs=3,
        last_run="2026-01-02",
        factors=MachineFactors(bandwidth_factor=0.5, compute_factor=2.0, n_decode=3, n_prefill=3),
    )


def test_factors_apply_only_to_devices_of_their_backend():
    calib = load_calibration()
    hw = custom_machine(memory_gb=24, bandwidth_gbs=1000, backend="cuda", host=DEFAULT_HOST)
    # CPU runs: the host is recalibrated, the GPU keeps its datasheet rate
    new_hw, new_calib = calibrate_hardware(hw, calib, _factors("cpu"))
    assert new_hw.gpus[0].bandwidth_gbs == hw.gpus[0].bandwidth_gbs
    assert new_hw.host.bandwidth_gbs == pytest.approx(hw.host.bandwidth_gbs * 0.5)
    assert new_calib.get("cuda") == calib.get("cuda")
    assert new_calib.get("cpu").decode_overhead_ms == pytest.approx(calib.get("cpu").decode_overhead_ms / 0.5)
    assert "this machine: 3 runs, last on 2026-01-02" in new_calib.name
    assert new_calib.machine == "3 live checks stored on this machine" and calib.machine is None
    # runs with a backend this hardware does not use change nothing, and say nothing
    same_hw, same_calib = calibrate_hardware(hw, calib, _factors("metal"))
    assert same_hw == hw and same_calib is calib
    assert calibrate_hardware(hw, calib, None) == (hw, calib)


def _store_alone(record: dict, tmp_path, monkeypatch) -> None:
    """A fresh run store holding this one record, where LLM_SIZING_HOME now points."""
    home = tmp_path / f"home-{len(list(tmp_path.iterdir()))}"
    home.mkdir()
    (home / "live_runs.jsonl").write_text(json.dumps(record) + "\n")
    monkeypatch.setenv("LLM_SIZING_HOME", str(home))


@pytest.mark.live
def test_a_run_predicted_at_another_cpu_clock_is_left_out_and_says_why(capsys, monkeypatch, tmp_path, stored_run):
    """A run stored by a release that counted this CPU at another clock (a VM's nominal one,
    before its generation's boost clock was known) holds that clock in its measured ÷
    predicted: today's prediction, at today's clock, would count the change twice."""
    home, result = stored_run
    runs = (home / "live_runs.jsonl").read_text().splitlines()
    assert len(runs) == 1
    record = json.loads(runs[0])
    today = record["hardware"]["clock_ghz"]
    if today is None:
        pytest.skip("this OS states no CPU clock: predictions here count none")
    assert record["hardware"]["clock_stated_ghz"] is not None

    def calibration_with(hardware: dict) -> tuple[dict, dict]:
        _store_alone({**record, "hardware": hardware}, tmp_path, monkeypatch)
        assert main(["calibrate", "--list", "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)["backends"]["cpu"]
        assert main(["estimate", "--model", "smollm2-135m", "--ctx", str(CTX), "--hardware", "this", "--json"]) == 0
        return listed, json.loads(capsys.readouterr().out)

    # as stored today: it calibrates
    listed, est = calibration_with(record["hardware"])
    assert [r["used"] for r in listed["runs"]] == [True]
    assert "this machine: 1 run" in est["speed_calibration"]

    # stored as if predicted at seven tenths of today's clock: left out, the reason named
    listed, est = calibration_with({**record["hardware"], "clock_ghz": round(today * 0.7, 3)})
    (run,) = listed["runs"]
    assert run["used"] is False
    assert f"{today * 0.7:.2f} GHz" in run["reason"] and f"{today:.2f} GHz" in run["reason"]
    assert "this machine" not in est["speed_calibration"]

    # stored before runs recorded their clock: it counted the clock the OS states, which
    # calibrates only where that is still the clock counted
    older = {k: v for k, v in record["hardware"].items() if k not in ("clock_ghz", "clock_stated_ghz")}
    listed, est = calibration_with(older)
    same = abs(record["hardware"]["clock_stated_ghz"] / today - 1) <= 0.01
    assert [r["used"] for r in listed["runs"]] == [same]
    assert ("this machine: 1 run" in est["speed_calibration"]) is same


@pytest.mark.live
def test_a_runs_decode_weighed_with_another_cpu_kernel_table_is_left_out_and_says_why(
    capsys, monkeypatch, tmp_path, stored_run
):
    """A CPU run's decode bytes are weighed at the per-type speeds its prediction took (an
    Intel core's measured table, or the default Zen 4 one): a run stored with another table
    than today's, or before runs recorded one (the default), would fit another decode line.
    Its decode is left out with the reason; its prompt speed, which no table weighs, still
    calibrates. A value that is not a table's name is ignored, never a crash."""
    home, _ = stored_run
    (line,) = (home / "live_runs.jsonl").read_text().splitlines()
    record = json.loads(line)
    today = record["estimate"]["predicted_decode_kernel_table"]
    assert today == load_calibration().get("cpu").decode_table_name(record["hardware"]["cpu_vendor"])
    assert record["measured"]["prefill_tokens_per_s"] and record["estimate"]["predicted_prefill_tokens_per_s"]

    def listed_with(estimate: dict) -> dict:
        _store_alone({**record, "estimate": estimate}, tmp_path, monkeypatch)
        assert main(["calibrate", "--list", "--json"]) == 0
        backend = json.loads(capsys.readouterr().out)["backends"]["cpu"]
        (run,) = backend["runs"]
        return {
            **run,
            "n_decode": (backend["factors"] or {}).get("n_decode"),
            "n_prefill": (backend["factors"] or {}).get("n_prefill"),
        }

    same = listed_with(record["estimate"])
    assert same["used"] is True and same["reason"] == "" and same["n_decode"] == 1 and same["n_prefill"] == 1
    base = kernel_table_base(today)
    other = "GenuineIntel" if base == "default" else "default"
    run = listed_with({**record["estimate"], "predicted_decode_kernel_table": other})
    assert run["used"] is True and "decode left out" in run["reason"]
    assert other in run["reason"] and base in run["reason"]
    assert run["n_decode"] == 0 and run["n_prefill"] == 1
    # the same maker's table, measured again since: its speeds differ, so its digest does
    run = listed_with({**record["estimate"], "predicted_decode_kernel_table": f"{base}#000000"})
    assert "decode left out" in run["reason"] and "earlier measurement" in run["reason"] and today in run["reason"]
    assert run["n_decode"] == 0 and run["n_prefill"] == 1
    # stored before names carried a digest: the bare name is its table as it stood then, which
    # still calibrates only if it is today's (the default one is; the Intel one has gained Q4_K)
    same_then = kernel_table_full_name(base) == today
    assert listed_with({**record["estimate"], "predicted_decode_kernel_table": base})["n_decode"] == int(same_then)
    older = {k: v for k, v in record["estimate"].items() if k != "predicted_decode_kernel_table"}
    assert listed_with(older)["n_decode"] == int(kernel_table_full_name("default") == today)
    # a hand-edited store: the value is not a name; the run is read, not a traceback
    assert listed_with({**record["estimate"], "predicted_decode_kernel_table": 7})["used"] is True
