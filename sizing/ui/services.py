"""The UI's only door into the sizing core.

Every number on a page comes from a call made here; the pages format and draw, they do
not compute. Each core piece is imported lazily: a piece that is not installed (or not
written yet, in a partial checkout) raises :class:`Unavailable` with a sentence saying
what is missing, and the page shows that sentence in place of the section.

Results are cached per input (``st.cache_data``/``st.cache_resource``) so a rerun after
a widget change only recomputes what changed.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from sizing.errors import SizingError
from sizing.ui.feedback import Unavailable

log = logging.getLogger("sizing.ui")


def _core(module: str, attr: str, what: str) -> Callable[..., Any]:
    """Import ``module.attr`` or raise Unavailable naming the missing piece."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and (module == exc.name or module.startswith(exc.name + ".")):
            raise Unavailable(f"{what} is not available in this build yet (`{module}` is missing).") from None
        raise
    try:
        return getattr(mod, attr)
    except AttributeError:
        raise Unavailable(f"{what} is not available in this build yet (`{module}.{attr}` is missing).") from None


def has(module: str, attr: str | None = None) -> bool:
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return False
    return attr is None or hasattr(mod, attr)


# --- models ----------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def catalog() -> Any:
    return _core("sizing.models.catalog", "load_catalog", "The model catalog")()


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


def hf_offline() -> bool | None:
    """Hub look-ups follow HF_HUB_OFFLINE; tests and air-gapped servers set it."""
    v = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return True if v in ("1", "true", "yes", "on") else None


@st.cache_resource(show_spinner="Resolving model…", max_entries=64)
def resolve(spec: str) -> Any:
    """A catalog id/alias or a Hugging Face repo id -> ResolvedModel (never a path)."""
    fn = _core("sizing.models.resolve", "resolve_model", "Model resolution (catalog, Hugging Face)")
    return fn(spec, offline=hf_offline())


def read_gguf_header(data: bytes, name: str) -> Any:
    """Parse an uploaded GGUF header (already capped) without keeping the file around.

    An upload is only the first megabytes of a model file. The reader checks that every
    tensor lies inside the file, so the prefix is written to a temporary file that is
    then extended, sparsely (no disk used), to a size no model reaches; only the uploaded
    bytes are ever read. The result names the upload, never the temporary path.
    """
    fn = _core("sizing.models.gguf_reader", "read_gguf", "Reading GGUF files")
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
            model = fn(path)
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
    """A GGUF file from a configured directory (the caller checked the directory)."""
    return _core("sizing.models.gguf_reader", "read_gguf", "Reading GGUF files")(path)


def file_quants() -> list[str]:
    try:
        return list(_core("sizing.quant", "FILE_QUANTS", "The quantization table"))
    except Exception:
        return []


def kv_types() -> list[str]:
    try:
        return list(_core("sizing.quant", "KV_TYPES", "The KV cache types"))
    except Exception:
        return []


# --- hardware --------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def gpu_db() -> Any:
    return _core("sizing.hardware.db", "load_gpus", "The GPU database")()


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
    return _core("sizing.hardware.detect", "detect_machine", "Hardware detection")()


# --- estimates -------------------------------------------------------------------------


def estimate_fn() -> Callable[..., Any]:
    return _core("sizing.estimate", "estimate", "The estimator")


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
        rm_cls = _core("sizing.models.resolve", "ResolvedModel", "Model resolution")
        g = choice.gguf
        return rm_cls(arch=g.arch, tensors=g.tensors, kind="gguf", file_type=g.file_type)
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
        offline=hf_offline(),
    )


def estimate(choice: Any, values: dict, hw: Any) -> Any:
    """The core's Estimate for a model choice, run settings and hardware choice."""
    fn = estimate_fn()
    return fn(resolved(choice), **estimate_kwargs(choice, values))


def limits(choice: Any, values: dict, hw: Any) -> dict:
    raise Unavailable("The fit solver (largest context, best quant) is not available in this build yet.")


def fit_grid(choice: Any, values: dict, hw: Any) -> dict:
    raise Unavailable("The fit map needs the fit solver, which is not available in this build yet.")


def plan(values: dict) -> dict:
    _core("sizing.planner", "plan_purchase", "The purchase planner")
    raise Unavailable("The purchase planner is not available in this build yet.")


def compare(values: dict) -> list[dict]:
    estimate_fn()
    raise Unavailable("Comparisons need the estimator with hardware, not available in this build yet.")


def what_runs_here(machine: Any, *, ctx: int, quality: str) -> list[dict]:
    estimate_fn()
    raise Unavailable("Ranking the catalog needs the estimator with hardware, not available in this build yet.")
