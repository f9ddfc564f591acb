"""The UI's only door into the sizing core.

Every number on a page comes from a call made here; the pages format and draw, they do
not compute. A failure (bad input as ``SizingError``, or a bug) propagates to the page
section's ``feedback.guard``, which shows it as one message.

Results are cached per input (``st.cache_data``/``st.cache_resource``) so a rerun after
a widget change only recomputes what changed.
"""

from __future__ import annotations

import functools

import hashlib
import logging
import os
import sys
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import streamlit as st

from sizing.core import fitmap, solver
from sizing.core.live_time import check_time, repeated_time
from sizing.core.speed.calibration import load_calibration
from sizing.env import hf_offline
from sizing.errors import SizingError
from sizing.answer import answer_for
from sizing.core.scenario import Basis
from sizing.estimate import estimate as core_estimate
from sizing.hardware import basis as hw_basis
from sizing.hardware.db import load_gpus
from sizing.hardware.detect import detect_machine
from sizing.hardware.this_machine import hardware_from_machine
from sizing.live.this_machine import stored_calibration
from sizing.core.speed.machine import calibrate_hardware
from sizing.sources.catalog import load_catalog
from sizing.sources.gguf_reader import read_gguf, read_gguf_bytes
from sizing.sources.resolve import ResolvedModel, resolve_name
from sizing.core.machine import custom_machine, host_spec, machine_from_gpu, machine_from_gpus
from sizing.core.quant import FILE_QUANTS, KV_TYPES, REQUANT_SUFFIX
from sizing.text import plain
from sizing.ui.memo import value_cache
from sizing.ui import offload

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
        return _names_of(catalog())
    except Exception:
        log.warning("model catalog unavailable: %s", sys.exc_info()[1])
        return {}


@functools.lru_cache(maxsize=2)  # by the loaded catalog: built once, not on every rerun
def _names_of(cat: Any) -> dict[str, str]:
    return {m.id: m.name for m in cat.models}


def catalog_get(name: str) -> Any:
    return catalog().get(name)


def catalog_suggest(name: str, n: int = 3) -> list[str]:
    try:
        return list(catalog().suggest(name, n=n))
    except Exception:
        return []


@st.cache_resource(show_spinner="Resolving model…", max_entries=64)
def resolve(spec: str) -> Any:
    """A catalog id/alias or a Hugging Face repo id -> ResolvedModel (never a path: what
    a visitor types is not looked up on the server's disk)."""
    return resolve_name(spec)  # offline as HF_HUB_OFFLINE says (sizing.env)


class _UploadCache:
    """Parsed uploads by content hash: a rerun with the same file reuses the parse.

    Bounded by entries and by the bytes they came from (a parse's size follows its
    header's); a refused upload is remembered too, with its message.
    """

    def __init__(self, max_entries: int = 8, max_bytes: int = 96 * 1024 * 1024) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._items: OrderedDict[tuple[str, str], tuple[int, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, data: bytes, name: str) -> Any:
        key = (hashlib.sha256(data).hexdigest(), name)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
        if hit is None:
            try:
                value: Any = _parse_upload(data, name)
            except SizingError as exc:
                value = exc
            with self._lock:
                self._items[key] = (len(data), value)
                while len(self._items) > self.max_entries or (
                    len(self._items) > 1 and sum(n for n, _ in self._items.values()) > self.max_bytes
                ):
                    self._items.popitem(last=False)
            hit = (len(data), value)
        if isinstance(hit[1], SizingError):
            raise SizingError(str(hit[1]))
        return hit[1]

    def __len__(self) -> int:
        return len(self._items)


UPLOADS = _UploadCache()


def _parse_upload(data: bytes, name: str) -> Any:
    shown = plain(Path(plain(name)).name, 120) or "upload"
    if not data.startswith(b"GGUF"):
        raise SizingError(f"{shown}: not a GGUF file (it does not start with the GGUF magic)")
    try:
        return read_gguf_bytes(data, shown)
    except SizingError as exc:
        if "truncated" in str(exc):
            raise SizingError(f"{exc} (uploads are read as a header: send at least the first 16 MB)") from None
        raise


def read_gguf_header(data: bytes, name: str) -> Any:
    """Parse an uploaded GGUF header (already capped) from the bytes received.

    Only the uploaded bytes are read: every count in the header is checked against them.
    The result names the upload; parses are cached by content (``UPLOADS``).
    """
    return UPLOADS.get(data, name)


def read_mmproj_header(data: bytes, name: str) -> Any:
    """An uploaded mmproj header -> Projector (read as a model upload is: in memory, capped)."""
    from sizing.sources.mmproj import read_mmproj_bytes

    return read_mmproj_bytes(data, name)


def read_gguf_file(path: Path, allowed: Any = None) -> Any:
    """A GGUF file on this machine (in web mode the caller checked the directory, and
    ``allowed`` vets the other parts of a split model the same way).

    The result names the file, not its directory: pages and downloads never show a path.
    """
    model = read_gguf(path, allowed=allowed)
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


def requant_quants() -> list[str]:
    """Each quant's variant that requantizes the tensors a model ships already quantized."""
    return [q + REQUANT_SUFFIX for q in FILE_QUANTS]


def ships_quantized(choice: Any) -> bool:
    """Does the model ship some tensors already quantized (gpt-oss's MXFP4 experts)?
    Only then is the requantized variant a different file."""
    if choice is None:
        return False
    try:
        return bool(resolved(choice).arch.native_types)
    except SizingError:
        return False


def kv_types() -> list[str]:
    return list(KV_TYPES)


# --- hardware --------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def gpu_db() -> Any:
    return load_gpus()


@functools.lru_cache(maxsize=2)
def _ids_of(db: Any) -> list[str]:
    return [g.id for g in db.all]


@functools.lru_cache(maxsize=2)
def _gpu_labels_of(db: Any) -> dict[str, str]:
    return {g.id: f"{g.name} ({g.memory_gb:g} GB)" if g.memory_gb else g.name for g in db.all}


def gpu_labels() -> dict[str, str]:
    """GPU id -> the picker's label (name and memory)."""
    return _gpu_labels_of(gpu_db())


def gpu_ids() -> list[str]:
    """GPU database ids; empty when the database cannot be loaded (the page says so)."""
    try:
        return _ids_of(gpu_db())
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
        offline=hf_offline() or None,  # None: the sources read HF_HUB_OFFLINE themselves
    )


