"""Compare a live measurement with the estimate, and learn this machine's speed factors.

Pure functions only: estimate and measurement in, comparison out; stored runs in,
factors out; factors and a speed calibration in, a calibrated speed calibration out.

Memory: each part (weights, KV cache, compute) is set side by side with its relative
error. llama.cpp's output (logits) buffer is part of the estimator's ``compute`` part,
so it is added to the measured compute buffer before comparing.

Speed: the speed model (``sizing.core.speed.estimate``) predicts tokens/s from a device's datasheet
bandwidth and compute with factors fitted to public llama-bench results. A machine is
never exactly the average machine, so from its own runs we fit two factors:

* decode: the speed model's own form, seconds per token = bytes read ÷ effective
  bandwidth + a fixed per-token overhead, fitted by least squares to the runs' bytes
  read per token and measured seconds per token. That gives this machine's effective
  bandwidth (reported as ``bandwidth_factor``, relative to what the model assumed) and
  its per-token overhead. With runs of only one model size the two cannot be told apart,
  and the fit falls back to one factor: the geometric mean of measured ÷ predicted;
* prefill: ``compute_factor``, the geometric mean of measured ÷ predicted prefill
  tokens/s (prefill is arithmetic, so this scales the effective compute).

``apply_factors`` feeds them back into the speed model (device bandwidth, per-token
overhead, effective compute). The error before and after is computed leave-one-out, so
a single lucky run cannot flatter the fit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict

from sizing.core.accuracy import MEMORY_TOLERANCE
from sizing.core.speed.calibration import fit_time_line
from sizing.core.speed.machine import MachineFactors, apply_factors  # noqa: F401 (the core's; re-exported)

PARTS = ("weights_bytes", "kv_cache_bytes", "compute_bytes")

def claimed_tolerance() -> dict[str, float]:
    """The memory estimate's own claim (sizing.core.accuracy), per part a live check compares."""
    return {k: MEMORY_TOLERANCE[k] for k in ("weights_bytes", "kv_cache_bytes", "compute_bytes")}


def rel_error(estimated: float | None, measured: float | None) -> float | None:
    """(estimated − measured) ÷ measured; None when either is missing or measured is 0."""
    if estimated is None or measured is None or measured == 0:
        return None
    return (estimated - measured) / measured


class PartComparison(BaseModel):
    """One part, estimated and measured."""

    model_config = ConfigDict(frozen=True)

    part: str
    estimated: float | None
    measured: float | None
    rel_error: float | None
    tolerance: float | None = None

    @property
    def within(self) -> bool | None:
        if self.rel_error is None or self.tolerance is None:
            return None
        return abs(self.rel_error) <= self.tolerance


def measured_parts(measured: Mapping[str, object]) -> dict[str, float | None]:
    """Measured figures in the estimator's part definitions (compute includes the output buffer)."""
    out: dict[str, float | None] = {}
    for key in PARTS:
        out[key] = measured.get(key)  # type: ignore[assignment]
    if out["compute_bytes"] is not None and measured.get("output_bytes") is not None:
        out["compute_bytes"] = out["compute_bytes"] + measured["output_bytes"]  # type: ignore[operator]
    return out


def compare(
    estimate: Mapping[str, object],
    measured: Mapping[str, object],
    tolerance: Mapping[str, float] | None = None,
) -> list[PartComparison]:
    """Every memory part and speed, side by side, with relative errors.

    ``estimate`` has the estimator's byte parts and optionally expected
    ``prefill_tokens_per_s`` / ``decode_tokens_per_s``; ``measured`` a Measurement dump.
    """
    tol = dict(claimed_tolerance() if tolerance is None else tolerance)
    mparts = measured_parts(measured)
    rows = []
    for key in PARTS:
        e, m = estimate.get(key), mparts.get(key)
        rows.append(PartComparison(part=key, estimated=e, measured=m,  # type: ignore[arg-type]
                                   rel_error=rel_error(e, m), tolerance=tol.get(key)))  # type: ignore[arg-type]
    for key in ("prefill_tokens_per_s", "decode_tokens_per_s"):
        e, m = estimate.get(key), measured.get(key)
        if e is not None or m is not None:
            rows.append(PartComparison(part=key, estimated=e, measured=m,  # type: ignore[arg-type]
                                       rel_error=rel_error(e, m)))  # type: ignore[arg-type]
    return rows


