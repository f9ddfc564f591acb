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
    meas = {
        "weights_bytes": 1000,
        "kv_cache_bytes": 400,
        "compute_bytes": 290,
        "output_bytes": 10,
        "decode_tokens_per_s": 10.0,
        "prefill_tokens_per_s": None,
    }
    rows = {
        r.part: r
        for r in calibrate.compare(est, meas, {"weights_bytes": 0.01, "kv_cache_bytes": 0.01, "compute_bytes": 0.15})
    }
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
        calibrate.SpeedSample(
            predicted_decode=p, measured_decode=p * rd, predicted_prefill=10 * p, measured_prefill=10 * p * rp
        )
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
    # the graph's step takes 1/0.6 as long; the server's sampling on the host stays as it was
    cut = base["decode_sampling_s"]
    assert cut > 0 and after["decode_sampling_s"] == cut
    graph_after, graph_base = 1 / (1 / after["decode_tokens_per_s"] - cut), 1 / (1 / base["decode_tokens_per_s"] - cut)
    assert graph_after == pytest.approx(graph_base * 0.6, rel=1e-9)
    assert after["prefill_tokens_per_s"] > base["prefill_tokens_per_s"] * 1.0
    assert "this machine" in after["calibration"]
    assert rate.bandwidth_gbs == 40.0  # pure: the inputs are untouched


