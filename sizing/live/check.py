"""A whole live check, as the CLI and the UI call it: ``run_check(model, ...)``.

1. Decide what to run: a GGUF the user has (a path, or a name found in the configured
   model directories and the Hugging Face / Ollama / LM Studio caches), or, for a
   catalog id, a synthetic GGUF of that architecture and quant (marked synthetic).
2. Estimate it with the same core the rest of the app uses (``sizing.estimate``), and,
   on CPU, predict its speed with ``sizing.core.speed.estimate`` from this machine's probed bandwidth.
3. Refuse, before anything loads, a run the estimate says will not fit in free RAM or
   VRAM, or a synthetic file the disk cannot take; hold the one-run-per-machine lock.
4. Run it through a Runner (separate process, timeout, cancellable, progress events).
5. Compare part by part, store the run, refit this machine's speed factors, and report
   the speed error before and after.

Web mode: model paths must resolve inside the allowed directories and catalog ids
never write files.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from sizing.core.arch import ModelArch
from sizing.core.traffic import DeviceRate
from sizing.errors import SizingError
from sizing.hardware.this_machine import cpu_rate, machine_record
from sizing.live import calibrate, store
from sizing.live.isolation import (
    FreeMemory,
    MemoryNeed,
    free_disk_bytes,
    free_memory,
    child_holds,
    machine_lock,
    memory_guard,
)
from sizing.live.load import LoadMonitor
from sizing.live.models import find_local_gguf, require_gguf
from sizing.live.runner import Check, Measurement, ProgressCallback, Runner, RunnerInfo
from sizing.live.select import select_runner
from sizing.live.safety import require_allowed_path
from sizing.units import MIB

# Disk a synthetic file may need beyond its header: the writer's buffers, the filesystem.
SYNTHETIC_DISK_MARGIN = 64 * MIB


class VerifyResult(BaseModel):
    """Estimate, measurement, their differences, and what this machine learned."""

    model_config = ConfigDict(frozen=True)

    model: str
    model_path: str | None
    synthetic: bool
    synthetic_disk_bytes: int | None = None
    estimate: dict[str, Any]
    measured: Measurement | None
    comparison: tuple[calibrate.PartComparison, ...] = ()
    errors: dict[str, float | None] = {}
    runner: RunnerInfo | None = None
    refused: str | None = None
    calibration: calibrate.CalibrationReport | None = None
    calibrated_speed: dict[str, float | str] | None = None
    stored_in: str | None = None
    run_id: str | None = None
    load: dict[str, Any] | None = None

    @property
    def verdict(self) -> calibrate.SampleVerdict | None:
        """Whether this run feeds the calibration, and why not."""
        if self.calibration is None or self.run_id is None:
            return None
        return next((v for v in self.calibration.verdicts if v.id == self.run_id), None)

    @property
    def status(self) -> str:
        if self.refused:
            return "refused"
        return self.measured.status if self.measured else "failed"

    def to_json(self) -> dict[str, Any]:
        """The CLI's ``--json`` object."""
        m = self.measured
        measured = None
        if m is not None:
            parts = calibrate.measured_parts(m.model_dump())
            measured = {
                **parts,
                "output_bytes": m.output_bytes,
                "peak_rss_bytes": m.peak_rss_bytes,
                "gpu_memory_delta_bytes": m.gpu_memory_delta_bytes,
                "load_s": m.load_s,
                "prefill_tokens_per_s": m.prefill_tokens_per_s,
                "decode_tokens_per_s": m.decode_tokens_per_s,
                "n_prompt": m.n_prompt,
                "n_gen": m.n_gen,
                "ctx": m.ctx,
                "devices": [d.model_dump() for d in m.devices],
                "status": m.status,
                "message": m.message,
                "partial": m.partial,
            }
        return {
            "model": self.model,
            "model_path": self.model_path,
            "status": self.status,
            "refused": self.refused,
            "synthetic": self.synthetic,
            "synthetic_disk_bytes": self.synthetic_disk_bytes,
            "runner": self.runner.model_dump() if self.runner else None,
            "estimate": self.estimate,
            "measured": measured,
            "errors": self.errors,
            "comparison": [{**c.model_dump(), "within_tolerance": c.within} for c in self.comparison],
            "calibration": self.calibration.model_dump() if self.calibration else None,
            "calibrated_speed": self.calibrated_speed,
            "stored_in": self.stored_in,
            "run_id": self.run_id,
            "load": self.load,
            "calibration_verdict": self.verdict.model_dump() if self.verdict else None,
        }