def estimate(choice: Any, values: dict, hw: Any) -> Any:
    """The core's memory Estimate for a model choice and run settings, computed once per
    distinct input and shared by every section of a page (the Answer, the limits, the fit map).

    "Context" on the pages is per user, as the solver counts it: llama.cpp's ``-c`` is
    that times the parallel users, so the estimate is asked for the product.
    """
    cached = _estimate if choice.gguf is None else _estimate_of_file
    return cached(_model_key(choice), _run_key(choice, values), backend_of(hw), choice, values, hw)


@value_cache(max_entries=64)
def _estimate(model_key: tuple, run_key: tuple, backend: str, _choice: Any, _values: dict, _hw: Any) -> Any:
    """Cached by value: the model, the run settings and the backend (the keys are hashed,
    the objects they were read from are not)."""
    return _compute_estimate(_choice, _values, backend)


@st.cache_resource(show_spinner=False, max_entries=8)
def _estimate_of_file(model_key: tuple, run_key: tuple, backend: str, _choice: Any, _values: dict, _hw: Any) -> Any:
    """A GGUF file's estimate, cached apart and fewer of them: it carries the file's tensor
    list, tens of MB for a large uploaded header, and every visitor's uploads share this
    cache (as many as ``UPLOADS`` keeps parsed)."""
    return _compute_estimate(_choice, _values, backend)


def _compute_estimate(choice: Any, values: dict, backend: str) -> Any:
    kw = estimate_kwargs(choice, values)
    kw["ctx"] = kw["ctx"] * kw["parallel"]
    kw["backend"] = backend
    if getattr(choice, "mmproj", None) is not None:
        kw["mmproj"] = choice.mmproj
    if choice.gguf is None:  # small to send: a worker types the recipe (a new model's costliest step)
        return offload.call(core_estimate, resolved(choice), **kw)
    return core_estimate(resolved(choice), **kw)


def _model_key(choice: Any) -> tuple:
    """A model choice by value: its spec, or what identifies a GGUF header (and its projector)."""
    mm = getattr(choice, "mmproj", None)
    mm_key = None if mm is None else hash(mm)
    g = choice.gguf
    if g is None:
        return ("spec", choice.spec, mm_key)
    return (
        "gguf",
        choice.label,
        g.path,
        g.file_size,
        g.data_offset,
        g.file_type,
        hash(g.arch),
        hash(g.tensors),
        mm_key,
    )


_RUN_KEYS = ("quant", "ctx", "kv_type", "parallel", "flash_attn", "mmap", "repack", "mlock")


