"""Measure this machine for its speed calibration: the runs each factor needs, and only those.

A CPU decode step is a fixed per-token cost plus bytes ÷ bandwidth, plus attention over
the cached cells, which grows with the depth at the CPU's attention rate. A 135M model reads
about 100 MB a token, which a big last-level cache may hold and which the per-token cost
dominates: it pins the overhead and says nothing about RAM bandwidth. The bandwidth needs
a model that reads at least ``BANDWIDTH_BOUND_BYTES`` a token from RAM. Nobody should
have to download one for that, so it is a synthetic GGUF (a real header, llama.cpp
pages, repacks and multiplies it like the real model) whose weights are written as
pseudo-random finite values rather than left a sparse hole: all-zero weights decode
10-25% faster on a CPU than real ones (``bench/synthetic_speed.py``), and the fitted
bandwidth would be that much too high. It is the smallest catalog model that is bandwidth-bound and whose
estimated memory fits well inside the RAM available now. The attention rate needs one
model at two depths: the first small model runs again after a long prompt
(``DEEP_PROMPT``), and the difference between its two steps is attention alone.

:func:`calibration_plan` picks the runs; :func:`measure_machine` runs them through
``sizing.live.check.run_check`` (each run stored with its load, screened and fitted like
any other), repeated so the screen can take the median.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from sizing.errors import SizingError
from sizing.live.calibrate import BANDWIDTH_BOUND_BYTES
from sizing.units import GIB

if TYPE_CHECKING:
    from sizing.live.check import VerifyResult

# Candidates for the bandwidth-bound run, smallest first (catalog id, quant).
BANDWIDTH_MODELS: tuple[tuple[str, str], ...] = (
    ("meta-llama/Llama-3.2-3B-Instruct", "Q4_K_M"),
    ("meta-llama/Llama-3.2-3B-Instruct", "Q8_0"),
    ("meta-llama/Llama-3.1-8B-Instruct", "Q4_K_M"),
)
RAM_SHARE = 0.4  # of the RAM available now, at most, for the bandwidth run
CTX = 1024  # the context every calibration run is loaded at
N_PROMPT = 64  # prompt tokens of every calibration run but the deep one
# The deep run's prompt: its decode attends over ~8x the cells of the others (enough spread
# to fit the attention rate, sizing.live.calibrate.ATTENTION_SPREAD) within CTX, and its
# prompt takes a few seconds on two threads.
DEEP_PROMPT = 640


class PlannedRun(BaseModel):
    """One model the calibration runs, and the factor it pins."""

    model_config = ConfigDict(frozen=True)

    model: str
    quant: str | None = None
    synthetic: bool
    regime: str  # "overhead", "attention" or "bandwidth"
    read_bytes: float | None = None
    memory_bytes: int | None = None
    n_gen: int = 32
    n_prompt: int = N_PROMPT


def bandwidth_model(available_ram: int, ctx: int = 1024) -> PlannedRun:
    """The smallest candidate that reads ≥ BANDWIDTH_BOUND_BYTES a token and whose
    estimated memory stays within RAM_SHARE of ``available_ram``."""
    from sizing.core.speed.calibration import load_calibration
    from sizing.core.speed.estimate import estimate_speed
    from sizing.core.traffic import DeviceRate, model_traffic, single_device_work
    from sizing.estimate import estimate
    from sizing.live.synthetic import synthetic_tensors
    from sizing.sources.catalog import load_catalog

    rate = DeviceRate(name="probe", kind="cpu", backend="cpu", bandwidth_gbs=10.0, threads=1)
    tried = []
    for model_id, quant in BANDWIDTH_MODELS:
        arch = load_catalog().get(model_id)
        est = estimate(arch, quant, ctx, backend="cpu", offline=True)
        tensors = synthetic_tensors(arch, quant)  # exactly what the synthetic file carries
        work = single_device_work(model_traffic(arch, tensors), rate)
        read = estimate_speed([work], load_calibration(), ctx=ctx).per_device[0].read_bytes
        tried.append(f"{model_id} {quant}: {est.total_bytes / GIB:.1f} GiB")
        if read >= BANDWIDTH_BOUND_BYTES and est.total_bytes <= RAM_SHARE * available_ram:
            return PlannedRun(
                model=model_id,
                quant=quant,
                synthetic=True,
                regime="bandwidth",
                read_bytes=read,
                memory_bytes=est.total_bytes,
                n_gen=16,
            )
    raise SizingError(
        f"no bandwidth-bound model fits in {RAM_SHARE:.0%} of the {available_ram / GIB:.1f} GiB of RAM "
        f"available now ({'; '.join(tried)}): the bandwidth stays as published"
    )


def calibration_plan(available_ram: int, packaged: list[Path]) -> list[PlannedRun]:
    """The packaged real models (per-token overhead), the first of them again at depth
    (attention), and one bandwidth-bound synthetic model."""
    runs = [PlannedRun(model=str(p), synthetic=False, regime="overhead") for p in packaged]
    if packaged:
        runs.append(PlannedRun(model=str(packaged[0]), synthetic=False, regime="attention", n_prompt=DEEP_PROMPT))
    runs.append(bandwidth_model(available_ram))
    return runs


def this_machine_plan() -> list[PlannedRun]:
    """The plan for this machine now: the packaged models installed here and the
    bandwidth run sized for the RAM available now (SizingError when none fits)."""
    import psutil

    from sizing.live.packaged import gemma3_path, smollm2_path

    packaged = [p for p in (smollm2_path(), gemma3_path()) if p is not None]
    return calibration_plan(psutil.virtual_memory().available, packaged)


def run_name(run: PlannedRun) -> str:
    """How a planned run is named to the user: the file, or the catalog model it mimics."""
    name = f"{run.model} {run.quant} (synthetic)" if run.synthetic else Path(run.model).name
    return f"{name}, {run.n_prompt}-token prompt" if run.n_prompt != N_PROMPT else name


def measure_machine(
    *,
    repeats: int = 3,
    n_threads: int | None = None,
    data_directory: Path | None = None,
    say: Callable[[str], None] = print,
    timeout_s: float = 600.0,
    plan: list[PlannedRun] | None = None,
    web_mode: bool = False,
    progress: Callable | None = None,
    cancel: threading.Event | None = None,
    on_result: Callable[[VerifyResult], None] | None = None,
) -> list[VerifyResult]:
    """Run the calibration plan ``repeats`` times (each run stored, screened and fitted).

    ``plan`` is the one shown to the user before starting (default: this machine's now).
    ``cancel`` stops the run in flight and skips the rest; runs already stored stay.
    ``on_result`` sees each run as it is stored (a later run may still fail: a busy machine)."""
    from sizing.live.check import run_check

    if web_mode:
        raise SizingError(
            "measuring this machine runs llama.cpp on the server; live runs are off in web mode "
            "(run the app locally, or `llm-sizing calibrate --measure`)"
        )
    if not 1 <= repeats <= 10:
        raise SizingError(f"--repeats must be 1 to 10, got {repeats}")
    plan = this_machine_plan() if plan is None else plan
    results: list[VerifyResult] = []
    for i in range(repeats):
        for run in plan:
            if cancel is not None and cancel.is_set():
                say("cancelled: the runs above are stored, the rest were not run")
                return results
            say(f"[{i + 1}/{repeats}] {run_name(run)}: {run.regime} run")
            r = run_check(
                run.model,
                quant=run.quant,
                synthetic=run.synthetic,
                ctx=CTX,
                n_prompt=run.n_prompt,
                n_gen=run.n_gen,
                n_threads=n_threads,
                runner="embedded",
                purpose="calibration",
                timeout_s=timeout_s,
                data_directory=data_directory,
                progress=progress,
                cancel=cancel,
            )
            results.append(r)
            if on_result is not None:
                on_result(r)
            if r.status != "ok":  # refused, cancelled, failed: no speed to show
                why = r.refused or (r.measured.message if r.measured else None) or r.status
                say(f"    {r.status}: {why}; not used")
                continue
            v = r.verdict
            speed = r.measured.decode_tokens_per_s if r.measured else None
            verdict = "used" if v and v.used else f"left out: {v.reason if v else r.status}"
            say(f"    decode {speed or 0:.1f} tok/s; {verdict}")
    return results
