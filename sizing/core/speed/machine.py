"""This machine's own speed calibration, folded into the speed model — pure.

The speed model (``sizing.core.speed.estimate``) is calibrated on public llama-bench results: the
average machine of each backend. Live checks (``sizing.live``) measure this machine,
and ``sizing.live.calibrate`` fits its factors from the stored runs. This module is the
core side of that loop: the factors as data (:class:`MachineFactors`), what they were
fitted from (:class:`MachineCalibration`: how many runs, the last one's date), and the
pure functions that turn a public calibration plus those factors into the calibration
and device rates an estimate uses. Loading the runs is the adapters' job; nothing here
reads a file.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sizing.core.machine import Hardware
from sizing.core.speed.estimate import CalibrationSet, effective_bandwidth
from sizing.core.traffic import DeviceRate


class MachineFactors(BaseModel):
    """This machine's speed relative to what the speed model assumes (1.0 = as assumed)."""

    model_config = ConfigDict(frozen=True)

    bandwidth_factor: float = 1.0
    compute_factor: float = 1.0
    n_decode: int = 0
    n_prefill: int = 0
    # from the two-parameter decode fit (None: one-factor fallback)
    effective_bandwidth_gbs: float | None = None
    decode_overhead_ms: float | None = None
    n_bandwidth_bound: int = Field(0, description="runs large enough to fit the bandwidth")
    # CPU attention over the KV cache, from runs of one model at two depths (None: the default rate)
    attention_factor: float | None = Field(
        None, gt=0, description="measured ÷ assumed attention speed (the default's seconds ÷ the measured ones)"
    )
    attention_gflops: float | None = Field(None, gt=0, description="the attention FLOP/s those runs measured")
    n_attention: int = Field(0, description="models run at two depths that the attention rate rests on")

    def attention_detail(self) -> str:
        if self.attention_factor and self.attention_gflops:
            models = f"{self.n_attention} model{'s' if self.n_attention != 1 else ''} at two depths"
            return f"attention {self.attention_gflops:.1f} GFLOP/s (×{self.attention_factor:.2f} the default, {models})"
        return "attention at the default rate (no runs at two depths that fit one)"

    def detail(self) -> str:
        if self.effective_bandwidth_gbs:
            src = (
                f"from {self.n_bandwidth_bound} bandwidth-bound run{'s' if self.n_bandwidth_bound != 1 else ''}"
                if self.n_bandwidth_bound
                else "as published: no bandwidth-bound run yet"
            )
            bw = (
                f"effective bandwidth {self.effective_bandwidth_gbs:.1f} GB/s ({src}) + "
                f"{self.decode_overhead_ms:.2f} ms/token"
            )
        else:
            bw = f"bandwidth ×{self.bandwidth_factor:.2f}"
        return (
            f"{bw} ({self.n_decode} runs), {self.attention_detail()}, "
            f"compute ×{self.compute_factor:.2f} ({self.n_prefill} runs)"
        )

    def label(self) -> str:
        return f"this machine: {self.detail()}"

    def decode_tokens_per_s(self, sample: Any) -> float | None:
        """The calibrated decode prediction for a run (a ``sizing.live.calibrate.SpeedSample``)."""
        if self.effective_bandwidth_gbs and sample.decode_read_bytes:
            # the fitted bandwidth is the repacked weights'; the run's types read at their own speed
            bw = self.effective_bandwidth_gbs * 1e9 * (sample.decode_kernel_factor or 1.0)
            step = sample.decode_read_bytes / bw + (self.decode_overhead_ms or 0) / 1e3
            if sample.decode_attn_s:  # attention beyond its KV read (a CPU at depth)
                attn = sample.decode_attn_s / (self.attention_factor or 1.0)
                step += max(0.0, attn - (sample.decode_kv_bytes or 0.0) / bw)
            # a server's sampling over the vocabulary: no part of the fitted line
            step += sample.decode_sampling_s or 0.0
            return 1.0 / step
        if not sample.predicted_decode:
            return None
        # the factor scales the graph's step; a server's sampling stays as counted
        cut = sample.decode_sampling_s or 0.0
        return 1.0 / ((1.0 / sample.predicted_decode - cut) / self.bandwidth_factor + cut)


