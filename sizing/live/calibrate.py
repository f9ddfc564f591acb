"""Compare a live measurement with the estimate, and learn this machine's speed factors.

Pure functions only: estimate and measurement in, comparison out; stored runs in,
factors out; factors and a speed calibration in, a calibrated speed calibration out.

Memory: each part (weights, KV cache, compute) is set side by side with its relative
error. llama.cpp's output (logits) buffer is part of the estimator's ``compute`` part,
so it is added to the measured compute buffer before comparing.

Speed: the speed model (``sizing.core.speed.estimate``) predicts tokens/s from a device's datasheet
bandwidth and compute with factors fitted to public llama-bench results. A machine is
never exactly the average machine, so from its own runs we fit its factors — but only
from runs that can be trusted, each for the regime it describes:

* screening (:func:`screen`): runs taken while other processes kept the CPU busy (their
  busy time, or more runnable threads than cores in the load average), or the
  hypervisor stole it, or the GPU was busy, a repeat well below the others of its group,
  and a run the others disagree with are left out, each with its reason; repeats count
  once, as their median. A synthetic model (a real header over a sparse hole) counts
  only when ``calibrate --measure`` ran it: there it is the bandwidth-bound run the
  machine has no real file for, sized to stream from RAM and screened like any other.
  A synthetic model run as a live check measures memory; its speed is shown but never
  fitted, so one odd check (a model that pages, a cold disk) cannot move the calibration;
* decode: the speed model's own form, seconds per token = bytes read ÷ effective
  bandwidth + a fixed per-token overhead. The bandwidth comes only from runs reading
  ≥ 1 GiB a token (streaming from RAM, overhead a small share); the overhead from the
  smaller runs (a 135M model is mostly overhead); medians, not means. With no
  bandwidth-bound run the bandwidth stays as published, unless the small runs outran it
  (their bytes alone at that rate take longer than they did): then, as with only ratios,
  the median of measured ÷ predicted scales the whole step;
* prefill: ``compute_factor``, the median of measured ÷ predicted prefill tokens/s
  (prefill is arithmetic, so this scales the effective compute).

``apply_factors`` feeds them back into the speed model (device bandwidth, per-token
overhead, effective compute). The error before and after is computed leave-one-out, so
a single lucky run cannot flatter the fit.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from sizing.core.accuracy import MEMORY_TOLERANCE
from sizing.core.speed.machine import MachineFactors, apply_factors  # noqa: F401 (the core's; re-exported)
from sizing.core.speed.estimate import kernel_table_base, kernel_table_full_name
from sizing.units import GIB

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


def _figure(value: object) -> float | None:
    """A figure of an estimate or a measurement dump: its number, or None when it has none."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def measured_parts(measured: Mapping[str, object]) -> dict[str, float | None]:
    """Measured figures in the estimator's part definitions (compute includes the output buffer)."""
    out = {key: _figure(measured.get(key)) for key in PARTS}
    compute, output = out["compute_bytes"], _figure(measured.get("output_bytes"))
    if compute is not None and output is not None:
        out["compute_bytes"] = compute + output
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
        e, m = _figure(estimate.get(key)), mparts.get(key)
        rows.append(
            PartComparison(part=key, estimated=e, measured=m, rel_error=rel_error(e, m), tolerance=tol.get(key))
        )
    for key in ("prefill_tokens_per_s", "decode_tokens_per_s"):
        est_speed, meas_speed = _figure(estimate.get(key)), _figure(measured.get(key))
        if est_speed is not None or meas_speed is not None:
            rows.append(
                PartComparison(
                    part=key, estimated=est_speed, measured=meas_speed, rel_error=rel_error(est_speed, meas_speed)
                )
            )
    return rows


def errors_of(rows: Sequence[PartComparison]) -> dict[str, float | None]:
    return {r.part: r.rel_error for r in rows}


# --------------------------------------------------------------------------- speed fit

