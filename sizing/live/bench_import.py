"""Import llama-bench results (``llama-bench -o json`` or ``-o jsonl``) as this machine's runs.

Someone with a CUDA, Metal or ROCm build of llama.cpp can measure their own GPU with
llama-bench and hand us its output; each (model, threads, layers) result becomes a
stored run marked ``source: import``, which calibrates that device as a live check would.

The file is checked whole before anything is stored: one clear line names the first
problem (not llama-bench output, a missing or mistyped field, a result measured on
another machine) and nothing is written. Fields are llama-bench's own: ``model_type``,
``model_size`` (bytes), ``model_n_params``, ``n_prompt``, ``n_gen``, ``n_depth``,
``avg_ts``, ``backends``, ``gpu_info``, ``cpu_info``, ``n_threads``, ``n_gpu_layers``,
``build_commit``, ``build_number``, ``test_time``.

A result's prediction uses the same single-device work as the public calibration's
rows (the file's bytes read per token, its parameters' FLOPs), on this
machine's device for that backend. Mixture-of-experts results are skipped: llama-bench
does not report how many experts a token reads.
"""

from __future__ import annotations

import json
import math
import re
import time
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sizing.errors import SizingError
from sizing.live.llamacpp_log import backend_of, build_from_bench_row
from sizing.live.store import EARLIEST, RunRecord
from sizing.units import MIB


MAX_FILE_BYTES = 16 * MIB