def _run_key(choice: Any, values: dict, drop: tuple[str, ...] = ()) -> tuple:
    """The run settings the estimate reads, by value (``drop``: those a result does not depend on)."""
    kw = estimate_kwargs(choice, values)
    return tuple((k, kw[k]) for k in _RUN_KEYS if k not in drop)


def _hw_key(hw: Any) -> tuple:
    """A hardware choice by value; on this machine, with the stored calibration it is timed by."""
    cal = machine_calibration_key() if hw.mode == "machine" else ""
    return (hw.mode, tuple(hw.cards), hw.mem_gb, hw.bw_gbs, hw.ram_gb, bool(getattr(hw, "unified", False)), cal)


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


def machine_calibration_key() -> str:
    """This machine's stored calibration by value, for the caches of what it times ("" before
    any check). Its label rounds the factors, so two stores can share one: a check run, a
    run left out or a store swapped for another would keep a stale answer under it."""
    mc = machine_calibration()
    return "" if mc is None else mc.model_dump_json()


def hardware(hw: Any) -> Any:
    """A HardwareChoice from a page -> the core's ``sizing.core.machine.Hardware``."""
    if hw.mode == "machine":
        return detected_hardware()
    host = host_spec(hw.ram_gb or None)
    if hw.mode == "custom":
        if getattr(hw, "unified", False):
            # one pool: the memory typed is the machine's RAM, shared with the device
            return custom_machine(memory_gb=hw.mem_gb, bandwidth_gbs=hw.bw_gbs, unified=True, host=host)
        return custom_machine(memory_gb=hw.mem_gb, bandwidth_gbs=hw.bw_gbs, host=host)
    cards = hw.cards
    if not cards:
        raise SizingError("pick a GPU from the database")
    db = gpu_db()
    if len(cards) == 1:
        return machine_from_gpu(db.get(cards[0][0]), cards[0][1], host=host)
    return machine_from_gpus([db.get(g) for g, n in cards for _ in range(n)], host=host)


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
    """Everything 'Can I run it?' shows: the one composition's Answer (``sizing.answer``)
    for the page's Estimate, as the JSON object ``llm-sizing estimate --json`` prints for
    the same inputs. Cached per distinct input.

    "Context" on the pages is per user; llama.cpp's ``-c`` is that times the users."""
    prompt = values.get("prompt")
    prompt_tokens = int(prompt) if prompt else None  # 0 or unset: the core's default share
    return _answer(_model_key(choice), _run_key(choice, values), _hw_key(hw), prompt_tokens, choice, values, hw)


