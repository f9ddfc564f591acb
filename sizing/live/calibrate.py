"""Compare a live measurement with the estimate, and learn this machine's speed factors.

Pure functions only: estimate and measurement in, comparison out; stored runs in,
factors out; factors and a speed calibration in, a calibrated speed calibration out.

Memory: each part (weights, KV cache, compute) is set side by side with its relative
error. llama.cpp's output (logits) buffer is part of the estimator's ``compute`` part,
so it is added to the measured compute buffer before comparing.

Speed: the speed model (``sizing.speed``) predicts tokens/s from a device's datasheet
bandwidth and compute with factors fitted to public llama-bench results. A machine is
never exactly the average machine, so from its own runs we fit two factors:

* ``bandwidth_factor``: measured ÷ predicted decode tokens/s (decode streams the
  weights, so this is the ratio of effective to assumed memory bandwidth);
* ``compute_factor``: measured ÷ predicted prefill tokens/s (prefill is arithmetic).

Each is the geometric mean of the per-run ratios (speed errors are multiplicative).
``apply_factors`` feeds them back into the speed model: it scales the device's bandwidth
and the calibration's per-token overhead so a decode step takes exactly 1/factor as
long, and scales the effective compute by the compute factor. The error before and
after is computed leave-one-out, so a single lucky run cannot flatter the fit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict

PARTS = ("weights_bytes", "kv_cache_bytes", "compute_bytes")

# The relative error each part of the memory estimate is claimed to stay within for a
# model whose tensors come from its GGUF header. Weights are exact byte sums and the KV
# cache exact cell arithmetic, both logged by llama.cpp with two decimals of MiB; the
# compute buffer is a fitted model of ggml's graph allocator (sizing.compute_buffer),
# whose fit residuals stay within a few per cent on the models it was fitted to.
DEFAULT_TOLERANCE: dict[str, float] = {
    "weights_bytes": 0.01,
    "kv_cache_bytes": 0.01,
    "compute_bytes": 0.10,
}


def claimed_tolerance() -> dict[str, float]:
    """The estimator's own claim if it publishes one (``sizing.memory.TOLERANCE``), else ours."""
    try:
        from sizing import memory

        claim = getattr(memory, "TOLERANCE", None)
    except ImportError:  # pragma: no cover
        claim = None
    out = dict(DEFAULT_TOLERANCE)
    if isinstance(claim, Mapping):
        out.update({k: float(v) for k, v in claim.items() if k in out})
    return out


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


class MachineFactors(BaseModel):
    """This machine's speed relative to what the speed model assumes (1.0 = as assumed)."""

    model_config = ConfigDict(frozen=True)

    bandwidth_factor: float = 1.0
    compute_factor: float = 1.0
    n_decode: int = 0
    n_prefill: int = 0

    def label(self) -> str:
        return (f"this machine: bandwidth ×{self.bandwidth_factor:.2f} ({self.n_decode} runs), "
                f"compute ×{self.compute_factor:.2f} ({self.n_prefill} runs)")


def _geomean(xs: Sequence[float]) -> float:
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def _ratios(samples: Sequence[SpeedSample], kind: str) -> list[float]:
    out = []
    for s in samples:
        p, m = getattr(s, f"predicted_{kind}"), getattr(s, f"measured_{kind}")
        if p and m and p > 0 and m > 0:
            out.append(m / p)
    return out


def fit_factors(samples: Sequence[SpeedSample]) -> MachineFactors:
    """Geometric-mean ratio of measured to predicted speed, for decode and for prefill."""
    d, p = _ratios(samples, "decode"), _ratios(samples, "prefill")
    return MachineFactors(
        bandwidth_factor=_geomean(d) if d else 1.0,
        compute_factor=_geomean(p) if p else 1.0,
        n_decode=len(d),
        n_prefill=len(p),
    )


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
        for kind, factor, n in (("decode", f.bandwidth_factor, f.n_decode),
                                ("prefill", f.compute_factor, f.n_prefill)):
            p, m = getattr(s, f"predicted_{kind}"), getattr(s, f"measured_{kind}")
            if not (p and m):
                continue
            before[kind].append((p - m) / m)
            if n:
                after[kind].append((p * factor - m) / m)
    return CalibrationReport(
        factors=fit_factors(samples),
        n_runs=len(samples),
        decode_error_before=_mean_abs(before["decode"]),
        decode_error_after=_mean_abs(after["decode"]),
        prefill_error_before=_mean_abs(before["prefill"]),
        prefill_error_after=_mean_abs(after["prefill"]),
        method="mean |relative error| of tokens/s; after: leave-one-out geometric-mean factors",
    )


def apply_factors(rate, calib, factors: MachineFactors):
    """(DeviceRate, CalibrationSet) with this machine's factors folded in — pure.

    Decode: bandwidth × f and the per-token overhead ÷ f, so a decode step takes exactly
    1/f as long. Prefill: the effective compute × g (per-thread rate on CPUs, efficiency
    on accelerators), and its memory floor moves with the bandwidth.
    """
    f, g = factors.bandwidth_factor, factors.compute_factor
    new_rate = rate.model_copy(update={"bandwidth_gbs": rate.bandwidth_gbs * f})
    backend = rate.backend
    c = calib.get(backend)
    update: dict[str, object] = {"decode_overhead_ms": c.decode_overhead_ms / f}
    for key in ("prefill_efficiency", "prefill_gflops_per_thread", "prefill_gflops_per_gbs"):
        v = getattr(c, key)
        if v is not None:
            # gflops_per_gbs is multiplied by the (already scaled) bandwidth: undo that.
            update[key] = v * g / (f if key == "prefill_gflops_per_gbs" else 1.0)
    if c.prefill_gflops_per_thread is None and rate.kind == "cpu":
        cpu = calib.get("cpu").prefill_gflops_per_thread
        if cpu is not None:
            update["prefill_gflops_per_thread"] = cpu * g
    new_c = c.model_copy(update=update)
    backends = dict(calib.backends)
    backends[backend] = new_c
    new_calib = calib.model_copy(update={
        "backends": backends,
        "name": f"{calib.name} + {factors.label()}",
    })
    return new_rate, new_calib