def _looks_like_path(spec: str) -> bool:
    """A file path rather than a catalog id ('org/name' ids contain a slash too)."""
    return (
        spec.lower().endswith(".gguf")
        or spec.startswith((".", "~", "/", "\\"))
        or (len(spec) > 1 and spec[1] == ":")
        or Path(spec).exists()
    )


def locate_model(
    spec: str,
    *,
    synthetic: bool = False,
    web_mode: bool = False,
    allowed_dirs: list[Path] | None = None,
) -> tuple[Path | None, str]:
    """(GGUF path or None for synthetic, catalog id or path string) for what the user named."""
    if web_mode:
        if _looks_like_path(spec):
            return require_gguf(require_allowed_path(spec, allowed_dirs or [])), spec
        return None, spec  # a catalog id: synthetic, checked against the catalog later
    if synthetic:
        return None, spec
    if _looks_like_path(spec):
        return require_gguf(Path(spec).expanduser()), spec
    found = find_local_gguf(spec) if "/" not in spec else None
    if found is not None:
        return require_gguf(found), str(found)
    return None, spec


def kernel_isa(cpu_flags: list[str] | tuple[str, ...], runner: Any) -> str:
    """The vector ISA llama.cpp's CPU kernels use in this runner on this CPU: the CPU's,
    capped by what the embedded build was compiled for (an external llama.cpp is taken
    as a native build)."""
    from sizing.core.speed.cpu import isa_from_flags, usable_isa

    build = None
    if getattr(runner, "name", "") == "embedded":
        from sizing.live.build_isa import embedded_build_features

        feats = embedded_build_features()
        build = isa_from_flags(feats) if feats else None
    return usable_isa(isa_from_flags(cpu_flags), build)


def hardware_summary() -> tuple[dict[str, Any], DeviceRate | None]:
    """What the run store records about this machine, and the CPU DeviceRate for speed."""
    from sizing.hardware.detect import detect_machine

    m = detect_machine(probe_bandwidth=True)
    return machine_record(m), cpu_rate(m)


