"""The UI's only door into the sizing core.

Every number on a page comes from a call made here; the pages format and draw, they do
not compute. A failure (bad input as ``SizingError``, or a bug) propagates to the page
section's ``feedback.guard``, which shows it as one message.

Results are cached per input (``st.cache_data``/``st.cache_resource``) so a rerun after
a widget change only recomputes what changed.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import streamlit as st

from sizing.core import planner, solver
from sizing.core.speed.calibration import load_calibration
from sizing.errors import SizingError
from sizing.answer import estimate as core_answer
from sizing.core.scenario import Basis
from sizing.estimate import estimate as core_estimate
from sizing.hardware import basis as hw_basis
from sizing.hardware.db import load_gpus
from sizing.hardware.detect import detect_machine
from sizing.hardware.this_machine import hardware_from_machine
from sizing.live.this_machine import stored_calibration
from sizing.core.speed.machine import calibrate_hardware
from sizing.sources.catalog import load_catalog
from sizing.sources.gguf_reader import read_gguf
from sizing.sources.resolve import ResolvedModel, resolve_model
from sizing.core.machine import custom_machine, host_spec, machine_from_gpu, machine_from_gpus
from sizing.core.quant import FILE_QUANTS, KV_TYPES

log = logging.getLogger("sizing.ui")


# --- models ----------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def catalog() -> Any:
    return load_catalog()


def catalog_ids() -> list[str]:
    """Catalog model ids, for the model picker and URL validation ([] when absent)."""
    return list(catalog_names())


def catalog_names() -> dict[str, str]:
    """id -> display name; empty when the catalog cannot be loaded (the page says so)."""
    try:
        return {m.id: m.name for m in catalog().models}
    except Exception:
        log.warning("model catalog unavailable: %s", sys.exc_info()[1])
        return {}


def catalog_get(name: str) -> Any:
    return catalog().get(name)


def catalog_suggest(name: str, n: int = 3) -> list[str]:
    try:
        return list(catalog().suggest(name, n=n))
    except Exception:
        return []


def hf_offline() -> bool | None:
    """Hub look-ups follow HF_HUB_OFFLINE; tests and air-gapped servers set it."""
    v = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return True if v in ("1", "true", "yes", "on") else None


@st.cache_resource(show_spinner="Resolving model…", max_entries=64)
def resolve(spec: str) -> Any:
    """A catalog id/alias or a Hugging Face repo id -> ResolvedModel (never a path)."""
    return resolve_model(spec, offline=hf_offline())


def read_gguf_header(data: bytes, name: str) -> Any:
    """Parse an uploaded GGUF header (already capped) without keeping the file around.

    An upload is only the first megabytes of a model file. The reader checks that every
    tensor lies inside the file, so the prefix is written to a temporary file that is
    then extended, sparsely (no disk used), to a size no model reaches; only the uploaded
    bytes are ever read. The result names the upload, never the temporary path.
    """
    if not data.startswith(b"GGUF"):
        raise SizingError(f"{name}: not a GGUF file (it does not start with the GGUF magic)")
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", Path(name).name)[:120].removesuffix(".gguf") or "upload"
    with tempfile.TemporaryDirectory(prefix="llm-sizing-upload-") as tmp:
        path = Path(tmp) / f"{stem}.gguf"
        path.write_bytes(data)
        for exp in (42, 40, 38, 36):
            try:
                os.truncate(path, 2**exp)
                break
            except OSError:
                continue
        try:
            model = read_gguf(path)
        except SizingError as exc:  # name the upload, not the server's temporary path
            msg = str(exc).replace(str(path), Path(name).name)
            raise SizingError(f"{msg} (uploads are read as a header: send at least the first 16 MB)") from None
    if getattr(model, "data_offset", 0) > len(data):
        raise SizingError(
            f"{name}: the upload holds {len(data):,} bytes but the GGUF header needs {model.data_offset:,}; "
            "upload more of the file"
        )
    arch = model.arch.model_copy(update={"source": f"GGUF header of the uploaded file {Path(name).name}"})
    return model.model_copy(update={"arch": arch, "path": Path(name).name, "file_size": len(data)})


def read_gguf_file(path: Path) -> Any:
    """A GGUF file on this machine (in web mode the caller checked the directory).

    The result names the file, not its directory: pages and downloads never show a path.
    """
    model = read_gguf(path)
    arch = model.arch.model_copy(update={"source": f"GGUF header of {path.name}"})
    return model.model_copy(update={"arch": arch, "path": path.name})


def local_gguf_files(cfg: Any) -> list[Path]:
    """GGUF files the app may read: web mode, only the configured directories; locally,
    also the Hugging Face / Ollama / LM Studio caches (``sizing.live.models``)."""
    if cfg.web_mode:
        return cfg.local_gguf_files()
    try:
        from sizing.live.models import list_local_gguf

        return list_local_gguf(list(cfg.model_dirs) or None, limit=200)
    except Exception:
        return cfg.local_gguf_files()


def file_quants() -> list[str]:
    return list(FILE_QUANTS)


def kv_types() -> list[str]:
    return list(KV_TYPES)


# --- hardware --------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def gpu_db() -> Any:
    return load_gpus()


def gpu_ids() -> list[str]:
    """GPU database ids; empty when the database cannot be loaded (the page says so)."""
    try:
        return [g.id for g in gpu_db().all]
    except Exception:
        log.warning("GPU database unavailable: %s", sys.exc_info()[1])
        return []


def gpu(gpu_id: str) -> Any:
    for g in gpu_db().all:
        if g.id == gpu_id:
            return g
    raise SizingError(f"unknown GPU {gpu_id!r}")


@st.cache_resource(show_spinner="Detecting this machine…")
def machine() -> Any:
    """This machine as detection reports it (RAM bandwidth probed: under 2 s, then cached)."""
    return detect_machine(probe_bandwidth=True, db=gpu_db())


# --- estimates -------------------------------------------------------------------------


def as_json(obj: Any) -> Any:
    """A core result as plain data (its own ``to_json`` when it has one)."""
    if hasattr(obj, "to_json"):
        return obj.to_json()
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    return obj


def resolved(choice: Any) -> Any:
    """The ResolvedModel for a model choice: a catalog/HF spec, or a GGUF header read here."""
    if choice.gguf is not None:
        g = choice.gguf
        return ResolvedModel(arch=g.arch, tensors=g.tensors, kind="gguf", file_type=g.file_type)
    return resolve(choice.spec)


def estimate_kwargs(choice: Any, values: dict) -> dict:
    """The estimate() keywords for the run settings on a page (names as the core spells them)."""
    quant = values.get("quant")
    if choice.gguf is not None:
        quant = values.get("fq", "file")
        if quant == "file":
            quant = None  # the file's own quant
    return dict(
        quant=quant,
        ctx=int(values["ctx"]),
        kv_type=values.get("kv", "f16"),
        parallel=int(values.get("np", 1)),
        flash_attn=bool(values.get("fa", True)),
        mmap=bool(values.get("mmap", True)),
        repack=bool(values.get("repack", True)),
        mlock=bool(values.get("mlock", False)),
        offline=hf_offline(),
    )


def estimate(choice: Any, values: dict, hw: Any) -> Any:
    """The core's memory Estimate for a model choice and run settings.

    "Context" on the pages is per user, as the solver counts it: llama.cpp's ``-c`` is
    that times the parallel users, so the estimate is asked for the product.
    """
    kw = estimate_kwargs(choice, values)
    kw["ctx"] = kw["ctx"] * kw["parallel"]
    kw["backend"] = backend_of(hw)
    return core_estimate(resolved(choice), **kw)


def backend_of(hw: Any) -> str:
    """The llama.cpp backend of the main device (buffers differ: CPU repacks, GPUs don't)."""
    if hw is None:
        return "cpu"
    h = hardware(hw)
    return h.gpus[0].backend if h.gpus else "cpu"


# --- hardware, placement, speed ------------------------------------------------------------


@st.cache_resource(show_spinner="Detecting this machine…")
def detected_hardware() -> Any:
    """This machine as a placement Hardware (free GPU memory, measured RAM bandwidth)."""
    return hardware_from_machine(machine(), gpu_db())


def machine_calibration() -> Any:
    """This machine's speed factors from its stored live checks, or None before any.

    Not cached: the store is one small file, and a check run a moment ago must count."""
    return stored_calibration(detected_hardware(), machine())


def hardware(hw: Any) -> Any:
    """A HardwareChoice from a page -> the core's ``sizing.core.machine.Hardware``."""
    if hw.mode == "machine":
        return detected_hardware()
    host = host_spec(hw.ram_gb or None)
    if hw.mode == "custom":
        return custom_machine(memory_gb=hw.mem_gb, bandwidth_gbs=hw.bw_gbs, host=host)
    if not hw.gpu_ids:
        raise SizingError("pick at least one GPU from the database")
    db = gpu_db()
    entries = [db.get(i) for i in hw.gpu_ids]
    if len(entries) == 1:
        return machine_from_gpu(entries[0], hw.count, host=host)
    return machine_from_gpus([e for e in entries for _ in range(hw.count)], host=host)


@st.cache_resource(show_spinner=False)
def calibration() -> Any:
    """The public speed calibration (llama-bench fit)."""
    return load_calibration()


def hardware_and_calibration(hw: Any) -> tuple[Any, Any]:
    """The hardware and speed calibration for a page's choice: on this machine, its own
    fitted factors when it has stored live checks; otherwise the public calibration."""
    h, cal = hardware(hw), calibration()
    if hw.mode == "machine":
        return calibrate_hardware(h, cal, machine_calibration())
    return h, cal


def answer(choice: Any, values: dict, hw: Any) -> dict:
    """Everything 'Can I run it?' shows: the one composition's Answer (``sizing.estimate``),
    as the JSON object ``llm-sizing estimate --json`` prints for the same inputs.

    "Context" on the pages is per user; llama.cpp's ``-c`` is that times the users."""
    kw = estimate_kwargs(choice, values)
    kw["ctx"] = kw["ctx"] * kw["parallel"]
    hwm, cal = hardware_and_calibration(hw)
    ans = core_answer(
        resolved(choice), hardware=hwm, calibration=cal, hardware_basis=hardware_basis(hw),
        model_path=(f"./{choice.label}" if choice.gguf is not None else None), **kw,
    )
    return ans.to_json()


def hardware_basis(hw: Any) -> list[Basis]:
    """Where the hardware figures came from: the database's sources, detection, or the user."""
    if hw.mode == "custom":
        return [hw_basis.TYPED]
    if hw.mode == "machine":
        return [hw_basis.DETECTED]
    db = gpu_db()
    return hw_basis.database_basis(db.get(gid) for gid in hw.gpu_ids)


def limits(choice: Any, values: dict, hw: Any) -> dict:
    """Largest context at this quant, and the best quant at this context (the solver's)."""
    est = estimate(choice, values, hw)
    sc = est.scenario
    hwm, cal = hardware_and_calibration(hw)
    kw = dict(n_parallel=sc.n_parallel, kv_type_k=sc.kv_type_k, kv_type_v=sc.kv_type_v, flash_attn=sc.flash_attn)
    lim = solver.largest_context(sc.model, sc.quant, hwm, cal, tensors=sc.tensors, **kw)
    bq = None
    if choice.gguf is None:  # a file's quant is what it is; the ladder is for catalog/HF models
        plan = solver.best_quant(sc.model, int(values["ctx"]), hwm, cal, **kw)
        bq = plan.quant if plan is not None else None
    return {"max_ctx": lim.on_gpu or lim.with_offload, "max_ctx_on_gpu": lim.on_gpu,
            "max_ctx_with_offload": lim.with_offload, "model_max": lim.model_max, "best_quant": bq}


FIT_QUANTS = ("F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K")
FIT_CTXS = (2048, 4096, 8192, 16384, 32768, 65536, 131072)


def fit_grid(choice: Any, values: dict, hw: Any) -> dict:
    """Quant × context: the solver's verdict per cell and its total bytes.

    'fits': everything on the accelerator(s) (or, CPU-only, in RAM); 'tight': it fits only
    with layers kept in system RAM (slower); 'no': it does not fit.
    """
    est = estimate(choice, values, hw)
    sc = est.scenario
    hwm, cal = hardware_and_calibration(hw)
    ctxs = [c for c in FIT_CTXS if c <= sc.model.max_context] or [sc.model.max_context]
    status, totals = [], []
    reclaim = 0
    for q in FIT_QUANTS:
        srow, trow = [], []
        for c in ctxs:
            p = solver.solve(sc.model, q, c, hwm, cal, n_parallel=sc.n_parallel, kv_type_k=sc.kv_type_k,
                   kv_type_v=sc.kv_type_v, flash_attn=sc.flash_attn, with_speed=False,
                   mmap=sc.mmap, repack=sc.repack, mlock=sc.mlock)
            reclaim = max(reclaim, p.memory.reclaimable_bytes)
            pl = p.placement
            if not pl.fits:
                srow.append("no")
            elif hwm.gpus and not pl.all_on_gpu:
                srow.append("tight")
            else:
                srow.append("fits")
            trow.append(p.memory.total_bytes)
        status.append(srow)
        totals.append(trow)
    from sizing.core.memory.estimate import repack_explanation

    explain = repack_explanation(backend=sc.backend, repack=sc.repack, mmap=sc.mmap, mlock=sc.mlock,
                                 reclaimable=reclaim)
    return {"quants": list(FIT_QUANTS), "ctxs": ctxs, "status": status, "totals": totals, "explain": explain}


@st.cache_data(show_spinner="Pricing every configuration in the database…", max_entries=32)
def plan(values: dict) -> dict:
    """The purchase planner's ranked options (``sizing.core.planner.plan_purchase``), as data."""
    cat = catalog()
    models = [cat.get(m) for m in values["models"]]
    p = planner.plan_purchase(
        models,
        quant=values["quant"],
        ctx=int(values["ctx"]),
        calib=calibration(),
        gpus=gpu_db().all,
        target_tps=values["tps"] or None,
        budget_usd=values["budget"] or None,
        power_cap_w=values["watts"] or None,
        limit=200,
    )
    out = as_json(p)
    out["met"] = p.met
    return out


@st.cache_data(show_spinner=False, max_entries=64)
def cloud_providers() -> dict[str, str]:
    return {c.id: f"{c.name} (${c.input_per_m:g} in / ${c.output_per_m:g} out per M, {c.date})"
            for c in planner.cloud_prices()}


def _known_watts(option: dict) -> float:
    if not option.get("watts"):
        raise SizingError(f"{option['label']}: its power draw is not in the database, so electricity cannot be costed")
    return float(option["watts"])


@st.cache_data(show_spinner=False, max_entries=64)
def local_vs_cloud(values: dict, option: dict) -> dict:
    """Buying ``option`` against renting an API for the same tokens (``sizing.core.planner``)."""
    cloud = {c.id: c for c in planner.cloud_prices()}.get(values["cloud"])
    if cloud is None:
        raise SizingError(f"unknown cloud price list entry {values['cloud']!r}")
    model = catalog().get(values["models"][0])
    hw = machine_from_gpu(gpu_db().get(option["gpu_id"]), option["count"])
    plan_ = solver.solve(model, values["quant"], min(int(values["ctx"]), model.max_context), hw, calibration())
    if plan_.speed is None:
        raise SizingError(f"{option['label']}: no speed estimate (the model does not fit)")
    c = planner.local_vs_cloud(
        tokens_in_per_day=values["tin"] * 1e6,
        tokens_out_per_day=values["tout"] * 1e6,
        hardware_price_usd=option["price_usd"],
        years=values["years"],
        watts=_known_watts(option),
        power_price_per_kwh=values["kwh"],
        decode_tokens_per_s=plan_.speed.decode_tokens_per_s.expected,
        prefill_tokens_per_s=plan_.speed.prefill_tokens_per_s.expected,
        cloud=cloud,
    )
    return as_json(c)


@st.cache_data(show_spinner="Comparing…", max_entries=32)
def compare(values: dict) -> list[dict]:
    """One model on many GPUs, or many models on one GPU: the solver's answer for each pair."""
    cat, db = catalog(), gpu_db()
    if values["mode"] == "gpus":
        pairs = [(values["model"], g) for g in values["gpus"]]
    else:
        pairs = [(m, values["gpu"]) for m in values["models"]]
    rows = []
    for model_id, gpu_id in pairs:
        arch, g = cat.get(model_id), db.get(gpu_id)
        ctx = min(int(values["ctx"]), arch.max_context)
        plan_ = solver.solve(arch, values["quant"], ctx, machine_from_gpu(g), calibration())
        pl, sp = plan_.placement, plan_.speed
        gpu_devs = [d for d in pl.devices if d.kind != "cpu"]
        rows.append(
            {
                "label": g.name if values["mode"] == "gpus" else arch.name,
                "model": arch.id,
                "gpu": g.id,
                "ctx": ctx,
                "fits": pl.fits,
                "all_on_gpu": pl.all_on_gpu,
                "how": pl.how,
                "total_bytes": plan_.memory.total_bytes,
                "capacity_bytes": gpu_devs[0].capacity_bytes if gpu_devs else None,
                "decode": sp.decode_tokens_per_s.expected if sp else None,
                "decode_low": sp.decode_tokens_per_s.low if sp else None,
                "decode_high": sp.decode_tokens_per_s.high if sp else None,
                "ttft_s": sp.ttft_s.expected if sp else None,
            }
        )
    return rows


CONTEXT_ROWS = 8
QUALITY_LADDERS = {
    "any": ("F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K"),
    "q4": ("F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M"),
    "q8": ("F16", "Q8_0"),
}


def what_runs_here(_machine: Any, *, ctx: int, quality: str, with_context: bool = False) -> list[dict]:
    """The catalog ranked on the detected hardware (``sizing.core.solver.rank_catalog``), at
    this machine's own speed calibration when it has stored live checks."""
    mc = machine_calibration()
    return _ranked(mc.label() if mc else "", mc, ctx=ctx, quality=quality, with_context=with_context)


@st.cache_data(show_spinner="Ranking the catalog for this machine…", max_entries=16)
def _ranked(calibration_key: str, _mc: Any, *, ctx: int, quality: str, with_context: bool) -> list[dict]:
    """Cached per calibration: a new stored check re-ranks."""
    hw, cal = calibrate_hardware(detected_hardware(), calibration(), _mc)
    cat = catalog()
    # The largest-context search is the slow part: ask it only for the top rows.
    fits = solver.rank_catalog(cat.models, hw, cal, ctx=ctx, quants=QUALITY_LADDERS[quality], with_context=False)
    top = [f.model_id for f in fits if f.fits and f.quant][:CONTEXT_ROWS] if with_context else []
    limit = {}
    for f in fits:
        if f.model_id in top:
            lim = solver.largest_context(cat.get(f.model_id), f.quant, hw, cal)
            limit[f.model_id] = lim.on_gpu or lim.with_offload
    return [
        {
            "id": f.model_id,
            "name": f.name,
            "params_b": f.params_b,
            "quant": f.quant,
            "fits": f.fits,
            "on_gpu": f.on_gpu,
            "decode": f.decode_tokens_per_s,
            "decode_range": f.decode_range,
            "max_ctx": limit.get(f.model_id),
            "where": f.how,
        }
        for f in fits
    ]


@st.cache_data(show_spinner="Listing the repo's GGUF files…", ttl=3600, max_entries=64)
def repo_ggufs(repo: str) -> tuple[list[dict], str | None]:
    """The GGUF quants a Hugging Face repo publishes (as plain dicts), or why none are listed."""
    from sizing.sources.remote_gguf import list_repo_ggufs

    try:
        return [g.model_dump() for g in list_repo_ggufs(repo)], None
    except SizingError as exc:
        return [], str(exc)


@st.cache_resource(show_spinner="Reading the GGUF header (range requests)…", max_entries=32)
def remote_gguf(spec: str) -> Any:
    """A published GGUF's header model (``owner/repo:QUANT``), read without downloading the file."""
    from sizing.sources.remote_gguf import load_remote_gguf

    return load_remote_gguf(spec).model