@value_cache(max_entries=64)
def _answer(
    model_key: tuple, run_key: tuple, hw_key: tuple, prompt_tokens: int | None, _choice: Any, _values: dict, _hw: Any
) -> dict:
    est = estimate(_choice, _values, _hw)
    hwm, cal = hardware_and_calibration(_hw)
    # a file's estimate carries its tensor list (MBs for a large header): timed in process
    call = offload.call if _choice.gguf is None else offload.in_process
    ans = call(
        answer_for,
        est,
        hwm,
        calibration=cal,
        hardware_basis=hardware_basis(_hw),
        context_prompt_tokens=prompt_tokens,
        model_path=(f"./{_choice.label}" if _choice.gguf is not None else None),
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
    """Largest context at this quant, and the best quant at this context (the solver's).

    The two halves are cached apart: a context change keeps the largest context, a quant
    change keeps the best quant."""
    model, hwk = _model_key(choice), _hw_key(hw)
    lim = _largest_context(model, _run_key(choice, values, drop=("ctx",)), hwk, choice, values, hw)
    bq = None
    if choice.gguf is None:  # a file's quant is what it is; the ladder is for catalog/HF models
        bq = _best_quant(model, _run_key(choice, values, drop=("quant",)), hwk, choice, values, hw)
    return {
        "max_ctx": lim.on_gpu or lim.with_offload,
        "max_ctx_on_gpu": lim.on_gpu,
        "max_ctx_with_offload": lim.with_offload,
        "model_max": lim.model_max,
        "best_quant": bq,
    }


def _run_settings(sc: Any) -> dict:
    """The scenario's run settings as the solver's searches and the fit map take them: the
    limits and the map beside them are sized for the page's users, cache and load settings."""
    return dict(
        n_parallel=sc.n_parallel,
        kv_type_k=sc.kv_type_k,
        kv_type_v=sc.kv_type_v,
        flash_attn=sc.flash_attn,
        mmap=sc.mmap,
        repack=sc.repack,
        mlock=sc.mlock,
    )


@value_cache(max_entries=64)
def _largest_context(model_key: tuple, run_key: tuple, hw_key: tuple, _choice: Any, _values: dict, _hw: Any) -> Any:
    sc = estimate(_choice, _values, _hw).scenario
    hwm, cal = hardware_and_calibration(_hw)
    return offload.call(solver.largest_context, sc.model, sc.quant, hwm, cal, tensors=sc.tensors, **_run_settings(sc))


@value_cache(max_entries=64)
def _best_quant(model_key: tuple, run_key: tuple, hw_key: tuple, _choice: Any, _values: dict, _hw: Any) -> str | None:
    sc = estimate(_choice, _values, _hw).scenario
    hwm = hardware_and_calibration(_hw)[0]
    return offload.call(solver.best_quant_name, sc.model, int(_values["ctx"]), hwm, **_run_settings(sc))


def fit_grid(choice: Any, values: dict, hw: Any) -> dict:
    """Quant × context: the solver's verdict per cell and its total bytes
    (``sizing.core.fitmap``). The grid does not depend on the chosen quant, context or
    prompt, so changing those reuses it.
    """
    return _fit_grid(
        _model_key(choice), _run_key(choice, values, drop=("quant", "ctx")), _hw_key(hw), choice, values, hw
    )


@value_cache(max_entries=64)
def _fit_grid(model_key: tuple, run_key: tuple, hw_key: tuple, _choice: Any, _values: dict, _hw: Any) -> dict:
    sc = estimate(_choice, _values, _hw).scenario
    hwm = hardware_and_calibration(_hw)[0]
    return offload.call(
        fitmap.fit_map,
        sc.model,
        hwm,
        **_run_settings(sc),
    ).model_dump()


def plan_request(values: dict) -> Any:
    """The page's values as the composition's ``PlanRequest`` (one mapping, used by both calls)."""
    from sizing.plan import PlanRequest

    return PlanRequest(
        models=tuple(values["models"]),
        quant=values["quant"],
        ctx=int(values["ctx"]),
        objective=values["objective"],
        target_tps=values["tps"] or None,
        budget_usd=values["budget"] or None,
        used=bool(values["used"]),
        prices=tuple(values.get("prices") or ()),
        limit=50,
        region=values["region"],
        usd_per_kwh=values["kwh"] or None,
        hours_per_day=values["hours"],
        years=values["years"],
    )


@st.cache_data(show_spinner="Pricing every whole build…", max_entries=32)
def purchase(values: dict) -> dict:
    """Whole builds ranked by the objective: ``sizing.plan.plan_purchase``'s answer, as data."""
    from sizing.plan import plan_purchase

    answer = plan_purchase(plan_request(values), resolve=lambda m: catalog().get(m))
    return answer.model_dump(mode="json")


def regions() -> dict[str, str]:
    from sizing.core.cloud import electricity

    e = electricity()
    return {r.id: f"{r.name}: {e.usd_per_kwh(r.id):.3f} USD/kWh ({r.date})" for r in e.regions}


def priced_item_ids() -> set[str]:
    from sizing.core.builds import priced_ids

    return priced_ids(gpu_db().all)


@st.cache_data(show_spinner="Comparing with renting…", max_entries=32)
def buy_or_rent(values: dict, row: dict, workload: dict) -> dict:
    """One ranked build against cloud GPUs by the hour and APIs serving the same model
    (``sizing.plan.buy_or_rent``); ``workload`` in millions of tokens a day."""
    from sizing.core.cloud import Workload
    from sizing.core.purchase import Row
    from sizing.plan import buy_or_rent as compare

    work = Workload(tokens_in_per_day=workload["tin"] * 1e6, tokens_out_per_day=workload["tout"] * 1e6)
    res = compare(plan_request(values), Row.model_validate(row), work, resolve=lambda m: catalog().get(m))
    return res.model_dump(mode="json")


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


def runs_well(
    hw: Any, *, ctx: int, min_tps: float, task: str | None = None, quality: str = "any", with_context: bool = False
) -> list[dict]:
    """What runs well on a page's hardware choice (``sizing.core.runs_well.rank_for_hardware``):
    on this machine at its own speed calibration when it has stored live checks."""
    key = machine_calibration_key() if hw.mode == "machine" else ""
    return _runs_well(key, hw, ctx=ctx, min_tps=min_tps, task=task, quality=quality, with_context=with_context)


@st.cache_data(show_spinner="Ranking the catalog for this hardware…", max_entries=32)
def _runs_well(
    calibration_key: str, hw: Any, *, ctx: int, min_tps: float, task: str | None, quality: str, with_context: bool
) -> list[dict]:
    """Cached per hardware and calibration: a new stored check re-ranks."""
    from sizing.core.runs_well import rank_for_hardware
    from sizing.sources.catalog import catalog_tasks
    from sizing.sources.releases import load_releases

    hwm, cal = hardware_and_calibration(hw)
    cat = catalog()
    releases = load_releases()
    rows = rank_for_hardware(
        cat.models,
        hwm,
        cal,
        ctx=ctx,
        min_tps=min_tps,
        task=task,
        tasks_of=catalog_tasks(cat),
        released_of=releases.dates(),
        doubling_months=releases.doubling_months,
        quants=QUALITY_LADDERS[quality],
    )
    # The largest-context search is the slow part: ask it only for the top rows.
    top = [r.model_id for r in rows if r.fits and r.quant][:CONTEXT_ROWS] if with_context else []
    limit = {}
    for r in rows:
        if r.model_id in top:
            lim = solver.largest_context(cat.get(r.model_id), r.quant or "", hwm, cal)
            limit[r.model_id] = lim.on_gpu or lim.with_offload
    return [{**r.model_dump(mode="json"), "hardware": hwm.name, "max_ctx": limit.get(r.model_id)} for r in rows]


def live_expected_seconds(spec: str, ctx: int, n_prompt: int, n_gen: int, quant: str | None = None) -> dict | None:
    """How long a live check should take on this machine, before it starts: loading the
    weights, then the prompt and the generation at the speeds the estimator predicts here.

    Cached per input, this machine's stored calibration and the file's size and time (a
    GGUF's header was read again on every rerun of the page)."""
    stamp = None
    if spec.lower().endswith(".gguf"):
        try:
            st_ = os.stat(spec)
            stamp = (st_.st_size, st_.st_mtime_ns)
        except OSError:
            stamp = None
    return _live_expected_seconds(spec, ctx, n_prompt, n_gen, machine_calibration_key(), stamp, quant)


@st.cache_data(show_spinner=False, max_entries=32)
def _live_expected_seconds(
    spec: str,
    ctx: int,
    n_prompt: int,
    n_gen: int,
    calibration_key: str,
    file_stamp: tuple | None,
    quant: str | None = None,
) -> dict | None:
    from pathlib import Path as _P

    hwm, cal = calibrate_hardware(detected_hardware(), calibration(), machine_calibration())
    if spec.lower().endswith(".gguf"):
        est = core_estimate(str(_P(spec)), None, ctx, backend="cpu", offline=True)
        arch, quant, tensors, load_bytes = (
            est.scenario.model,
            est.scenario.quant,
            est.scenario.tensors,
            est.weights_bytes,
        )
    else:
        arch, quant, tensors = catalog().get(spec), quant or "Q4_K_M", None
        load_bytes = 0  # a synthetic file is a sparse hole: nothing to read
    plan_ = solver.solve(arch, quant, ctx, hwm, cal, tensors=tensors, prompt_tokens=max(1, n_prompt))
    return check_time(load_bytes, n_prompt, n_gen, plan_.speed).model_dump()


@st.cache_resource(show_spinner="Planning this machine's calibration runs…", ttl=300, max_entries=1)
def measure_plan() -> tuple[list, str | None]:
    """What `calibrate --measure` would run here now, or why it cannot (too little RAM for
    a bandwidth-bound run). Kept a few minutes: it assembles Gemma-3-270M (a checksum) and
    sizes the bandwidth run for the RAM available now."""
    from sizing.live.measure_machine import this_machine_plan

    try:
        return this_machine_plan(), None
    except SizingError as exc:
        return [], str(exc)


def measure_expected_seconds(plan: list, repeats: int) -> dict:
    """How long measuring this machine should take: each planned run by the live check's
    expected-time estimate (None where it has none), times ``repeats``."""
    from sizing.live.measure_machine import CTX, run_name

    runs = []
    for run in plan:
        try:
            eta = live_expected_seconds(run.model, CTX, run.n_prompt, run.n_gen, run.quant)
        except Exception:  # no estimate for one run is not a reason to hide the plan
            eta = None
        runs.append({"run": run_name(run), "regime": run.regime, "seconds": eta["total_s"] if eta else None})
    return {"runs": runs, "total_s": repeated_time([r["seconds"] for r in runs], repeats), "repeats": repeats}


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