# A run reading at least this much per token streams from RAM, far beyond any CPU cache,
# and its per-token overhead is a small share of the step: only such runs fit the
# bandwidth. Smaller runs (a 135M model) fit the per-token overhead only.
BANDWIDTH_BOUND_BYTES = GIB
CONTENTION_CORES = 0.25  # others' CPU demand beyond the cores the run left free
LOAD_MARGIN = 1.0  # runnable threads beyond the run's own and the cores it left free
STEAL_LIMIT = 0.05  # share of CPU time the hypervisor gave to other guests
GPU_BUSY_LIMIT = 0.10  # GPU utilisation before a GPU run starts
REPEAT_SPREAD = 0.25  # a repeat this far below its group's reference is contended
FAR_FROM_OTHERS = 0.35  # leave-one-out miss beyond which a run disagrees with the rest
# An attention rate is fitted only from runs of one model at two depths whose attention
# FLOPs differ this many times over: closer depths leave the slope to the noise.
ATTENTION_SPREAD = 2.0
# A fitted attention speed this far from the default rates (either way) is noise: the
# default rates come from one-thread CPU-time runs on AVX2 (data/cpu_attention.yaml), and a
# busy second between two short runs can swing their difference tenfold.
ATTENTION_PLAUSIBLE = 8.0
# The deeper run must be slower by this share of the shallower run's step at least: a smaller
# difference is within what one short run varies from the next (the same SmolLM2 verify, run
# five times back to back on a 2-vCPU VM, decoded at 58-76 tok/s), so it cannot resolve the
# attention rate, and a rate read from it swung to five times the default.
ATTENTION_RESOLUTION = 0.15

# A stored run's prediction counted its CPU clock; one counted at a clock this far from
# today's (a release that took a VM's nominal clock) is not comparable with today's.
CLOCK_TOLERANCE = 0.01


class SpeedSample(BaseModel):
    """One run's uncalibrated prediction, what was measured, and how busy the machine was."""

    model_config = ConfigDict(frozen=True)

    id: str = ""
    label: str = ""
    group: str = Field("", description="runs of the same model and settings: repeats of one measurement")
    predicted_decode: float | None = None
    measured_decode: float | None = None
    predicted_prefill: float | None = None
    measured_prefill: float | None = None
    # what the prediction assumed: bytes read per decoded token, effective bytes/s
    decode_read_bytes: float | None = None
    assumed_bandwidth: float | None = None
    # attention over the cached cells at the run's decode depth (CPU runs)
    decode_kv_bytes: float | None = Field(None, description="the KV-cache share of decode_read_bytes")
    decode_attn_flops: float | None = Field(None, description="attention FLOPs per decoded token at its depth")
    decode_attn_s: float | None = Field(
        None, description="seconds of attention arithmetic per decoded token the prediction assumed (CPU)"
    )
    decode_kernel_factor: float | None = Field(
        None,
        gt=0,
        description=(
            "CPU: how fast the run's threads read its model's weight types against repacked Q4, the "
            "speed assumed_bandwidth is (None: 1, a run stored before it was recorded)"
        ),
    )
    decode_sampling_s: float | None = Field(
        None,
        description=(
            "seconds per token the prediction counted for the server sampling over the vocabulary "
            "(a part no llama-bench row has; None: a run stored before it was counted)"
        ),
    )
    series: str = Field(
        "",
        description=(
            "runs of the same model and settings but for the prompt length: the same step at other "
            "depths, whose difference is attention alone"
        ),
    )
    synthetic: bool = False
    calibration_run: bool = Field(False, description="run by calibrate --measure, which sizes it for this machine")
    others_busy_cores: float | None = Field(None, description="max over before/during the run")
    spare_cores: float | None = Field(None, description="CPUs the run left free (cpus - threads)")
    steal_share: float | None = None
    gpu_busy: float | None = Field(None, description="highest GPU utilisation before the run (GPU runs)")
    load_average: float | None = Field(None, description="highest 1-minute load average before/at the end of the run")
    threads: int | None = Field(None, description="CPU threads the run used")
    clock_ghz: float | None = Field(None, description="the CPU clock its prediction counted (CPU runs)")
    kernel_table: str | None = Field(
        None,
        description=(
            "CPU: the decode kernel table its prediction counted ('default' or the CPUID vendor whose "
            "measured table it was, with '#' and a digest of its speeds; a bare name, stored before "
            "names carried one, is that table as it stood then; 'none': an imported llama-bench run, "
            "whose types are unknown); a run stored before it was recorded counted the default"
        ),
    )

    @property
    def bandwidth_bound(self) -> bool:
        return bool(self.decode_read_bytes and self.decode_read_bytes >= BANDWIDTH_BOUND_BYTES)