def apply_factors(
    rate: DeviceRate, calib: CalibrationSet, factors: MachineFactors
) -> tuple[DeviceRate, CalibrationSet]:
    """(DeviceRate, CalibrationSet) with this machine's factors folded in — pure.

    Decode with a fitted line: the device bandwidth is set so bandwidth × the backend's
    efficiency equals the fitted effective bandwidth, and the per-token overhead is the
    fitted one (which holds the fixed cost per layer too). With one factor: bandwidth × f
    and the fixed costs ÷ f (and the CPU attention rate × f), so a decode step
    takes exactly 1/f as long. A fitted attention factor scales the CPU attention rate. Prefill: the effective compute × g (per-thread rate on
    CPUs, efficiency on accelerators); its memory floor moves with the bandwidth.
    """
    g = factors.compute_factor
    backend = rate.backend
    c = calib.for_device(rate)
    line = False
    if factors.effective_bandwidth_gbs and factors.decode_overhead_ms is not None:
        line = True
        # the fixed cost this machine's runs measured is per token, and holds every per-layer one
        # (the time per layer and CUDA's bytes per layer alike); the line's bandwidth is the
        # repacked weights' (each run's bytes were counted at its types' speed), so the per-type
        # speeds stay
        f = factors.effective_bandwidth_gbs * 1e9 / effective_bandwidth(rate, calib)
        update: dict[str, object] = {
            "decode_overhead_ms": factors.decode_overhead_ms,
            "decode_layer_ms": 0.0,
            "decode_layer_mb": 0.0,
        }
    else:  # bytes per layer scale with the bandwidth by themselves
        f = factors.bandwidth_factor
        update = {"decode_overhead_ms": c.decode_overhead_ms / f, "decode_layer_ms": c.decode_layer_ms / f}
    new_rate = rate.model_copy(update={"bandwidth_gbs": rate.bandwidth_gbs * f})
    per_thread = c.decode_gbs_per_thread or (calib.get("cpu").decode_gbs_per_thread if rate.kind == "cpu" else None)
    if per_thread is not None:  # the thread-limited rate moves with the bandwidth
        update["decode_gbs_per_thread"] = per_thread * f
    per_ghz = c.decode_gb_per_ghz or (calib.get("cpu").decode_gb_per_ghz if rate.kind == "cpu" else None)
    if per_ghz is not None:
        update["decode_gb_per_ghz"] = per_ghz * f
    # the attention rate this machine's runs measured; with one factor, it moves with the rest
    # of the step (which then takes exactly 1/f as long)
    # (resolved from the CPU backend's entry where the device's own has none, even unscaled: the
    # calibrated entry replaces the backend's too, so a fallback left out here would be lost)
    a = factors.attention_factor or (1.0 if line else f)
    if rate.kind == "cpu":  # a faster attention: more FLOPs per cycle, fewer cycles per cell
        cpu_c = calib.get("cpu")
        per_cycle = c.decode_attn_flop_per_cycle or cpu_c.decode_attn_flop_per_cycle
        per_cell = c.decode_attn_cycles_per_head_cell
        if per_cell is None:
            per_cell = cpu_c.decode_attn_cycles_per_head_cell
        if per_cycle is not None:
            update["decode_attn_flop_per_cycle"] = per_cycle * a
        if per_cell is not None:
            update["decode_attn_cycles_per_head_cell"] = per_cell / a
    for key in ("prefill_efficiency", "prefill_gflops_per_thread", "prefill_gflop_per_ghz", "prefill_gflops_per_gbs"):
        v = getattr(c, key)
        if v is not None:
            # gflops_per_gbs is multiplied by the (already scaled) bandwidth: undo that.
            update[key] = v * g / (f if key == "prefill_gflops_per_gbs" else 1.0)
    if c.prefill_gflops_per_thread is None and rate.kind == "cpu":
        cpu = calib.get("cpu").prefill_gflops_per_thread
        if cpu is not None:
            update["prefill_gflops_per_thread"] = cpu * g
    if c.prefill_gflop_per_ghz is None and rate.kind == "cpu":
        cpu_ghz = calib.get("cpu").prefill_gflop_per_ghz
        if cpu_ghz is not None:
            update["prefill_gflop_per_ghz"] = cpu_ghz * g
    new_c = c.model_copy(update=update)
    backends = dict(calib.backends)
    backends[backend] = new_c
    key = calib.key(backend, rate.kind, rate.family, rate.chip)
    if key != backend:  # the device class's or architecture's own entry is what get() finds
        backends[key] = new_c
    new_calib = calib.model_copy(
        update={
            "backends": backends,
            "name": f"{calib.name} + {factors.label()}",
        }
    )
    return new_rate, new_calib


class MachineCalibration(BaseModel):
    """This machine's fitted factors for one llama.cpp backend, and what they rest on."""

    model_config = ConfigDict(frozen=True)

    backend: str = Field(description="the backend the runs used (the devices it applies to)")
    factors: MachineFactors
    n_runs: int = Field(gt=0, description="runs fitted (after screening)")
    last_run: str = Field(description="date of the newest fitted run, YYYY-MM-DD (UTC)")
    excluded: tuple[str, ...] = Field((), description="runs left out, each with the reason")
    store_warnings: tuple[str, ...] = Field((), description="run-store lines skipped, each named")

    def label(self) -> str:
        runs = f"{self.n_runs} run{'s' if self.n_runs != 1 else ''}"
        left = f", {len(self.excluded)} left out" if self.excluded else ""
        return f"this machine: {runs}{left}, last on {self.last_run} ({self.backend}: {self.factors.detail()})"


def calibrate_hardware(
    hardware: Hardware, calib: CalibrationSet, machine: MachineCalibration | None
) -> tuple[Hardware, CalibrationSet]:
    """The hardware and calibration an estimate on this machine should use.

    The factors apply to the devices that run the calibrated backend (effective
    bandwidth per device, per-token overhead and effective compute for the backend);
    the calibration's name then says so. Without factors, or when no device runs that
    backend, both come back unchanged and the public calibration keeps its name.
    """
    if machine is None:
        return hardware, calib
    devices = [*hardware.gpus, hardware.host]
    matching = [d for d in devices if d.backend == machine.backend]
    if not matching:
        return hardware, calib
    _, new_calib = apply_factors(matching[0].rate(), calib, machine.factors)
    runs = f"{machine.n_runs} live check{'s' if machine.n_runs != 1 else ''} stored on this machine"
    new_calib = new_calib.model_copy(update={"name": f"{calib.name} + {machine.label()}", "machine": runs})

    def scaled(d):
        if d.backend != machine.backend:
            return d
        rate, _ = apply_factors(d.rate(), calib, machine.factors)
        return d.model_copy(update={"bandwidth_gbs": rate.bandwidth_gbs})

    new_hw = hardware.model_copy(
        update={
            "gpus": tuple(scaled(d) for d in hardware.gpus),
            "host": scaled(hardware.host),
            "notes": (
                *hardware.notes,
                f"speed calibrated to {machine.label()}",
                *(f"calibration left out {x}" for x in machine.excluded[:5]),
                *(f"run store {w}" for w in machine.store_warnings[:5]),
            ),
        }
    )
    return new_hw, new_calib