def predict_speed(
    est, rate, *, n_prompt: int, n_gen: int = 0, calib=None, backend: str = "cpu"
) -> dict[str, Any] | None:
    """Expected decode and prefill tokens/s on ``rate`` (a CPU DeviceRate), or None.

    Decode is predicted where the run decodes: after the ``n_prompt`` prompt tokens, at
    the mean depth of its ``n_gen`` tokens. Each token there reads that much KV cache too,
    which on a small model is a tenth of its bytes at a 512-token prompt; predicted at an
    empty cache, a run with a long prompt and one with a short one disagree, and a
    calibration fitted from one mispredicts the other. ``backend``: the runner's; a GPU
    build run with no layers offloaded still keeps the weights in its pinned host buffer,
    not CPU_REPACK's (:func:`sizing.core.placement.host_repacks`)."""
    if rate is None:
        return None
    from sizing.core.speed.calibration import load_calibration
    from sizing.core.speed.sampling import host_sampling
    from sizing.core.tensors import tensors_for
    from sizing.core.quant import apply_recipe
    from sizing.core.speed.estimate import (
        cpu_attention_seconds,
        decode_kernel_table,
        decode_step_seconds,
        effective_bandwidth,
        estimate_speed,
        work_bandwidth,
    )
    from sizing.core.traffic import model_traffic, single_device_work
    from sizing.core.placement import host_repacks

    sc = est.scenario
    tensors = sc.tensors
    if tensors is None or any(t.ggml_type is None for t in tensors):
        tensors = apply_recipe(sc.model, tensors_for(sc.model), sc.quant)
    calib = calib or load_calibration()
    traffic = model_traffic(sc.model, tensors, sc.kv_type_k, sc.kv_type_v)
    # --no-repack, or a GPU build's pinned host buffer: the weights run the plain dot products
    repacked = host_repacks(sc.repack, [] if backend == "cpu" else [backend])
    work = single_device_work(traffic, rate).model_copy(update={"repacked": repacked})
    sp = estimate_speed([work], calib, ctx=sc.ctx, prompt_tokens=n_prompt, n_ubatch=sc.n_ubatch)
    depth = min(sc.ctx - 1, n_prompt + max(0, n_gen) // 2)
    step, per = decode_step_seconds([work], calib, depth=depth)
    assumed = effective_bandwidth(rate, calib)
    # the run is a server's: it samples each token over the vocabulary, which llama-bench's
    # rows (and so the step above) leave out
    sampling = host_sampling()
    sampling_s = sampling.seconds(sc.model.vocab_size, rate.clock_ghz)
    return {
        "decode_tokens_per_s": 1.0 / (step + sampling_s),
        "decode_sampling_s": sampling_s,
        "decode_sampling": sampling.describe(sc.model.vocab_size, rate.clock_ghz),
        "decode_depth": depth,
        "prefill_tokens_per_s": sp.prefill_tokens_per_s.expected,
        "decode_read_bytes": sum(d.read_bytes for d in per),
        "decode_kv_bytes": sum(d.kv_read_bytes for d in per),
        "decode_attention_flops": sum(d.attention_flops for d in per),
        "decode_attention_s": sum(d.attention_seconds for d in per),
        "assumed_bandwidth": assumed,
        # how fast its threads read this model's weight types against repacked Q4 (the
        # assumed bandwidth's): a fitted line of this machine's keeps the same ratio
        "decode_kernel_factor": work_bandwidth(work, calib) / assumed,
        "decode_kernel_table": decode_kernel_table(rate, calib)[0],
        # the attention arithmetic alone at the default rates (what a fitted factor scales)
        "decode_attention_compute_s": cpu_attention_seconds(work, calib, depth),
        "calibration": sp.calibration,
    }


def _load_of(r: store.RunRecord) -> dict[str, float | None]:
    """Contention figures of a stored run: the worse of before and during."""
    load = r.load or {}
    windows = [w for w in (load.get("before"), load.get("during")) if isinstance(w, dict)]
    if not windows:
        return {}

    def worst(key: str) -> float | None:
        vals = [v for w in windows if isinstance(v := w.get(key), int | float)]
        return max(vals) if vals else None

    gpu = [v for v in ((load.get("before") or {}).get("gpu_utilisation") or {}).values() if isinstance(v, int | float)]
    cpus = worst("cpus")
    threads = (r.scenario or {}).get("n_threads") or r.hardware.get("threads") or cpus
    return {
        "load_average": worst("load_average"),
        "threads": int(threads) if isinstance(threads, int | float) and threads > 0 else None,
        "others_busy_cores": worst("others_busy_cores"),
        "steal_share": worst("steal_share"),
        "spare_cores": (cpus - threads) if isinstance(cpus, int | float) and isinstance(threads, int | float) else None,
        "gpu_busy": max(gpu) if gpu and r.runner.get("backend") != "cpu" else None,
    }


def _kernel_table_of_run(r: store.RunRecord) -> str | None:
    """The decode kernel table a stored run's CPU prediction took: as recorded; 'default' for a
    CPU run predicted before runs recorded it; None where no CPU decode was predicted (a GPU
    run, a run without a prediction) or the stored value is not a name."""
    recorded = r.estimate.get("predicted_decode_kernel_table")
    if recorded is not None:
        return recorded if isinstance(recorded, str) and recorded else None
    if r.runner.get("backend") == "cpu" and r.estimate.get("predicted_decode_tokens_per_s"):
        return "default"
    return None


def sample_of(r: store.RunRecord, hw: dict | None = None) -> calibrate.SpeedSample:
    """A stored run as a speed sample: prediction, measurement, load, and its group of repeats.

    ``hw`` (this machine's record) dates a CPU run stored before runs recorded the clock
    their prediction counted: such a run counted the clock the OS states."""
    sc = r.scenario or {}
    clock = None
    if r.runner.get("backend") == "cpu":
        clock = r.hardware["clock_ghz"] if "clock_ghz" in r.hardware else (hw or {}).get("clock_stated_ghz")
    threads = sc.get("n_threads") or r.hardware.get("threads")
    label = f"{Path(r.model).name} {r.quant or ''} ({threads or '?'} threads, {r.runner.get('backend', '?')})"
    # the same step at any depth: same model, threads, offload, backend, attention path and cache type
    series = (
        r.model,
        r.quant,
        threads,
        sc.get("n_gpu_layers"),
        r.runner.get("backend"),
        sc.get("flash_attn"),
        sc.get("kv_type_k"),
        sc.get("kv_type_v"),
    )
    group = "|".join(str(x) for x in (*series, sc.get("n_prompt"), sc.get("n_gen")))
    return calibrate.SpeedSample(
        id=r.id,
        label=label.replace("  ", " "),
        group=group,
        synthetic=r.synthetic,
        calibration_run=r.purpose == "calibration",
        predicted_decode=r.estimate.get("predicted_decode_tokens_per_s"),
        measured_decode=r.measured.get("decode_tokens_per_s"),
        predicted_prefill=r.estimate.get("predicted_prefill_tokens_per_s"),
        measured_prefill=r.measured.get("prefill_tokens_per_s"),
        decode_read_bytes=r.estimate.get("predicted_decode_read_bytes"),
        assumed_bandwidth=r.estimate.get("assumed_effective_bandwidth"),
        decode_kv_bytes=r.estimate.get("predicted_decode_kv_bytes"),
        decode_attn_flops=r.estimate.get("predicted_decode_attention_flops"),
        decode_attn_s=r.estimate.get("predicted_decode_attention_compute_s"),
        decode_sampling_s=r.estimate.get("predicted_decode_sampling_s"),
        decode_kernel_factor=r.estimate.get("predicted_decode_kernel_factor"),
        series="|".join(str(x) for x in series),
        clock_ghz=clock if isinstance(clock, int | float) and clock > 0 else None,
        kernel_table=_kernel_table_of_run(r),
        **_load_of(r),
    )


def machine_runs(runs: list[store.RunRecord], hw: dict, backend: str) -> list[store.RunRecord]:
    """Stored runs that finished on this hardware with this backend."""
    return [
        r
        for r in runs
        if r.status == "ok"
        and r.runner.get("backend") == backend
        and r.hardware.get("cpu") == hw.get("cpu")
        and r.hardware.get("gpus") == hw.get("gpus")
    ]


def _samples(runs: list[store.RunRecord], hw: dict, backend: str) -> list[calibrate.SpeedSample]:
    """Speed samples of stored runs on this hardware and backend that finished."""
    return [sample_of(r, hw) for r in machine_runs(runs, hw, backend)]


def kernel_table_of(hw: dict) -> str:
    """The decode kernel table today's CPU predictions use on this machine (its record's
    vendor and kernel ISA), by the same lookup a prediction makes."""
    from sizing.core.speed.calibration import load_calibration
    from sizing.core.speed.estimate import cpu_decode_table_name

    vendor, isa = hw.get("cpu_vendor"), hw.get("kernel_isa")
    return cpu_decode_table_name(
        vendor if isinstance(vendor, str) else None, isa if isinstance(isa, str) else None, load_calibration()
    )


def screened_report(runs: list[store.RunRecord], hw: dict, backend: str) -> calibrate.CalibrationReport | None:
    """This machine's calibration from its stored runs: screened (contention, synthetic,
    outliers, repeats), fitted, and judged leave-one-out; None before any run."""
    samples = _samples(runs, hw, backend)
    if not samples:
        return None
    # the table is checked on every run that recorded one (a GPU-backend run with no layer
    # offloaded was predicted on the CPU too)
    kept, verdicts = calibrate.screen(
        samples,
        clock_ghz=hw.get("clock_ghz") if backend == "cpu" else None,
        kernel_table=kernel_table_of(hw),
    )
    return calibrate.calibration_report(kept, verdicts)


def run_check(
    model: str,
    *,
    quant: str | None = None,
    ctx: int = 4096,
    runner: str | Runner = "auto",
    timeout_s: float = 300.0,
    n_prompt: int = 512,
    n_gen: int = 128,
    kv_type: str = "f16",
    batch: int = 2048,
    ubatch: int = 512,
    flash_attn: bool = True,
    n_gpu_layers: int = 0,
    n_threads: int | None = None,
    repetitions: int = 1,
    synthetic: bool = False,
    keep_synthetic: bool = False,
    purpose: Literal["check", "calibration"] = "check",
    save: bool = True,
    web_mode: bool = False,
    allowed_dirs: list[Path] | None = None,
    data_directory: Path | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    free: FreeMemory | None = None,
) -> VerifyResult:
    """Run one live check end to end. Bad input raises SizingError; llama.cpp failures don't.

    ``free`` overrides the measured free memory (the UI and tests pass what they know);
    a refusal is returned as ``VerifyResult.refused`` with the estimate's numbers.
    """
    from sizing.estimate import estimate
    from sizing.sources.catalog import load_catalog

    if not 0 < timeout_s < float("inf"):  # NaN fails this too
        raise SizingError(f"--timeout must be a positive number of seconds, got {timeout_s:g}")
    if not 1 <= repetitions <= 20:
        raise SizingError(f"--repetitions must be 1 to 20, got {repetitions}")
    if n_gpu_layers < -1:
        raise SizingError(f"--gpu-layers must be -1 (all) or a layer count ≥ 0, got {n_gpu_layers}")
    if n_threads is not None and n_threads <= 0:
        raise SizingError(f"--threads must be positive, got {n_threads}")
    for flag, v in (("--prompt-tokens", n_prompt), ("--gen-tokens", n_gen)):
        if v < 0:
            raise SizingError(f"{flag} must be zero or more, got {v}")
    the_runner = select_runner(runner) if isinstance(runner, str) else runner
    path, label = locate_model(model, synthetic=synthetic, web_mode=web_mode, allowed_dirs=allowed_dirs)
    # Offloaded layers are sized for the runner's GPU backend (no CPU repack copy there).
    est_backend = the_runner.backend if n_gpu_layers != 0 and the_runner.backend != "cpu" else "cpu"
    run_synthetic = path is None
    if run_synthetic and web_mode:
        raise SizingError(
            f"{model!r}: on a web server only files in the allowed model directories "
            "are run; synthetic models are written only when you run the check locally"
        )
    if path is None:  # run_synthetic
        arch = load_catalog().get(model)  # raises "unknown model … closest: …"
        target: str | ModelArch = arch
        label = arch.id
    else:
        target = str(path)
    # a file runs at its own quant; a synthetic model at the one asked for
    est = estimate(
        target,
        quant if path is None else None,
        ctx,
        kv_type=kv_type,
        batch=batch,
        ubatch=ubatch,
        flash_attn=flash_attn,
        backend=est_backend,
        offline=True,
    )
    if path is not None and quant is not None and quant.upper() != str(est.quant).upper():
        raise SizingError(
            f"--quant {quant}: {path.name} is {est.quant}; a file runs as it is "
            "(pass a catalog id to run a synthetic model at another quant)"
        )
    est_json = est.to_json()
    for key in ("items", "basis", "parts", "memory_by_device"):
        est_json.pop(key, None)

    hw, rate = hardware_summary()
    hw["kernel_isa"] = kernel_isa(hw.get("cpu_flags") or (), the_runner)
    if rate is not None:
        rate = rate.model_copy(update={"family": hw["kernel_isa"], **({"threads": n_threads} if n_threads else {})})
    backend = the_runner.backend
    on_cpu = backend == "cpu" or n_gpu_layers == 0
    base_speed = predict_speed(est, rate, n_prompt=n_prompt, n_gen=n_gen, backend=backend) if on_cpu else None
    if base_speed:
        est_json["predicted_decode_tokens_per_s"] = base_speed["decode_tokens_per_s"]
        est_json["predicted_prefill_tokens_per_s"] = base_speed["prefill_tokens_per_s"]
        est_json["speed_calibration"] = base_speed["calibration"]
        est_json["predicted_decode_read_bytes"] = base_speed["decode_read_bytes"]
        est_json["predicted_decode_depth"] = base_speed["decode_depth"]
        est_json["assumed_effective_bandwidth"] = base_speed["assumed_bandwidth"]
        # the decode step's attention over the cache at that depth: its own part, and what
        # a fit of this machine's attention rate needs (runs of one model at two depths)
        est_json["predicted_decode_kv_bytes"] = base_speed["decode_kv_bytes"]
        est_json["predicted_decode_attention_flops"] = base_speed["decode_attention_flops"]
        est_json["predicted_decode_attention_s"] = base_speed["decode_attention_s"]
        est_json["predicted_decode_attention_compute_s"] = base_speed["decode_attention_compute_s"]
        est_json["predicted_decode_sampling_s"] = base_speed["decode_sampling_s"]
        est_json["predicted_decode_kernel_factor"] = base_speed["decode_kernel_factor"]
        est_json["predicted_decode_kernel_table"] = base_speed["decode_kernel_table"]
        est_json["predicted_decode_sampling"] = base_speed["decode_sampling"]

    # --- the guard: nothing loads (and no synthetic file is written) unless it fits
    free = free or free_memory()
    basis = f"estimate for {label} at ctx {ctx}"
    if est_backend == "cpu" or not free.devices:
        need = MemoryNeed(host_bytes=est.total_bytes, basis=basis)
    else:
        # The estimate places every offloaded part on one GPU (conservative for a
        # partial --gpu-layers); the host keeps what it lists under 'host'.
        by_dev = {k: v.total_bytes for k, v in est.memory_by_device.items()}
        host = by_dev.pop("host", 0)
        need = MemoryNeed(host_bytes=host, devices={next(iter(free.devices)): sum(by_dev.values())}, basis=basis)
    reason = memory_guard(need, free)
    data_dir = data_directory or store.data_dir()
    base = dict(model=label, synthetic=run_synthetic, estimate=est_json, runner=the_runner.info())
    if reason:
        return VerifyResult(model_path=str(path) if path else None, measured=None, refused=reason, **base)

    with machine_lock(data_dir):
        tmp: tempfile.TemporaryDirectory | None = None
        disk_bytes = None
        try:
            if run_synthetic:
                sweep_synthetic()
                # a calibration run's speed is fitted: its weights are written, not zeros
                path, disk_bytes, tmp = _make_synthetic(est, data_dir, keep_synthetic, fill=purpose == "calibration")
            check = Check(
                model_path=str(path),
                ctx=ctx,
                n_batch=batch,
                n_ubatch=ubatch,
                kv_type_k=est.kv_type_k,
                kv_type_v=est.kv_type_v,
                flash_attn=flash_attn,
                n_gpu_layers=n_gpu_layers,
                n_prompt=n_prompt,
                n_gen=n_gen,
                n_threads=n_threads,
                repetitions=repetitions,
                timeout_s=timeout_s,
            )
            # If this process dies, the child's guardian removes the synthetic model.
            with child_holds(remove=[tmp.name] if tmp is not None else []):
                monitor = LoadMonitor().before()
                measured = the_runner.run(check, progress=progress, cancel=cancel)
                load = monitor.after()
        finally:
            if tmp is not None:
                tmp.cleanup()
    measured = measured.model_copy(update={"synthetic": run_synthetic})
    # Speeds are compared with the uncalibrated prediction (the estimate's own shape of
    # decode/prefill_tokens_per_s, a range, is left as the estimator made it).
    expected = {
        **est_json,
        "decode_tokens_per_s": est_json.get("predicted_decode_tokens_per_s"),
        "prefill_tokens_per_s": est_json.get("predicted_prefill_tokens_per_s"),
    }
    if measured.ctx != ctx and measured.weights_bytes is not None:
        # llama-bench alone sizes its context as prompt + generated tokens: compare the
        # memory with the estimate at the context that was actually measured.
        from sizing.estimate import estimate_scenario

        at = estimate_scenario(est.scenario.model_copy(update={"ctx": measured.ctx}))
        expected.update(
            weights_bytes=at.weights_bytes, kv_cache_bytes=at.kv_cache_bytes, compute_bytes=at.compute_bytes
        )
        est_json["measured_at_ctx"] = measured.ctx
    rows = calibrate.compare(expected, measured.model_dump())
    errors = calibrate.errors_of(rows)

    stored_in = None
    report = None
    calibrated = None
    if save:
        record = store.RunRecord(
            model=label,
            quant=str(est.quant),
            synthetic=run_synthetic,
            purpose=purpose,
            scenario={
                "ctx": ctx,
                "kv_type_k": est.kv_type_k,
                "kv_type_v": est.kv_type_v,
                "n_batch": batch,
                "n_ubatch": ubatch,
                "flash_attn": flash_attn,
                "n_gpu_layers": n_gpu_layers,
                "n_prompt": n_prompt,
                "n_gen": n_gen,
                "n_threads": n_threads,
                "repetitions": repetitions,
            },
            runner=measured.runner.model_dump(),
            hardware=hw,
            estimate=est_json,
            measured=measured.model_dump(exclude={"log_tail"}),
            errors=errors,
            load=load,
            status=measured.status,
            message=measured.message,
        )
        stored_in = str(store.append_run(record, data_dir))
        report = screened_report(store.load_runs(data_dir), hw, measured.runner.backend)
        if report is not None and report.n_runs:
            if base_speed and rate is not None:
                from sizing.core.speed.calibration import load_calibration

                new_rate, new_calib = calibrate.apply_factors(rate, load_calibration(), report.factors)
                calibrated = predict_speed(
                    est, new_rate, n_prompt=n_prompt, n_gen=n_gen, calib=new_calib, backend=backend
                )
    return VerifyResult(
        model_path=str(path) if not run_synthetic else None,
        synthetic_disk_bytes=disk_bytes,
        measured=measured,
        comparison=tuple(rows),
        errors=errors,
        calibration=report,
        calibrated_speed=calibrated,
        stored_in=stored_in,
        run_id=record.id if save else None,
        load=load,
        **{**base, "runner": measured.runner},
    )


SYNTHETIC_PREFIX = "llm-sizing-synthetic-"


def sweep_synthetic(folder: Path | None = None) -> list[Path]:
    """Remove synthetic models left by checks whose process is gone (killed before its
    guardian could clean up); the folder name carries the owner's pid. Returns them."""
    import psutil

    gone = []
    root = Path(folder or tempfile.gettempdir())
    with contextlib.suppress(OSError):
        for d in root.glob(f"{SYNTHETIC_PREFIX}*-*"):
            pid = d.name[len(SYNTHETIC_PREFIX) :].split("-", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and not psutil.pid_exists(int(pid)) and d.is_dir():
                shutil.rmtree(d, ignore_errors=True)
                gone.append(d)
    return gone


def _make_synthetic(est, data_dir: Path, keep: bool, fill: bool = False):
    """Write the synthetic GGUF (after checking the disk); returns (path, disk bytes, tmpdir).

    ``fill``: a run whose speed is fitted writes its weights as finite nonzero values
    (:func:`sizing.live.synthetic.fill_weights`): all-zero weights decode 10-25% faster on a
    CPU than real ones, which would fit this machine's bandwidth that much too high."""
    from sizing.live.synthetic import fill_weights, write_synthetic_gguf

    sc = est.scenario
    safe = sc.model.id.replace("/", "--")
    if keep:
        folder = data_dir / "synthetic"
        tmp = None
    else:
        tmp = tempfile.TemporaryDirectory(prefix=f"{SYNTHETIC_PREFIX}{os.getpid()}-")
        folder = Path(tmp.name)
    folder.mkdir(parents=True, exist_ok=True)
    free_disk = free_disk_bytes(folder)
    if free_disk < SYNTHETIC_DISK_MARGIN:
        if tmp is not None:
            tmp.cleanup()
        raise SizingError(
            f"not enough free disk for a synthetic model in {folder}: {free_disk / MIB:.0f} MiB free, "
            f"needs about {SYNTHETIC_DISK_MARGIN / MIB:.0f} MiB (the header; the data is a sparse hole)"
        )
    path = folder / f"{safe}.{sc.quant}.synthetic.gguf"
    try:
        write_synthetic_gguf(sc.model, sc.quant, path)
        if fill:
            size = path.stat().st_size
            if free_disk < size + SYNTHETIC_DISK_MARGIN:
                path.unlink()
                raise SizingError(
                    f"not enough free disk to write a synthetic model's weights in {folder} for a speed run: "
                    f"{free_disk / MIB:,.0f} MiB free, needs {(size + SYNTHETIC_DISK_MARGIN) / MIB:,.0f} MiB"
                )
            fill_weights(path)
    except BaseException:
        if tmp is not None:
            tmp.cleanup()
        raise
    st = path.stat()
    disk = getattr(st, "st_blocks", 0) * 512 or st.st_size
    return path, disk, tmp


def machine_factors(backend: str = "cpu", data_directory: Path | None = None) -> calibrate.MachineFactors | None:
    """This machine's fitted speed factors from its stored runs, or None before any run.

    Callers feed them into the speed model with ``calibrate.apply_factors(rate, calib,
    factors)`` (pure), e.g. before ``sizing.core.speed.estimate.estimate_speed``.
    """
    hw, _ = hardware_summary()
    report = screened_report(store.load_runs(data_directory), hw, backend)
    return report.factors if report is not None and report.n_runs else None