class SampleVerdict(BaseModel):
    """Whether a stored run feeds this machine's calibration, and why not."""

    model_config = ConfigDict(frozen=True)

    id: str
    label: str
    used: bool
    reason: str = ""


def _contention(s: SpeedSample) -> str | None:
    if s.others_busy_cores is not None:
        spare = max(0.0, s.spare_cores or 0.0)
        if s.others_busy_cores > spare + CONTENTION_CORES:
            return (
                f"machine busy: other processes kept {s.others_busy_cores:.1f} CPU cores busy "
                f"({spare:.0f} left free by the run)"
            )
    if s.load_average is not None and s.threads:
        # the 1-minute average counts the run's own threads (and a repeat's just before)
        extra = s.load_average - s.threads
        spare = max(0.0, s.spare_cores or 0.0)
        if extra > spare + LOAD_MARGIN:
            return (
                f"machine busy: load average {s.load_average:.1f} with {s.threads} threads of this run "
                f"({extra:.1f} more runnable threads than the {spare:.0f} cores it left free)"
            )
    if s.steal_share is not None and s.steal_share > STEAL_LIMIT:
        return f"CPU steal {s.steal_share:.0%}: the hypervisor ran other guests"
    if s.gpu_busy is not None and s.gpu_busy > GPU_BUSY_LIMIT:
        return f"GPU {s.gpu_busy:.0%} busy before the run"
    return None


def _other_clock(s: SpeedSample, clock_ghz: float | None) -> str | None:
    """Why a run predicted at another CPU clock than today's cannot calibrate: its
    measured ÷ predicted holds the clock change, and today's prediction holds it again."""
    if not (clock_ghz and s.clock_ghz) or abs(s.clock_ghz / clock_ghz - 1) <= CLOCK_TOLERANCE:
        return None
    return (
        f"predicted for cores at {s.clock_ghz:.2f} GHz; this machine's are now counted at "
        f"{clock_ghz:.2f} GHz, so its measured ÷ predicted would count the change twice "
        "(run it again to calibrate)"
    )


def _other_kernels(s: SpeedSample, kernel_table: str | None) -> str | None:
    """Why a run predicted with another decode kernel table than today's cannot calibrate:
    its bytes were weighed at other per-type speeds, so the line it fits is another one."""
    if not kernel_table or s.kernel_table in (None, "none", kernel_table):
        return None  # "none": an imported run, its bytes weighed by no table
    stored = kernel_table_full_name(s.kernel_table)  # a bare name: the table as it was then
    if stored == kernel_table_full_name(kernel_table):
        return None
    then, now = kernel_table_base(stored), kernel_table_base(kernel_table)
    which = (
        f"an earlier measurement of the {now} CPU kernel speeds ({stored}; today {kernel_table})"
        if then == now
        else f"the {then} CPU kernel speeds; this machine's are now the {now} ones"
    )
    return f"predicted with {which}, so its bytes were weighed differently (run it again to calibrate)"


def _without_decode(s: SpeedSample) -> SpeedSample:
    """The run with its decode figures dropped: its prompt speed alone calibrates."""
    return s.model_copy(
        update={
            "measured_decode": None,
            "predicted_decode": None,
            "decode_read_bytes": None,
            "assumed_bandwidth": None,
            "decode_kv_bytes": None,
            "decode_attn_flops": None,
            "decode_attn_s": None,
            "series": "",
        }
    )