def test_store_appends_skips_torn_lines_and_exports(tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_SIZING_HOME", str(tmp_path / "d"))
    assert store.data_dir() == tmp_path / "d"
    r1 = store.RunRecord(
        model="a",
        runner={"name": "embedded", "version": "x 1", "backend": "cpu"},
        hardware={"cpu": "Test CPU"},
        measured={"decode_tokens_per_s": 5.0},
    )
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
    """Runs of four model sizes (two bandwidth-bound) on a machine whose decode step is
    bytes/bw + overhead."""
    out = []
    for read in (1.0e8, 4.0e8, 1.6e9, 3.2e9):
        measured = 1.0 / (read / bw_bytes_s + overhead_s)
        predicted = 1.0 / (read / assumed + 0.002)
        out.append(
            calibrate.SpeedSample(
                predicted_decode=predicted, measured_decode=measured, decode_read_bytes=read, assumed_bandwidth=assumed
            )
        )
    return out


def test_decode_line_recovers_bandwidth_and_overhead():
    samples = _machine_samples(bw_bytes_s=12e9, overhead_s=0.030, assumed=20e9)
    f = calibrate.fit_factors(samples)
    assert f.effective_bandwidth_gbs == pytest.approx(12.0, rel=1e-6)
    assert f.decode_overhead_ms == pytest.approx(30.0, rel=1e-6)
    assert f.bandwidth_factor == pytest.approx(0.6, rel=1e-6)
    rep = calibrate.calibration_report(samples)
    assert rep.decode_error_before > 0.5
    # leave-one-out: the other bandwidth-bound run and the other small one pin it down exactly
    assert rep.decode_error_after == pytest.approx(0.0, abs=1e-9)


def test_small_models_fit_the_overhead_never_the_bandwidth():
    """A 135M model's speed is mostly per-token overhead: it must not move the bandwidth."""
    small = _machine_samples(12e9, 0.030, 20e9)[:2]
    f = calibrate.fit_factors(small)
    assert f.n_bandwidth_bound == 0
    assert f.effective_bandwidth_gbs == pytest.approx(20.0) and f.bandwidth_factor == pytest.approx(1.0)
    # the miss goes to the per-token overhead: those runs are predicted far better than before
    for s in small:
        assert (
            abs(f.decode_tokens_per_s(s) / s.measured_decode - 1)
            < 0.15
            < abs(s.predicted_decode / s.measured_decode - 1)
        )


def test_small_runs_faster_than_the_published_bandwidth_scale_the_whole_step():
    """A core that streams faster than the public rows' ones: bytes at the published rate
    alone take longer than the run did, so no overhead (never negative) fits the line; the
    measured ÷ predicted ratio does, and the run is then predicted as measured."""
    read, assumed = 9.6e7, 1.4e10  # 6.9 ms of bytes a token at the published rate
    fast = calibrate.SpeedSample(
        predicted_decode=1 / (read / assumed + 0.004),
        measured_decode=200.0,  # 5 ms a token
        decode_read_bytes=read,
        assumed_bandwidth=assumed,
    )
    f = calibrate.fit_factors([fast])
    assert f.effective_bandwidth_gbs is None
    assert f.decode_tokens_per_s(fast) == pytest.approx(200.0, rel=1e-9)
    # a run slower than its bytes at that rate still fits the line, the overhead taking the rest
    slow = fast.model_copy(update={"measured_decode": 100.0})
    g = calibrate.fit_factors([slow])
    assert g.effective_bandwidth_gbs == pytest.approx(assumed / 1e9)
    assert g.decode_tokens_per_s(slow) == pytest.approx(100.0, rel=1e-9)


@pytest.mark.parametrize("speedup", [0.6, 1.0, 1.3, 2.5])
def test_one_run_is_predicted_as_measured_after_calibrating(smollm2_gguf, speedup):
    """The live check's promise after its first run on a machine: the calibrated prediction
    of that very run is what it measured, whether the machine ran slower or faster than the
    published rates (a one-thread SmolLM2 run, as the live test makes, through the real speed
    model: the per-type speeds, the thread cap and attention at depth)."""
    from sizing.core.speed.calibration import load_calibration

    est = estimate(str(smollm2_gguf), None, 2048, backend="cpu", offline=True)
    rate = DeviceRate(name="test CPU", kind="cpu", backend="cpu", bandwidth_gbs=30.0, threads=1)
    base = predict_speed(est, rate, n_prompt=32, n_gen=8)
    measured = base["decode_tokens_per_s"] * speedup
    sample = calibrate.SpeedSample(
        predicted_decode=base["decode_tokens_per_s"],
        measured_decode=measured,
        decode_read_bytes=base["decode_read_bytes"],
        assumed_bandwidth=base["assumed_bandwidth"],
        decode_kv_bytes=base["decode_kv_bytes"],
        decode_attn_flops=base["decode_attention_flops"],
        decode_attn_s=base["decode_attention_compute_s"],
        decode_sampling_s=base["decode_sampling_s"],
        decode_kernel_factor=base["decode_kernel_factor"],
    )
    factors = calibrate.fit_factors([sample])
    new_rate, new_calib = calibrate.apply_factors(rate, load_calibration(), factors)
    after = predict_speed(est, new_rate, n_prompt=32, n_gen=8, calib=new_calib)
    assert after["decode_tokens_per_s"] == pytest.approx(measured, rel=1e-6)


def test_ratios_alone_fall_back_to_their_median():
    s = [calibrate.SpeedSample(predicted_decode=100.0, measured_decode=m) for m in (50.0, 60.0, 300.0)]
    f = calibrate.fit_factors(s)
    assert f.effective_bandwidth_gbs is None and f.bandwidth_factor == pytest.approx(0.6)


def test_fitted_line_drives_the_real_speed_model():
    from sizing.core.speed.calibration import load_calibration

    calib = load_calibration()
    est = estimate("Qwen/Qwen2.5-0.5B-Instruct", "Q4_K_M", 2048, offline=True)
    rate = DeviceRate(name="test CPU", kind="cpu", backend="cpu", bandwidth_gbs=40.0, threads=8)
    base = predict_speed(est, rate, n_prompt=128)
    factors = calibrate.MachineFactors(effective_bandwidth_gbs=9.0, decode_overhead_ms=25.0, n_decode=3)
    new_rate, new_calib = calibrate.apply_factors(rate, calib, factors)
    after = predict_speed(est, new_rate, n_prompt=128, calib=new_calib)
    # the line (its bandwidth the repacked weights', this model's types read at their own
    # speed), plus attention at 128 cached cells where its arithmetic outlasts its KV read
    bw = 9e9 * base["decode_kernel_factor"]
    attention = max(0.0, base["decode_attention_compute_s"] - base["decode_kv_bytes"] / bw)
    assert attention > 0
    # (and the server's sampling over the vocabulary, which no factor touches)
    expected = 1.0 / (base["decode_read_bytes"] / bw + 0.025 + attention + base["decode_sampling_s"])
    assert after["decode_tokens_per_s"] == pytest.approx(expected, rel=1e-6)
    # and the fit's own prediction of such a run is the same figure
    sample = calibrate.SpeedSample(
        decode_read_bytes=base["decode_read_bytes"],
        decode_kv_bytes=base["decode_kv_bytes"],
        decode_attn_flops=base["decode_attention_flops"],
        decode_attn_s=base["decode_attention_compute_s"],
        decode_sampling_s=base["decode_sampling_s"],
        decode_kernel_factor=base["decode_kernel_factor"],
    )
    assert factors.decode_tokens_per_s(sample) == pytest.approx(expected, rel=1e-6)


# --------------------------------------------------------------------------- screening


def _s(
    id_,
    decode,
    *,
    group="g",
    others=0.0,
    spare=0.0,
    synthetic=False,
    calibration_run=False,
    read=9.6e7,
    steal=0.0,
    load=None,
    threads=None,
):
    return calibrate.SpeedSample(
        id=id_,
        label=id_,
        group=group,
        predicted_decode=150.0,
        measured_decode=decode,
        decode_read_bytes=read,
        assumed_bandwidth=1.4e10,
        synthetic=synthetic,
        calibration_run=calibration_run,
        others_busy_cores=others,
        spare_cores=spare,
        steal_share=steal,
        load_average=load,
        threads=threads,
    )


def test_screen_leaves_out_contended_and_slow_repeats_with_reasons():
    samples = [
        _s("a", 120.0),
        _s("b", 118.0),
        _s("c", 121.0),
        _s("busy", 30.0, others=1.6),
        _s("stolen", 60.0, steal=0.2),
        _s("queued", 50.0, load=6.5, threads=2),
        _s("synthetic", 10.0, group="s", synthetic=True, calibration_run=True, read=2.0e9),
        _s("synthetic-check", 0.5, group="s2", synthetic=True, read=2.0e9),
        _s("slow-repeat", 70.0),
    ]
    kept, verdicts = calibrate.screen(samples)
    why = {v.id: v for v in verdicts}
    assert [v.id for v in verdicts] == [s.id for s in samples]  # every run gets a verdict, in order
    assert "machine busy" in why["busy"].reason and not why["busy"].used
    assert "steal" in why["stolen"].reason and not why["stolen"].used
    assert "load average 6.5" in why["queued"].reason and not why["queued"].used
    # calibrate --measure's synthetic model is the bandwidth-bound run the machine has no real
    # file for, so it counts; a synthetic model run as a live check measures memory only
    assert why["synthetic"].used
    assert not why["synthetic-check"].used and "live check" in why["synthetic-check"].reason
    assert "below the other runs of the same model" in why["slow-repeat"].reason
    # the three good repeats count once, as their median
    assert [s.id for s in kept] == ["a", "synthetic"] and why["b"].used and "median of 3" in why["b"].reason


def test_a_load_average_of_the_runs_own_threads_is_not_contention():
    # back-to-back repeats: the 1-minute average still counts the previous run's threads
    kept, verdicts = calibrate.screen([_s("x", 100.0, load=2.6, threads=2), _s("y", 99.0, load=1.9, threads=2)])
    assert all(v.used for v in verdicts) and kept


def test_a_run_left_free_cores_is_not_contended_by_load_on_them():
    kept, verdicts = calibrate.screen([_s("x", 100.0, others=0.9, spare=1.0)])
    assert verdicts[0].used and kept


def test_one_busy_run_does_not_move_the_calibration():
    """The field case: runs at 30, 8.7 and 0.8 tok/s under load next to quiet ones at ~120."""
    quiet = [
        _s("q1", 120.0, group="smol"),
        _s("q2", 40.0, group="gemma", read=2.5e8),
        _s("q3", 12.0, group="big", read=1.2e9),
    ]
    before = calibrate.fit_factors(calibrate.screen(quiet)[0])
    busy = [
        _s("b1", 30.0, group="smol", others=1.2),
        _s("b2", 8.7, group="smol", others=1.5),
        _s("b3", 0.8, group="big", read=1.2e9, others=1.9),
    ]
    kept, verdicts = calibrate.screen(quiet + busy)
    after = calibrate.fit_factors(kept)
    assert all(not v.used for v in verdicts if v.id.startswith("b"))
    assert after.effective_bandwidth_gbs == pytest.approx(before.effective_bandwidth_gbs)
    assert after.decode_overhead_ms == pytest.approx(before.decode_overhead_ms)


def test_a_run_the_others_disagree_with_is_left_out():
    # four quiet runs of different models on one consistent machine, and one far off
    bw, over = 12e9, 0.002
    runs = [_s(f"m{i}", 1 / (r / bw + over), group=f"m{i}", read=r) for i, r in enumerate((1e8, 3e8, 1.2e9, 2.4e9))]
    odd = _s("odd", 0.5 / (6e8 / bw + over), group="odd", read=6e8)
    kept, verdicts = calibrate.screen([*runs, odd])
    why = {v.id: v for v in verdicts}
    assert not why["odd"].used and "far from this machine's other runs" in why["odd"].reason
    assert all(why[r.id].used for r in runs)


def test_the_only_bandwidth_bound_run_is_not_judged_by_the_small_ones():
    """calibrate --measure's one bandwidth-bound run sets the bandwidth; small runs, fitted with
    the published bandwidth, cannot predict it, so it is kept even where they miss it (seen
    on this machine: a synthetic 3B run at 5.5 tok/s left out because small runs predicted 3.5)."""
    published = 1.4e10  # what _s assumes; this machine streams twice that
    real, over = 2 * published, 0.004
    small = [_s(f"s{i}", 1 / (r / real + over), group=f"s{i}", read=r) for i, r in enumerate((9.6e7, 1.0e8, 1.2e8))]
    big = _s("big", 1 / (2.0e9 / real + over), group="big", read=2.0e9)
    kept, verdicts = calibrate.screen([*small, big])
    why = {v.id: v for v in verdicts}
    assert why["big"].used, why["big"].reason
    assert calibrate.fit_factors(kept).effective_bandwidth_gbs > published / 1e9


def test_load_window_counts_other_processes_not_this_one():
    from sizing.live import load

    a = load._Mark(wall=0.0, busy=10.0, steal=1.0, total=100.0, mine=2.0)
    b = load._Mark(wall=2.0, busy=13.0, steal=1.4, total=104.0, mine=3.0)
    w = load._window(a, b, None)
    assert w.others_busy_cores == pytest.approx(1.0)  # 3 busy core-seconds, 1 of them ours, over 2 s
    assert w.steal_share == pytest.approx(0.1)


# --------------------------------------------------------------------------- attention at depth

# A SmolLM2-sized step on a machine with a known line and attention: 97 MB of weights,
# 23 KB of KV and 69 kFLOP of attention per cached cell (its traffic at an F16 cache); the
# default rates predict attention twice as fast as this machine runs it.
_WEIGHTS, _KV_CELL, _FLOP_CELL = 9.7e7, 23040.0, 69120.0
_BW, _OVER, _ATTN_CELL, _ASSUMED_CELL = 1.4e10, 0.010, 69120.0 / 4.0e9, 69120.0 / 8.0e9


def _at_depth(id_, cells, *, series="smol", others=0.0, slow=1.0):
    kv, flops = _KV_CELL * cells, _FLOP_CELL * cells
    step = (_WEIGHTS + kv) / _BW + _OVER + max(0.0, _ATTN_CELL * cells - kv / _BW)
    return calibrate.SpeedSample(
        id=id_,
        label=id_,
        group=f"{series}|{cells}",
        series=series,
        predicted_decode=1 / ((_WEIGHTS + kv) / _BW + max(0.0, _ASSUMED_CELL * cells - kv / _BW)),
        measured_decode=1 / step / slow,
        decode_read_bytes=_WEIGHTS + kv,
        assumed_bandwidth=_BW,
        decode_kv_bytes=kv,
        decode_attn_flops=flops,
        decode_attn_s=_ASSUMED_CELL * cells,
        others_busy_cores=others,
        spare_cores=0.0,
    )


def test_runs_at_one_depth_fit_no_attention_rate():
    runs = [_at_depth("a", 80), _at_depth("b", 80), _at_depth("g", 80, series="gemma")]
    f = calibrate.fit_factors(runs)
    assert f.attention_factor is None and f.n_attention == 0
    assert "default rate" in f.detail()


def test_depths_too_close_fit_no_attention_rate():
    f = calibrate.fit_factors([_at_depth("a", 300), _at_depth("b", 300 * calibrate.ATTENTION_SPREAD * 0.9)])
    assert f.attention_factor is None


def test_one_model_at_two_depths_fits_the_attention_rate():
    runs = [_at_depth("shallow", 80), _at_depth("deep", 656)]
    f = calibrate.fit_factors(runs)
    assert f.n_attention == 1
    assert f.attention_gflops == pytest.approx(4.0, rel=1e-6)
    assert f.attention_factor == pytest.approx(0.5, rel=1e-6)
    assert "GFLOP/s" in f.detail() and "1 model at two depths" in f.detail()
    # the overhead is what is left once attention is paid: a run at a third depth is predicted
    verify = _at_depth("verify", 576)
    assert f.decode_tokens_per_s(verify) == pytest.approx(verify.measured_decode, rel=1e-6)
    assert abs(verify.predicted_decode / verify.measured_decode - 1) > 0.15


def test_a_deep_run_barely_slower_than_the_shallow_one_fits_no_rate():
    """A depth difference within run-to-run noise cannot resolve attention: the deep run
    here was, by chance, fast enough that its step is only 10 % longer than the shallow one
    (it would read as attention four times faster than the default)."""
    shallow = _at_depth("shallow", 80)
    step = 1 / shallow.measured_decode
    deep = _at_depth("deep", 656).model_copy(update={"measured_decode": 1 / (step * 1.10)})
    assert calibrate.fit_factors([shallow, deep]).attention_factor is None


def test_runs_of_different_models_do_not_pair_up_as_depths():
    f = calibrate.fit_factors([_at_depth("smol", 80), _at_depth("gemma", 656, series="gemma")])
    assert f.attention_factor is None


def test_a_busy_deep_run_is_left_out_and_fits_no_rate():
    runs = [_at_depth("s1", 80), _at_depth("s2", 80), _at_depth("deep", 656, others=1.5, slow=3.0)]
    kept, verdicts = calibrate.screen(runs)
    why = {v.id: v for v in verdicts}
    assert not why["deep"].used and "machine busy" in why["deep"].reason
    assert calibrate.fit_factors(kept).attention_factor is None
    # with a quiet repeat of the deep run, the rate is fitted from it alone
    kept, _ = calibrate.screen([*runs, _at_depth("deep2", 656)])
    assert calibrate.fit_factors(kept).attention_gflops == pytest.approx(4.0, rel=1e-6)


def test_attention_factor_moves_the_speed_model(smollm2_gguf):
    """A fitted attention factor makes the CPU's attention that much faster in the calibration
    (both its parts), and leaves the rest of the step alone."""
    from sizing.core.speed.calibration import load_calibration
    from sizing.core.speed.estimate import cpu_attention_seconds
    from sizing.core.traffic import model_traffic, single_device_work

    calib = load_calibration()
    sc = estimate(str(smollm2_gguf), None, 2048, offline=True).scenario
    assert sc.tensors is not None
    traffic = model_traffic(sc.model, sc.tensors, sc.kv_type_k, sc.kv_type_v)
    rate = DeviceRate(name="test CPU", kind="cpu", backend="cpu", bandwidth_gbs=40.0, threads=2, clock_ghz=2.1)
    line = calibrate.MachineFactors(effective_bandwidth_gbs=9.0, decode_overhead_ms=5.0, n_decode=3)
    with_attention = line.model_copy(update={"attention_factor": 0.5, "attention_gflops": 2.0, "n_attention": 1})
    r1, c1 = calibrate.apply_factors(rate, calib, line)
    r2, c2 = calibrate.apply_factors(rate, calib, with_attention)
    base = cpu_attention_seconds(single_device_work(traffic, rate), calib, 1000)
    assert base and cpu_attention_seconds(single_device_work(traffic, r1), c1, 1000) == pytest.approx(base)
    assert cpu_attention_seconds(single_device_work(traffic, r2), c2, 1000) == pytest.approx(2 * base)
    assert r1 == r2


def test_repeats_at_a_depth_count_by_their_median():
    """One slow shallow repeat (a busy second) does not set the rate: the median of three does."""
    runs = [
        _at_depth("s1", 80),
        _at_depth("s2", 80, slow=1.6),
        _at_depth("s3", 80),
        _at_depth("d1", 656),
        _at_depth("d2", 656),
        _at_depth("d3", 656, slow=0.9),
    ]
    f = calibrate.fit_factors(runs)
    assert f.attention_factor == pytest.approx(0.5, rel=1e-6)
    assert f.attention_gflops == pytest.approx(4.0, rel=1e-6)


def test_an_implausible_attention_rate_is_taken_for_noise():
    """A deep run only a hair slower than the shallow one (the shallow run hit a busy
    moment) would put attention at over 8x the default rates: the default stays."""
    quiet_shallow, deep = _at_depth("s", 80), _at_depth("deep", 656)
    step_shallow, step_deep = 1 / quiet_shallow.measured_decode, 1 / deep.measured_decode
    slow = (step_deep - 0.05 * (step_deep - step_shallow)) / step_shallow  # 95% of the gap eaten by noise
    shallow = _at_depth("shallow", 80, slow=slow)
    dt = 1 / deep.measured_decode - 1 / shallow.measured_decode
    assert dt > 0 and (deep.decode_attn_s - shallow.decode_attn_s) / dt > calibrate.ATTENTION_PLAUSIBLE
    f = calibrate.fit_factors([shallow, deep])
    assert f.attention_factor is None and "default rate" in f.detail()
    # the same two depths without the noise fit the rate
    assert calibrate.fit_factors([quiet_shallow, deep]).attention_factor == pytest.approx(0.5, rel=1e-6)


def test_a_decode_weighed_with_another_kernel_table_is_left_out_its_prompt_kept():
    """A run whose decode bytes were weighed with another CPU kernel table than today's loses
    its decode (it would fit another line), keeps its prompt speed (no table weighs it), and
    is left out whole when it has no prompt speed; an imported llama-bench run ('none': its
    types are unknown) and a GPU run (no table) are never judged by it."""
    both = _s("both", 100.0, group="a").model_copy(
        update={"predicted_prefill": 300.0, "measured_prefill": 330.0, "kernel_table": "default"}
    )
    decode_only = _s("decode", 100.0, group="b").model_copy(update={"kernel_table": "default"})
    imported = _s("import", 100.0, group="c").model_copy(update={"kernel_table": "none"})
    gpu = _s("gpu", 100.0, group="d")
    kept, verdicts = calibrate.screen([both, decode_only, imported, gpu], kernel_table="GenuineIntel")
    by = {v.id: v for v in verdicts}
    assert by["both"].used and "decode left out" in by["both"].reason and "GenuineIntel" in by["both"].reason
    assert not by["decode"].used and "default" in by["decode"].reason
    assert by["import"].used and by["gpu"].used and not by["import"].reason
    stripped = next(s for s in kept if s.id == "both")
    assert stripped.measured_decode is None and stripped.measured_prefill == 330.0
    factors = calibrate.fit_factors(kept)
    assert factors.n_decode == 2 and factors.n_prefill == 1
    # today's table: nothing is left out for it
    kept, verdicts = calibrate.screen([both, decode_only], kernel_table="default")
    assert all(v.used and not v.reason for v in verdicts)
    # one maker's table measured again: the digest tells the two apart; a bare name (stored
    # before names carried a digest) is that table as it stood then
    from sizing.core.speed.estimate import LEGACY_TABLE_DIGESTS

    then = decode_only.model_copy(update={"kernel_table": "GenuineIntel#aaaaaa"})
    bare = _s("bare", 100.0, group="e").model_copy(update={"kernel_table": "GenuineIntel"})
    kept, verdicts = calibrate.screen([then, bare], kernel_table="GenuineIntel#bbbbbb")
    by = {v.id: v for v in verdicts}
    assert not by["decode"].used and "earlier measurement of the GenuineIntel" in by["decode"].reason
    assert not by["bare"].used and f"GenuineIntel#{LEGACY_TABLE_DIGESTS['GenuineIntel']}" in by["bare"].reason
    kept, verdicts = calibrate.screen([bare], kernel_table=f"GenuineIntel#{LEGACY_TABLE_DIGESTS['GenuineIntel']}")
    assert all(v.used and not v.reason for v in verdicts)
