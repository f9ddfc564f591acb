"""Comparison, machine calibration fed into the real speed model, and the run store."""

from __future__ import annotations

import json

import pytest

from sizing.estimate import estimate
from sizing.live import calibrate, store
from sizing.live.check import predict_speed
from sizing.core.traffic import DeviceRate


def test_compare_puts_output_buffer_into_compute_and_flags_tolerance():
    est = {"weights_bytes": 1000, "kv_cache_bytes": 500, "compute_bytes": 330, "decode_tokens_per_s": 12.0}
    meas = {"weights_bytes": 1000, "kv_cache_bytes": 400, "compute_bytes": 290, "output_bytes": 10,
            "decode_tokens_per_s": 10.0, "prefill_tokens_per_s": None}
    rows = {r.part: r for r in calibrate.compare(est, meas, {"weights_bytes": 0.01, "kv_cache_bytes": 0.01,
                                                             "compute_bytes": 0.15})}
    assert rows["weights_bytes"].rel_error == 0 and rows["weights_bytes"].within
    assert rows["kv_cache_bytes"].rel_error == pytest.approx(0.25) and rows["kv_cache_bytes"].within is False
    assert rows["compute_bytes"].measured == 300 and rows["compute_bytes"].rel_error == pytest.approx(0.1)
    assert rows["decode_tokens_per_s"].rel_error == pytest.approx(0.2)
    assert rows["decode_tokens_per_s"].within is None  # speeds have no memory tolerance
    assert "prefill_tokens_per_s" not in rows  # neither estimated nor measured


def test_missing_measurements_give_no_error_not_a_crash():
    rows = calibrate.compare({"weights_bytes": 10}, {"weights_bytes": None})
    assert all(r.rel_error is None for r in rows)


def _samples(ratios_decode, ratios_prefill):
    return [
        calibrate.SpeedSample(predicted_decode=p, measured_decode=p * rd, predicted_prefill=10 * p,
                              measured_prefill=10 * p * rp)
        for p, rd, rp in zip((20.0, 35.0, 50.0, 80.0), ratios_decode, ratios_prefill)
    ]


def test_a_consistent_machine_is_calibrated_exactly():
    samples = _samples([0.5] * 4, [1.6] * 4)
    rep = calibrate.calibration_report(samples)
    assert rep.factors.bandwidth_factor == pytest.approx(0.5)
    assert rep.factors.compute_factor == pytest.approx(1.6)
    assert rep.decode_error_before == pytest.approx(1.0)  # predicted twice the measured speed
    assert rep.decode_error_after == pytest.approx(0.0, abs=1e-12)
    assert rep.prefill_error_after == pytest.approx(0.0, abs=1e-12)


def test_after_error_is_leave_one_out():
    # One outlier cannot be fitted by the others: its own ratio is held out.
    rep = calibrate.calibration_report(_samples([0.5, 0.5, 0.5, 1.0], [1, 1, 1, 1]))
    assert rep.decode_error_after > 0.1
    assert rep.decode_error_after < rep.decode_error_before
    one = calibrate.calibration_report(_samples([0.5], [1.0]))
    assert one.decode_error_after is None and one.n_runs == 1


def test_factors_feed_back_into_the_speed_model():
    """apply_factors changes the real speed estimate by exactly the decode factor."""
    from sizing.core.speed.calibration import load_calibration

    est = estimate("meta-llama/Llama-3.2-1B-Instruct", "Q4_K_M", 2048, offline=True)
    rate = DeviceRate(name="test CPU", kind="cpu", backend="cpu", bandwidth_gbs=40.0, threads=8)
    base = predict_speed(est, rate, n_prompt=512)
    factors = calibrate.MachineFactors(bandwidth_factor=0.6, compute_factor=1.5, n_decode=3, n_prefill=3)
    new_rate, new_calib = calibrate.apply_factors(rate, load_calibration(), factors)
    after = predict_speed(est, new_rate, n_prompt=512, calib=new_calib)
    assert after["decode_tokens_per_s"] == pytest.approx(base["decode_tokens_per_s"] * 0.6, rel=1e-9)
    assert after["prefill_tokens_per_s"] > base["prefill_tokens_per_s"] * 1.0
    assert "this machine" in after["calibration"]
    assert rate.bandwidth_gbs == 40.0  # pure: the inputs are untouched