class BenchResult(BaseModel):
    """One llama-bench test result (the fields we use; others are ignored)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    model_type: str = Field(min_length=1)
    model_size: int = Field(gt=0, description="bytes")
    model_n_params: int = Field(gt=0)
    n_prompt: int = Field(ge=0)
    n_gen: int = Field(ge=0)
    n_depth: int = Field(0, ge=0)
    avg_ts: float = Field(gt=0)
    backends: str = Field(min_length=1)
    gpu_info: str = ""
    cpu_info: str = Field(min_length=1)
    n_threads: int = Field(gt=0)
    n_gpu_layers: int = 0
    build_commit: str = ""
    build_number: int | None = None
    test_time: str | None = None
    model_filename: str | None = None

    @property
    def backend(self) -> str:
        gpu = backend_of([self.backends])
        return gpu if self.n_gpu_layers != 0 else "cpu"

    @property
    def is_moe(self) -> bool:
        return bool(re.search(r"moe|\d+x\d+|\.a\d", self.model_type.lower()))

    @property
    def quant(self) -> str:
        return self.model_type.split()[-1] if " " in self.model_type else self.model_type


def _entries(text: str, name: str) -> list[tuple[str, Any]]:
    """(where, parsed object) per result, from a JSON array or JSON lines."""
    body = text.lstrip()
    if body.startswith("["):
        try:
            data = json.loads(body, parse_constant=_no_constant)
        except (ValueError, RecursionError) as exc:
            raise SizingError(f"{name}: not valid JSON ({_msg(exc)}); expected `llama-bench -o json` output") from None
        return [(f"result {i + 1}", e) for i, e in enumerate(data)]
    if body.startswith("{"):
        out = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                out.append((f"line {n}", json.loads(line, parse_constant=_no_constant)))
            except (ValueError, RecursionError) as exc:
                raise SizingError(
                    f"{name}, line {n}: not valid JSON ({_msg(exc)}); expected `llama-bench -o jsonl` output"
                ) from None
        return out
    raise SizingError(f"{name}: not llama-bench output: expected the JSON of `llama-bench -o json` or `-o jsonl`")


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number")


def _msg(exc: Exception) -> str:
    return exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)


def parse_llama_bench(data: bytes, name: str = "file") -> list[BenchResult]:
    """Every result of a llama-bench JSON / JSONL file, or SizingError naming the first problem."""
    if len(data) > MAX_FILE_BYTES:
        raise SizingError(f"{name}: {len(data) >> 20} MiB is not a llama-bench result file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SizingError(f"{name}: not UTF-8 text (byte {exc.start}); expected llama-bench JSON output") from None
    results = []
    for where, entry in _entries(text, name):
        if not isinstance(entry, dict):
            raise SizingError(f"{name}, {where}: a JSON {type(entry).__name__}, not a llama-bench result")
        try:
            r = BenchResult.model_validate(entry)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err.get("loc", ())) or "result"
            what = "missing" if err.get("type") == "missing" else err.get("msg", "invalid").lower()
            raise SizingError(f"{name}, {where}: field {field}: {what} (is this llama-bench -o json output?)") from None
        if not math.isfinite(r.avg_ts):
            raise SizingError(f"{name}, {where}: field avg_ts is not finite")
        results.append(r)
    if not results:
        raise SizingError(f"{name}: no llama-bench results in the file")
    return results


def _same_name(a: str, b: str) -> bool:
    norm = lambda s: re.sub(r"[^a-z0-9]+", " ", s.lower()).strip()  # noqa: E731
    x, y = norm(a), norm(b)
    return bool(x and y) and (x in y or y in x)


def check_machine(results: list[BenchResult], cpu_model: str | None, gpu_names: list[str], name: str) -> None:
    """Refuse results measured on another machine: the CPU (CPU runs) or the GPU must match."""
    for r in results:
        if r.backend == "cpu":
            if not (cpu_model and _same_name(r.cpu_info, cpu_model)):
                raise SizingError(
                    f"{name}: measured on CPU {r.cpu_info!r}, this machine has {cpu_model!r}: "
                    "nothing stored (import results from this machine only)"
                )
        else:
            gpus = [g.strip() for g in r.gpu_info.split(",") if g.strip()]
            if not gpus or not any(_same_name(g, mine) for g in gpus for mine in gpu_names):
                have = ", ".join(gpu_names) or "no GPU"
                raise SizingError(
                    f"{name}: measured on GPU {r.gpu_info or '(none named)'!r}, this machine has "
                    f"{have}: nothing stored (import results from this machine only)"
                )


def _time_of(r: BenchResult) -> float | None:
    if not r.test_time:
        return None
    try:
        return datetime.fromisoformat(r.test_time.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def records_from_results(
    results: list[BenchResult], hw_record: dict, rate_for, calib, name: str
) -> tuple[list[RunRecord], list[str]]:
    """Stored runs for the results (decode and prefill of one model and setting joined),
    and a note for each result left out. ``rate_for(backend, threads)`` gives this
    machine's DeviceRate for a backend (pure given it)."""
    from sizing.core.speed.estimate import decode_step_seconds, effective_bandwidth, prefill_seconds
    from sizing.core.traffic import DeviceWork

    notes: list[str] = []
    groups: dict[tuple, dict[str, BenchResult]] = {}
    for r in results:
        label = f"{r.model_type} ({r.backend}, {r.n_threads} threads)"
        if r.is_moe:
            notes.append(f"{label}: skipped, a mixture of experts (llama-bench does not say how much a token reads)")
            continue
        if r.n_depth:
            notes.append(f"{label}: skipped the test at depth {r.n_depth} (only empty-cache tests calibrate)")
            continue
        if r.n_prompt and r.n_gen:
            notes.append(f"{label}: skipped the combined pp+tg test")
            continue
        key = (r.model_filename or r.model_type, r.model_size, r.backend, r.n_threads, r.n_gpu_layers)
        groups.setdefault(key, {})["tg" if r.n_gen else "pp"] = r
    records = []
    for (model, size, backend, threads, ngl), tests in groups.items():
        first = tests.get("tg") or tests["pp"]
        rate = rate_for(backend, threads)
        if backend != "cpu":
            rate = rate.model_copy(update={"threads": None})
        # the whole file on one device, as llama-bench ran it (the public fit's rows too)
        work = DeviceWork(device=rate, layers=1, dense_bytes=float(size), flops_per_token=2.0 * first.model_n_params)
        # llama-bench names no tensor types: no kernel table weighs an imported run's bytes
        est: dict[str, Any] = {"speed_calibration": calib.name, "predicted_decode_kernel_table": "none"}
        meas: dict[str, Any] = {}
        if "tg" in tests:
            est["predicted_decode_tokens_per_s"] = 1.0 / decode_step_seconds([work], calib)[0]
            est["predicted_decode_read_bytes"] = float(size)
            est["assumed_effective_bandwidth"] = effective_bandwidth(rate, calib)
            meas["decode_tokens_per_s"] = tests["tg"].avg_ts
            meas["n_gen"] = tests["tg"].n_gen
        if "pp" in tests:
            n = tests["pp"].n_prompt
            try:
                est["predicted_prefill_tokens_per_s"] = n / prefill_seconds([work], calib, n, n_ubatch=512)
            except SizingError:
                pass
            meas["prefill_tokens_per_s"] = tests["pp"].avg_ts
            meas["n_prompt"] = n
        when = _time_of(first)
        if when is not None and not (EARLIEST <= when <= time.time()):
            when = None
        bench_build = build_from_bench_row(first.model_dump())
        build = str(bench_build) if bench_build else first.build_commit
        rec = RunRecord(
            model=str(model),
            quant=first.quant,
            source="import",
            scenario={
                "n_threads": threads,
                "n_gpu_layers": ngl,
                "n_prompt": meas.get("n_prompt"),
                "n_gen": meas.get("n_gen"),
                "imported_from": name,
            },
            runner={"name": "llama-bench (imported)", "version": build, "backend": backend},
            hardware=hw_record,
            estimate=est,
            measured=meas,
            status="ok",
            message=f"imported from {name}: {first.cpu_info if backend == 'cpu' else first.gpu_info}",
            **({"time": when} if when else {}),
        )
        records.append(rec)
    if not records:
        raise SizingError(f"{name}: no result can calibrate this machine ({'; '.join(notes) or 'none usable'})")
    return records, notes
