"""Shared input widgets: which model, which run settings, which hardware.

Each group declares its URL parameters (``*_params``) and draws its widgets bound to a
:class:`~sizing.ui.state.PageState`. Choices come from the core (catalog, quant table,
GPU database); when a piece is missing the widget degrades to a plain text field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import streamlit as st

from sizing.errors import SizingError
from sizing.core.scenario import MAX_CTX
from sizing.ui import services
from sizing.ui.config import UIConfig
from sizing.ui.state import PageState, Param, ParamError, safe_name

PREFERRED_MODELS = (
    "Qwen/Qwen3-8B",
    "meta-llama/Llama-3.1-8B-Instruct",
    "Qwen/Qwen3-4B",
)
PREFERRED_GPUS = ("nvidia-rtx-4090", "nvidia-rtx-3090")
FALLBACK_QUANT = "Q4_K_M"
CTX_STEPS = (512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576)


def default_model() -> str:
    ids = services.catalog_ids()
    for m in PREFERRED_MODELS:
        if m in ids:
            return m
    return ids[0] if ids else PREFERRED_MODELS[0]


def default_gpu() -> list[str]:
    ids = services.gpu_ids()
    for g in PREFERRED_GPUS:
        if g in ids:
            return [g]
    return [ids[0]] if ids else []


def _catalog_check(value: str) -> str:
    """A catalog id or alias (normalised to the id). The name is checked for shape first,
    so nothing but a plain name is ever echoed back in a warning."""
    value = safe_name(value)
    ids = services.catalog_ids()
    if ids and value not in ids:
        try:
            return services.catalog_get(value).id  # an alias: normalise to the id
        except SizingError:
            close = services.catalog_suggest(value)
            hint = f"; closest: {', '.join(close)}" if close else ""
            raise ParamError(f"unknown model `{value}`{hint}") from None
    return value


# --- model -----------------------------------------------------------------------------


def model_params() -> list[Param]:
    return [
        Param("src", "catalog", choices=("catalog", "hf", "file")),
        Param("model", default_model(), check=_catalog_check),
        Param("repo", "", check=lambda v: safe_name(v) if v else v),
        # a GGUF quant published in that repo ("" = size from its config.json)
        Param("gq", "", check=_quant_check),
    ]


def _quant_check(value: str) -> str:
    if value and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}", value):
        raise ParamError("not a quant name")
    return value


def run_params() -> list[Param]:
    quants = services.file_quants() or None
    kvs = services.kv_types() or None
    return [
        Param("quant", FALLBACK_QUANT, choices=quants),
        # For a GGUF file: its own quant ("file") or another one by llama.cpp's recipe.
        Param("fq", "file", choices=(["file", *quants] if quants else None)),
        Param("ctx", 4096, kind="int", lo=1, hi=MAX_CTX),
        Param("kv", "f16", choices=kvs),
        Param("np", 1, kind="int", lo=1, hi=256),
        Param("fa", True, kind="bool"),
        # how llama.cpp holds the weights in RAM: --no-mmap, --no-repack, --mlock
        Param("mmap", True, kind="bool"),
        Param("repack", True, kind="bool"),
        Param("mlock", False, kind="bool"),
    ]


@dataclass
class ModelChoice:
    """What the user picked: a spec to resolve, or an already-read GGUF header."""

    spec: str | None = None  # catalog id or HF repo id
    gguf: Any = None  # GGUFModel read from an upload or a configured directory
    label: str = ""


def model_input(ps: PageState, cfg: UIConfig) -> ModelChoice | None:
    """Draw the model picker; return the choice, or None with a message shown."""
    src = st.radio(
        "Model from",
        ("catalog", "hf", "file"),
        format_func={"catalog": "Catalog", "hf": "Hugging Face repo", "file": "GGUF file"}.get,
        horizontal=True,
        key=ps.key("src"),
    )
    if src == "catalog":
        names = services.catalog_names()
        if names:
            st.selectbox(
                "Model",
                list(names),
                format_func=lambda i: f"{names.get(i, i)}  ·  {i}",
                key=ps.key("model"),
                help="Type to search the catalog",
            )
        else:
            st.text_input("Model (catalog id)", key=ps.key("model"))
            st.caption("The model catalog could not be loaded (the server log says why): type a catalog id, "
                       "or pick a Hugging Face repo or a GGUF file.")
        return ModelChoice(spec=ps["model"], label=ps["model"])
    if src == "hf":
        text = st.text_input(
            "Hugging Face repo id", key=ps.key("repo"), placeholder="org/model", max_chars=160
        )
        if not text:
            st.info("Enter a repo id such as `Qwen/Qwen3-8B`.")
            return None
        try:
            spec = safe_name(text)
        except ParamError as exc:
            st.error(f"Repo id {text[:60]!r}: {exc}.")
            return None
        return _repo_gguf_input(ps, spec) or ModelChoice(spec=spec, label=spec)
    return _file_input(ps, cfg)


def _repo_gguf_input(ps: PageState, repo: str) -> ModelChoice | None:
    """A repo that publishes GGUF files offers its quants; one picked is sized from its
    header alone (range requests, nothing downloaded). None: size from config.json."""
    files, why = services.repo_ggufs(repo)
    if not files:
        if why:
            st.caption(f"No GGUF quants listed ({why}); sizing from config.json.")
        return None
    quants = [f["quant"] for f in files]
    sizes = {f["quant"]: f.get("size") for f in files}
    if ps["gq"] and ps["gq"] not in quants:
        st.warning(f"`{ps['gq']}` is not a GGUF in {repo}; it has {', '.join(quants)}.")
    options = ["", *quants]
    st.selectbox(
        "GGUF quant in this repo", options,
        format_func=lambda q: "— size from config.json —" if not q else
        (f"{q}  ·  {sizes[q] / 1e9:.1f} GB" if sizes.get(q) else q),
        key=ps.key("gq"),
        help="Read from the file's header only, with HTTP range requests: nothing is downloaded",
    )
    q = ps["gq"]
    if not q or q not in quants:
        return None
    try:
        g = services.remote_gguf(f"{repo}:{q}")
    except SizingError as exc:
        st.error(str(exc))
        return None
    return ModelChoice(gguf=g, label=f"{repo}:{q}")


def _file_input(ps: PageState, cfg: UIConfig) -> ModelChoice | None:
    st.caption(
        f"Only the header is read. Upload the first megabytes of a GGUF (at most {cfg.upload_cap_mb} MB), "
        "e.g. `head -c 16M model.gguf > header.gguf`. Files are never part of a share link."
    )
    up = st.file_uploader(
        "GGUF header",
        type=["gguf"],
        key=ps.key("upload"),
        max_upload_size=cfg.upload_cap_mb,
    )
    files = services.local_gguf_files(cfg)
    if files:
        pick = st.selectbox(
            "…or a GGUF on this machine" if not cfg.web_mode else "…or a GGUF from the server's model directories",
            [None, *files],
            format_func=lambda p: "—" if p is None else p.name,
            key=ps.key("localfile"),
        )
    else:
        pick = None
    if up is not None:
        data = up.getvalue()[: cfg.upload_cap_mb * 1024 * 1024]
        return ModelChoice(gguf=services.read_gguf_header(data, up.name), label=up.name)
    if pick is not None:
        if cfg.web_mode and not cfg.allowed_file(pick):
            st.error("That file is outside the configured model directories.")
            return None
        return ModelChoice(gguf=services.read_gguf_file(pick), label=pick.name)
    st.info("Upload a GGUF header to size it.")
    return None


def run_inputs(ps: PageState) -> None:
    """Quant, context, KV cache type, parallel users, flash attention."""
    c1, c2 = st.columns(2)
    quants = services.file_quants()
    if quants and (ps["src"] == "file" or (ps["src"] == "hf" and ps["gq"])):
        c1.selectbox("Quant", ["file", *quants], key=ps.key("fq"),
                     format_func=lambda q: "As in the file" if q == "file" else q)
    elif quants:
        c1.selectbox("Quant", quants, key=ps.key("quant"))
    else:
        c1.text_input("Quant", key=ps.key("quant"))
    c2.number_input("Context (tokens)", min_value=1, max_value=MAX_CTX, step=1024, key=ps.key("ctx"))
    defaults = {p.name: p.default for p in ps.params}
    changed = any(ps[k] != defaults[k] for k in ("kv", "np", "fa", "mmap", "repack", "mlock"))
    with st.expander("KV cache, parallel users, flash attention, weights in RAM", expanded=changed):
        c3, c4 = st.columns(2)
        kvs = services.kv_types()
        if kvs:
            c3.selectbox("KV cache type", kvs, key=ps.key("kv"), help="A quantized V cache needs flash attention")
        else:
            c3.text_input("KV cache type", key=ps.key("kv"))
        c4.number_input("Parallel users", min_value=1, max_value=256, step=1, key=ps.key("np"),
                        help="llama-server -np: each user gets the context above")
        st.toggle("Flash attention", key=ps.key("fa"))
        c5, c6, c7 = st.columns(3)
        c5.toggle("Memory-map the file", key=ps.key("mmap"),
                  help="off: llama-server --no-mmap reads the weights into RAM (no file pages kept twice)")
        c6.toggle("CPU repack", key=ps.key("repack"),
                  help="off: --no-repack; on the CPU, Q4_0/Q4_K/IQ4_NL/MXFP4 weights otherwise get a second, "
                       "repacked copy for faster kernels")
        c7.toggle("Lock in RAM", key=ps.key("mlock"),
                  help="--mlock: pins the weights; mapped file pages are then never reclaimed")


# --- hardware --------------------------------------------------------------------------


def hardware_params(cfg: UIConfig) -> list[Param]:
    ids = services.gpu_ids()
    return [
        Param("hw", "db" if cfg.web_mode else "machine", choices=_hw_modes(cfg)),
        Param("gpu", default_gpu(), kind="list", choices=ids or None, check=_gpus_check),
        Param("count", 1, kind="int", lo=1, hi=16),
        Param("mem", 24.0, kind="float", lo=0.5, hi=4096),
        Param("bw", 1000.0, kind="float", lo=1, hi=100000),
        Param("ram", 64.0, kind="float", lo=0, hi=65536),
    ]


def _gpus_check(v: list[str]) -> list[str]:
    return [safe_name(x) for x in v]


def _hw_modes(cfg: UIConfig) -> tuple[str, ...]:
    return ("db", "custom") if cfg.web_mode else ("machine", "db", "custom")


HW_LABELS = {"machine": "This machine", "db": "GPUs from the database", "custom": "Custom"}


@dataclass
class HardwareChoice:
    mode: str
    gpu_ids: list[str]
    count: int
    mem_gb: float
    bw_gbs: float
    ram_gb: float


def hardware_input(ps: PageState, cfg: UIConfig) -> HardwareChoice:
    mode = st.radio(
        "Hardware", _hw_modes(cfg), format_func=HW_LABELS.get, horizontal=True, key=ps.key("hw")
    )
    if mode == "db":
        ids = services.gpu_ids()
        if ids:
            db = services.gpu_db()
            names = {g.id: f"{g.name} ({g.memory_gb:g} GB)" if g.memory_gb else g.name for g in db.all}
            st.multiselect("GPUs", ids, format_func=lambda i: names.get(i, i), key=ps.key("gpu"),
                           placeholder="Type to search the GPU database")
            c2, c3 = st.columns(2)
            c2.number_input("Cards of each", min_value=1, max_value=16, key=ps.key("count"))
            c3.number_input("System RAM (GB)", min_value=0.0, max_value=65536.0, key=ps.key("ram"))
        else:
            st.info("The GPU database could not be loaded (see the server log); use Custom.", icon=":material/construction:")
    elif mode == "custom":
        c1, c2 = st.columns(2)
        c1.number_input("Device memory (GB)", min_value=0.5, max_value=4096.0, key=ps.key("mem"))
        c2.number_input("Memory bandwidth (GB/s)", min_value=1.0, max_value=100000.0, key=ps.key("bw"))
        st.number_input("System RAM (GB)", min_value=0.0, max_value=65536.0, key=ps.key("ram"))
    return HardwareChoice(mode, list(ps["gpu"]), int(ps["count"]), float(ps["mem"]), float(ps["bw"]), float(ps["ram"]))
