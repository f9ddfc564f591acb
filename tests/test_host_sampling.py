"""A server samples each token over the vocabulary on the host: live checks predict that
part apart (llama-bench's rows leave it out), and this machine's calibration takes it off
each run before fitting the graph's line."""

from __future__ import annotations

import pytest

from sizing.core.speed.sampling import host_sampling
from sizing.core.traffic import DeviceRate
from sizing.errors import SizingError
from sizing.estimate import estimate
from sizing.live import calibrate
from sizing.live.check import predict_speed
from sizing.sources.gguf_reader import read_gguf


def _rate(clock: float | None) -> DeviceRate:
    return DeviceRate(name="test CPU", kind="cpu", backend="cpu", bandwidth_gbs=30.0, threads=2, clock_ghz=clock)


def test_a_server_run_counts_sampling_over_the_files_own_vocabulary(smollm2_gguf, gemma3_gguf):
    parts = {}
    for path in (smollm2_gguf, gemma3_gguf):
        est = estimate(str(path), None, 2048, backend="cpu", offline=True)
        p = predict_speed(est, _rate(3.7), n_prompt=64, n_gen=32)
        vocab = read_gguf(path).arch.vocab_size
        parts[vocab] = p["decode_sampling_s"]
        assert f"{vocab:,} vocabulary entries" in p["decode_sampling"]
        assert "bench/host_sampling.py" in p["decode_sampling"]  # its basis is named
    (small, s_small), (big, s_big) = sorted(parts.items())
    assert (small, big) == (49152, 262144)  # SmolLM2's and Gemma 3's vocabularies, from the files
    assert s_big / s_small == pytest.approx(big / small)
    # a single host thread does the work: a faster clock takes less of it
    est = estimate(str(gemma3_gguf), None, 2048, backend="cpu", offline=True)
    slow, fast = (predict_speed(est, _rate(c), n_prompt=64)["decode_sampling_s"] for c in (2.0, 4.0))
    assert slow == pytest.approx(2 * fast)


def test_the_fit_takes_each_runs_sampling_off_before_its_line():
    """Two small models of different vocabularies on one machine whose graph steps lie on one
    line: with their sampling taken off, the fitted overhead is the line's, not an average
    that mispredicts both."""
    bw, over = 12e9, 0.004
    big_read = 4.0e9  # a bandwidth-bound run pins the bandwidth
    runs = [(9.6e7, 0.0006), (2.5e8, 0.0034), (big_read, 0.0010)]
    samples = []
    for i, (read, sampling) in enumerate(runs):
        measured_step = read / bw + over + sampling
        samples.append(
            calibrate.SpeedSample(
                id=str(i),
                predicted_decode=1 / (read / 18e9 + 0.0019 + sampling),
                measured_decode=1 / measured_step,
                decode_read_bytes=read,
                assumed_bandwidth=18e9,
                decode_sampling_s=sampling,
            )
        )
    f = calibrate.fit_factors(samples)
    assert f.effective_bandwidth_gbs == pytest.approx(bw / 1e9, rel=1e-6)
    assert f.decode_overhead_ms == pytest.approx(over * 1e3, rel=1e-6)
    for s in samples:  # and each run is predicted as measured, its own sampling added back
        assert f.decode_tokens_per_s(s) == pytest.approx(s.measured_decode, rel=1e-6)
    # without the part (a record stored before it was counted) the same runs fit another line
    bare = calibrate.fit_factors([s.model_copy(update={"decode_sampling_s": None}) for s in samples])
    assert bare.decode_overhead_ms != pytest.approx(over * 1e3, rel=0.05)


def test_a_ratio_calibration_scales_the_graph_and_leaves_the_sampling(smollm2_gguf):
    s = calibrate.SpeedSample(predicted_decode=100.0, measured_decode=80.0, decode_sampling_s=0.002)
    f = calibrate.fit_factors([s])
    assert f.effective_bandwidth_gbs is None
    assert f.bandwidth_factor == pytest.approx((0.010 - 0.002) / (0.0125 - 0.002))
    assert f.decode_tokens_per_s(s) == pytest.approx(80.0)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("host_sampling:\n  cycles_per_entry: -3\n", "field cycles_per_entry"),
        ("other: 1\n", "expected a 'host_sampling' mapping"),
        ("host_sampling: [1, 2\n", "not valid YAML"),
        ("host_sampling: [1, 2]\n", "host_sampling:"),
    ],
)
def test_a_bad_sampling_file_names_the_file_and_field(tmp_path, text, says):
    bad = tmp_path / "host_sampling.yaml"
    bad.write_text(text)
    with pytest.raises(SizingError) as e:
        host_sampling(bad)
    assert str(bad) in str(e.value) and says in str(e.value)