def screen(
    samples: Sequence[SpeedSample], *, clock_ghz: float | None = None, kernel_table: str | None = None
) -> tuple[list[SpeedSample], list[SampleVerdict]]:
    """The runs that may calibrate this machine, and a verdict for every run.

    Left out, with the reason: runs predicted at another CPU clock than ``clock_ghz``
    (today's), the decode of runs whose bytes were weighed with another kernel table than
    ``kernel_table`` (their prompt speed still counts), runs under contention (load recorded
    before and during the run: other processes' busy time, the load average, CPU steal, GPU use), a
    repeat well below the others of its group (contention only ever slows a run), and
    a run the others predict badly (leave-one-out). Repeats of one measurement are
    collapsed to their median, so ten runs of one model do not outvote one of another.
    """
    verdicts: dict[str, SampleVerdict] = {}
    order = [s.id or str(i) for i, s in enumerate(samples)]
    keyed = {k: s for k, s in zip(order, samples)}
    pool: list[tuple[str, SpeedSample]] = []
    notes: dict[str, str] = {}
    for k, s in keyed.items():
        why: str | None
        if not (s.measured_decode or s.measured_prefill):
            why = "no speed measured"
        elif s.synthetic and not s.calibration_run:
            why = (
                "synthetic model run as a live check: its speed is shown, not fitted "
                "(only calibrate --measure's synthetic run feeds the calibration)"
            )
        else:
            why = _other_clock(s, clock_ghz) or _contention(s)
            other = None if why else _other_kernels(s, kernel_table)
            if other and s.measured_prefill and s.predicted_prefill:
                # the prompt's prediction weighs no bytes by that table: it still calibrates
                s = _without_decode(s)
                notes[k] = f"decode left out, prompt kept: {other}"
            elif other:
                why = other
        if why:
            verdicts[k] = SampleVerdict(id=s.id, label=s.label, used=False, reason=why)
        else:
            pool.append((k, s))
    # repeats: the reference is the median (3+ runs) or the faster of two
    groups: dict[str, list[tuple[str, SpeedSample]]] = {}
    for k, s in pool:
        groups.setdefault(s.group or k, []).append((k, s))
    kept: list[tuple[str, SpeedSample]] = []
    for members in groups.values():
        speeds = sorted(s.measured_decode or s.measured_prefill or 0.0 for _, s in members)
        ref = statistics.median(speeds) if len(speeds) >= 3 else speeds[-1]
        ok = []
        for k, s in members:
            v = s.measured_decode or s.measured_prefill or 0.0
            if ref and v < ref * (1 - REPEAT_SPREAD):
                verdicts[k] = SampleVerdict(
                    id=s.id,
                    label=s.label,
                    used=False,
                    reason=(
                        f"{v:.1f} tok/s, {1 - v / ref:.0%} below the other runs of the same model "
                        f"({ref:.1f}): contention"
                    ),
                )
            else:
                ok.append((k, s))
        if not ok:
            continue
        ok.sort(key=lambda ks: ks[1].measured_decode or ks[1].measured_prefill or 0.0)
        mid = ok[(len(ok) - 1) // 2]
        kept.append(mid)
        for k, s in ok:
            if k != mid[0]:
                verdicts[k] = SampleVerdict(
                    id=s.id, label=s.label, used=True, reason=f"repeat: the median of {len(ok)} runs is fitted"
                )

    # a run the others disagree with: the worst leave-one-out miss, left out only when the
    # rest then agree among themselves (so one odd run cannot drag good ones out with it)
    def miss(s: SpeedSample, others: list[SpeedSample]) -> float:
        measured = s.measured_decode
        if not measured:
            return 0.0
        if s.bandwidth_bound and not any(o.bandwidth_bound for o in others):
            return 0.0  # only bandwidth-bound runs fit the bandwidth: small runs cannot judge one
        q = fit_factors(others).decode_tokens_per_s(s)
        return abs(q - measured) / measured if q else 0.0

    while len(kept) >= 4:
        misses = {k: (miss(s, [x for kk, x in kept if kk != k]), s) for k, s in kept}
        worst = max(misses, key=lambda k: misses[k][0])
        err, ws = misses[worst]
        if err <= FAR_FROM_OTHERS:
            break
        rest = [(k, s) for k, s in kept if k != worst]
        if any(miss(s, [x for kk, x in rest if kk != k]) > FAR_FROM_OTHERS for k, s in rest):
            break  # the others disagree too: the model, not one run, is off
        q = fit_factors([s for _, s in rest]).decode_tokens_per_s(ws)
        verdicts[worst] = SampleVerdict(
            id=ws.id,
            label=ws.label,
            used=False,
            reason=(
                f"far from this machine's other runs: measured {ws.measured_decode:.1f} tok/s, "
                f"the others predict {q:.1f}"
            ),
        )
        kept = rest
    for k, s in kept:
        verdicts.setdefault(k, SampleVerdict(id=s.id, label=s.label, used=True, reason=notes.get(k, "")))
    return [s for _, s in kept], [verdicts[k] for k in order]


def _median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def _ratios(samples: Sequence[SpeedSample], kind: str) -> list[float]:
    """Measured ÷ predicted speed; for decode, of the graph's step alone (the server's
    sampling, counted apart, off both), which is what a factor scales."""
    out = []
    for s in samples:
        p, m = getattr(s, f"predicted_{kind}"), getattr(s, f"measured_{kind}")
        if p and m and p > 0 and m > 0:
            cut = (s.decode_sampling_s or 0.0) if kind == "decode" else 0.0
            if 1 / m > cut and 1 / p > cut:
                out.append((1 / p - cut) / (1 / m - cut))
    return out


class _DecodeRun(NamedTuple):
    """The decode figures of a run that has them all (the line fit needs every one).

    Steps are the graph's seconds per token: the server's sampling, counted apart, is off
    both the measured and the predicted one."""

    read_bytes: float
    measured_step: float
    assumed_bandwidth: float
    predicted_step: float
    bandwidth_bound: bool
    kv_bytes: float
    attn_s: float


def attention_excess(read_kv: float, attn_s: float, bandwidth: float) -> float:
    """Seconds attention over the cache adds beyond reading its KV at ``bandwidth``: on a CPU
    its arithmetic (``attn_s``) outlasts the read (the speed model's max of the two)."""
    return max(0.0, attn_s - read_kv / bandwidth) if attn_s else 0.0


def fit_attention(samples: Sequence[SpeedSample]) -> tuple[float, float, int] | None:
    """(measured ÷ assumed attention speed, measured attention FLOP/s, models it rests on), or None.

    Only runs of one model and settings at two depths identify it (:attr:`SpeedSample.series`):
    the step's weights and fixed costs are the same at both, so the deeper run's extra
    seconds are attention alone, set against the extra the default rates predict. A pair
    qualifies when the deeper run's predicted attention is at least ``ATTENTION_SPREAD``
    times the shallower one's and it was slower by more than run-to-run noise
    (``ATTENTION_RESOLUTION``); repeats at a depth count by
    their median, a factor beyond ``ATTENTION_PLAUSIBLE`` either way is taken for noise, and
    the median over models is taken. One depth, or depths too close, fit nothing: the
    default rates stay."""
    series: dict[str, list[SpeedSample]] = {}
    for s in samples:
        if s.series and s.measured_decode and s.decode_attn_s is not None and s.decode_attn_flops is not None:
            series.setdefault(s.series, []).append(s)
    factors, rates = [], []
    for runs in series.values():
        # repeats at one depth: the median step time (one noisy repeat would set the rate)
        depths: dict[float, list[SpeedSample]] = {}
        for s in runs:
            depths.setdefault(round(s.decode_attn_s or 0.0, 9), []).append(s)
        a_lo, a_hi = min(depths), max(depths)
        if a_hi <= 0 or a_hi < ATTENTION_SPREAD * a_lo:
            continue
        lo, hi = depths[a_lo], depths[a_hi]
        dt = _median([1.0 / (s.measured_decode or 1.0) for s in hi]) - _median(
            [1.0 / (s.measured_decode or 1.0) for s in lo]
        )
        shallow_step = _median([1.0 / (s.measured_decode or 1.0) for s in lo])
        if dt <= ATTENTION_RESOLUTION * shallow_step:  # no slower than run-to-run noise: nothing to fit
            continue
        factor = (a_hi - a_lo) / dt
        if not (1 / ATTENTION_PLAUSIBLE <= factor <= ATTENTION_PLAUSIBLE):
            continue  # a few ms of noise between the depths, not attention: keep the default
        factors.append(factor)
        flops = _median([s.decode_attn_flops or 0.0 for s in hi]) - _median([s.decode_attn_flops or 0.0 for s in lo])
        rates.append(flops / dt)
    if not factors:
        return None
    return _median(factors), _median(rates), len(factors)


def fit_factors(samples: Sequence[SpeedSample]) -> MachineFactors:
    """This machine's decode line (effective bandwidth + per-token overhead) and prefill
    compute factor, each fitted only from the runs whose regime it describes.

    Bandwidth: the median of bytes read × measured tokens/s over bandwidth-bound runs
    (≥ 1 GiB a token), after the per-token overhead. Overhead: the median time per token
    beyond bytes ÷ bandwidth over the smaller runs. With no bandwidth-bound run the
    bandwidth stays as the public calibration assumes; with only ratios (no bytes), the
    median of measured ÷ predicted, as also where the small runs outran the published
    bandwidth (a line through it would need a negative overhead). Prefill: the median of
    measured ÷ predicted. A server's sampling over the vocabulary, which each run's
    prediction counted apart, comes off its measured step first: the line is the graph's,
    as the public model's is, and two models of different vocabularies fit one line.
    """
    d, p = _ratios(samples, "decode"), _ratios(samples, "prefill")
    factors = MachineFactors(
        bandwidth_factor=_median(d) if d else 1.0,
        compute_factor=_median(p) if p else 1.0,
        n_decode=len(d),
        n_prefill=len(p),
    )
    attention = fit_attention(samples)
    a_factor = attention[0] if attention else 1.0
    if attention:
        factors = factors.model_copy(
            update={
                "attention_factor": attention[0],
                "attention_gflops": attention[1] / 1e9,
                "n_attention": attention[2],
            }
        )
    # bytes as read at the repacked weights' speed: a Q4_1 model's 97 MB take as long as
    # 143 MB of repacked Q4_0, and one line then fits models of different weight types
    with_bytes = [
        _DecodeRun(
            s.decode_read_bytes / (s.decode_kernel_factor or 1.0),
            1 / s.measured_decode - (s.decode_sampling_s or 0.0),
            s.assumed_bandwidth,
            1 / s.predicted_decode - (s.decode_sampling_s or 0.0),
            s.bandwidth_bound,
            (s.decode_kv_bytes or 0.0) / (s.decode_kernel_factor or 1.0),
            s.decode_attn_s or 0.0,
        )
        for s in samples
        if s.decode_read_bytes and s.measured_decode and s.assumed_bandwidth and s.predicted_decode
    ]
    if not with_bytes:
        return factors
    assumed = _median([s.assumed_bandwidth for s in with_bytes])

    def excess(s: _DecodeRun, bw: float, factor: float) -> float:
        return attention_excess(s.kv_bytes, s.attn_s / factor, bw)

    # the public model's per-token overhead, implied by its own prediction
    public_over = _median(
        [
            max(0.0, s.predicted_step - s.read_bytes / s.assumed_bandwidth - excess(s, s.assumed_bandwidth, 1.0))
            for s in with_bytes
        ]
    )
    big = [s for s in with_bytes if s.bandwidth_bound]
    small = [s for s in with_bytes if not s.bandwidth_bound]
    if (
        not big
        and _median([s.measured_step - s.read_bytes / assumed - excess(s, assumed, a_factor) for s in small]) < 0
    ):
        # the small runs read their bytes faster than the published rate allows even with no
        # fixed cost at all (a core that streams faster than the public rows' ones): no line
        # through that rate fits them, and none of them can set the bandwidth, so the
        # measured ÷ predicted ratio scales the whole step
        return factors
    bw, over = assumed, public_over
    for _ in range(200):  # each regime pins its own parameter; alternate until both settle
        if big:
            bw = _median([s.read_bytes / max(1e-9, s.measured_step - over - excess(s, bw, a_factor)) for s in big])
        new = (
            _median([max(0.0, s.measured_step - s.read_bytes / bw - excess(s, bw, a_factor)) for s in small])
            if small
            else over
        )
        if abs(new - over) < 1e-15:
            break
        over = new
    return factors.model_copy(
        update={
            "effective_bandwidth_gbs": bw / 1e9,
            "decode_overhead_ms": over * 1e3,
            "bandwidth_factor": bw / assumed,
            "n_bandwidth_bound": len(big),
        }
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
    verdicts: tuple[SampleVerdict, ...] = ()

    @property
    def excluded(self) -> list[SampleVerdict]:
        return [v for v in self.verdicts if not v.used]


def _mean_abs(xs: list[float]) -> float | None:
    return sum(abs(x) for x in xs) / len(xs) if xs else None


def calibration_report(samples: Sequence[SpeedSample], verdicts: Sequence[SampleVerdict] = ()) -> CalibrationReport:
    """Mean absolute relative speed error before and after fitting this machine's factors.

    After-errors are leave-one-out: each run is predicted with factors fitted to the
    others. With a single run there is nothing to leave out, so its after-error is None.
    ``samples`` are the screened runs (:func:`screen`); ``verdicts`` are kept with the
    report so the reasons runs were left out can be shown.
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
        "(decode: bandwidth from runs reading >= 1 GiB a token, per-token overhead from the "
        "smaller ones, else a median ratio; prefill: a median ratio)",
        verdicts=tuple(verdicts),
    )