def errors_of(rows: Sequence[PartComparison]) -> dict[str, float | None]:
    return {r.part: r.rel_error for r in rows}


# --------------------------------------------------------------------------- speed fit


class SpeedSample(BaseModel):
    """One run's uncalibrated prediction and what was measured (tokens/s)."""

    model_config = ConfigDict(frozen=True)

    predicted_decode: float | None = None
    measured_decode: float | None = None
    predicted_prefill: float | None = None
    measured_prefill: float | None = None
    # what the prediction assumed: bytes read per decoded token, effective bytes/s
    decode_read_bytes: float | None = None
    assumed_bandwidth: float | None = None


def _geomean(xs: Sequence[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def _ratios(samples: Sequence[SpeedSample], kind: str) -> list[float]:
    out = []
    for s in samples:
        p, m = getattr(s, f"predicted_{kind}"), getattr(s, f"measured_{kind}")
        if p and m and p > 0 and m > 0:
            out.append(m / p)
    return out


def _line_fit(points: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    """``fit_time_line`` (weighted by relative error, b ≥ 0) when it gives a > 0, or None
    when x does not vary enough to tell slope from intercept."""
    xs = [x for x, _ in points]
    if len(points) < 2 or max(xs) < 1.5 * min(xs):  # one model size: slope and intercept confound
        return None
    a, b = fit_time_line(points)
    if a <= 0:
        return None
    return a, b


def fit_factors(samples: Sequence[SpeedSample]) -> MachineFactors:
    """This machine's decode line (effective bandwidth + overhead) and prefill compute factor."""
    d, p = _ratios(samples, "decode"), _ratios(samples, "prefill")
    factors = MachineFactors(
        bandwidth_factor=_geomean(d) if d else 1.0,
        compute_factor=_geomean(p) if p else 1.0,
        n_decode=len(d),
        n_prefill=len(p),
    )
    pts = [(s.decode_read_bytes, 1.0 / s.measured_decode) for s in samples
           if s.decode_read_bytes and s.measured_decode and s.assumed_bandwidth]
    line = _line_fit(pts)
    if line is not None:
        a, b = line
        assumed = sorted(s.assumed_bandwidth for s in samples if s.assumed_bandwidth)
        eff = 1.0 / a
        factors = factors.model_copy(update={
            "effective_bandwidth_gbs": eff / 1e9,
            "decode_overhead_ms": b * 1e3,
            "bandwidth_factor": eff / assumed[len(assumed) // 2],
        })
    return factors


class CalibrationReport(BaseModel):
    """Speed error on this machine's runs before and after calibrating (leave-one-out)."""

    model_config = ConfigDict(frozen=True)

    factors: MachineFactors
    n_runs: int
    decode_error_before: float | None
    decode_error_after: float | None
    prefill_error_before: float | None
    prefill_error_after: float | None
    method: str


def _mean_abs(xs: list[float]) -> float | None:
    return sum(abs(x) for x in xs) / len(xs) if xs else None


def calibration_report(samples: Sequence[SpeedSample]) -> CalibrationReport:
    """Mean absolute relative speed error before and after fitting this machine's factors.

    After-errors are leave-one-out: each run is predicted with factors fitted to the
    others. With a single run there is nothing to leave out, so its after-error is None.
    """
    before = {"decode": [], "prefill": []}  # type: dict[str, list[float]]
    after = {"decode": [], "prefill": []}  # type: dict[str, list[float]]
    for i, s in enumerate(samples):
        rest = [x for j, x in enumerate(samples) if j != i]
        f = fit_factors(rest)
        for kind, n in (("decode", f.n_decode), ("prefill", f.n_prefill)):
            p, m = getattr(s, f"predicted_{kind}"), getattr(s, f"measured_{kind}")
            if not (p and m):
                continue
            before[kind].append((p - m) / m)
            if n:
                q = f.decode_tokens_per_s(s) if kind == "decode" else p * f.compute_factor
                after[kind].append((q - m) / m)
    return CalibrationReport(
        factors=fit_factors(samples),
        n_runs=len(samples),
        decode_error_before=_mean_abs(before["decode"]),
        decode_error_after=_mean_abs(after["decode"]),
        prefill_error_before=_mean_abs(before["prefill"]),
        prefill_error_after=_mean_abs(after["prefill"]),
        method="mean |relative error| of tokens/s; after: each run predicted from a fit to the others "
               "(decode: bytes/bandwidth + overhead line, else a ratio; prefill: a ratio)",
    )