def test_store_appends_skips_torn_lines_and_exports(tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_SIZING_HOME", str(tmp_path / "d"))
    assert store.data_dir() == tmp_path / "d"
    r1 = store.RunRecord(model="a", runner={"name": "embedded", "version": "x 1", "backend": "cpu"},
                         hardware={"cpu": "Test CPU"}, measured={"decode_tokens_per_s": 5.0})
    path = store.append_run(r1)
    with open(path, "a") as fh:
        fh.write('{"model": "torn", "measu')  # a crash mid-write
    store.append_run(store.RunRecord(model="b"))
    runs = store.load_runs()
    assert [r.model for r in runs] == ["a", "b"]
    doc = json.loads(store.export_runs(runs))
    assert doc["runs"][0]["runner"]["version"] == "x 1"
    assert doc["runs"][0]["hardware"]["cpu"] == "Test CPU"


def test_default_data_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("LLM_SIZING_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    import sys

    if sys.platform.startswith("linux"):
        assert store.data_dir() == tmp_path / "xdg" / "llm-sizing"


def _machine_samples(bw_bytes_s: float, overhead_s: float, assumed: float):
    """Runs of three model sizes on a machine whose decode step is bytes/bw + overhead."""
    out = []
    for read in (1.0e8, 4.0e8, 1.6e9):
        measured = 1.0 / (read / bw_bytes_s + overhead_s)
        predicted = 1.0 / (read / assumed + 0.002)
        out.append(calibrate.SpeedSample(predicted_decode=predicted, measured_decode=measured,
                                         decode_read_bytes=read, assumed_bandwidth=assumed))
    return out


def test_decode_line_recovers_bandwidth_and_overhead():
    samples = _machine_samples(bw_bytes_s=12e9, overhead_s=0.030, assumed=20e9)
    f = calibrate.fit_factors(samples)
    assert f.effective_bandwidth_gbs == pytest.approx(12.0, rel=1e-6)
    assert f.decode_overhead_ms == pytest.approx(30.0, rel=1e-6)
    assert f.bandwidth_factor == pytest.approx(0.6, rel=1e-6)
    rep = calibrate.calibration_report(samples)
    assert rep.decode_error_before > 0.5
    # leave-one-out with 2 remaining sizes still pins the line down exactly
    assert rep.decode_error_after == pytest.approx(0.0, abs=1e-9)


def test_one_model_size_falls_back_to_a_ratio():
    s = _machine_samples(12e9, 0.030, 20e9)[:1] * 3
    f = calibrate.fit_factors(s)
    assert f.effective_bandwidth_gbs is None and f.decode_overhead_ms is None
    assert f.bandwidth_factor == pytest.approx(s[0].measured_decode / s[0].predicted_decode)


def test_fitted_line_drives_the_real_speed_model():
    from sizing.core.speed.calibration import load_calibration

    calib = load_calibration()
    est = estimate("Qwen/Qwen2.5-0.5B-Instruct", "Q4_K_M", 2048, offline=True)
    rate = DeviceRate(name="test CPU", kind="cpu", backend="cpu", bandwidth_gbs=40.0, threads=8)
    base = predict_speed(est, rate, n_prompt=128)
    factors = calibrate.MachineFactors(effective_bandwidth_gbs=9.0, decode_overhead_ms=25.0, n_decode=3)
    new_rate, new_calib = calibrate.apply_factors(rate, calib, factors)
    after = predict_speed(est, new_rate, n_prompt=128, calib=new_calib)
    expected = 1.0 / (base["decode_read_bytes"] / 9e9 + 0.025)
    assert after["decode_tokens_per_s"] == pytest.approx(expected, rel=1e-6)
