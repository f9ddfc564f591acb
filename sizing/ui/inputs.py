"""Shared input widgets: which model, which run settings, which hardware.

Each group declares its URL parameters (``*_params``) and draws its widgets bound to a
:class:`~sizing.ui.state.PageState`. Choices come from the core (catalog, quant table,
GPU database); when a piece is missing the widget degrades to a plain text field.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import streamlit as st

from sizing.errors import SizingError
from sizing.core.scenario import MAX_CTX
from sizing.ui import fmt, services
from sizing.ui.config import UIConfig
from sizing.ui.echo import inert
from sizing.ui.redact import shown_error
from sizing.ui.state import PageState, Param, ParamError, safe_name

log = logging.getLogger("sizing.ui")

PREFERRED_MODELS = (
    "Qwen/Qwen3-8B",
    "meta-llama/Llama-3.1-8B-Instruct",
    "Qwen/Qwen3-4B",
)
FALLBACK_QUANT = "Q4_K_M"
CTX_STEPS = (512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576)


def default_model() -> str:
    ids = services.catalog_ids()
    for m in PREFERRED_MODELS:
        if m in ids:
            return m
    return ids[0] if ids else PREFERRED_MODELS[0]


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
            raise ParamError(f"unknown model “{value}”{hint}") from None
    return value


# --- model -----------------------------------------------------------------------------


SOURCES = ("catalog", "hf", "file")
SOURCE_LABELS = {"catalog": "Catalog", "hf": "Hugging Face repo", "file": "GGUF file"}


def model_params(sources: tuple[str, ...] = SOURCES) -> list[Param]:
    return [
        Param("src", "catalog", choices=sources),
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
        # a quant, or its variant that requantizes natively quantized experts (gpt-oss)
        Param("quant", FALLBACK_QUANT, choices=(quants + services.requant_quants()) if quants else None),
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
        # the prompt the speed at this context assumes; 0: a quarter of the context
        Param("prompt", 0, kind="int", lo=0, hi=MAX_CTX),
    ]


@dataclass
class ModelChoice:
    """What the user picked: a spec to resolve, or an already-read GGUF header."""

    spec: str | None = None  # catalog id or HF repo id
    gguf: Any = None  # GGUFModel read from an upload or a configured directory
    label: str = ""
    mmproj: Any = None  # a multimodal projector (sizing.core.projector.Projector) to load with it


def model_input(ps: PageState, cfg: UIConfig, sources: tuple[str, ...] = SOURCES) -> ModelChoice | None:
    """Draw the model picker; return the choice, or None with a message shown. ``sources``
    limits where a model may come from (fine-tuning starts from weights, not a GGUF)."""
    src = st.radio(
        "Model from",
        sources,
        format_func=fmt.label_of(SOURCE_LABELS),
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
            st.caption(
                "The model catalog could not be loaded (the server log says why): type a catalog id, "
                "or pick a Hugging Face repo or a GGUF file."
            )
        return ModelChoice(spec=ps["model"], label=ps["model"])
    if src == "hf":
        text = st.text_input("Hugging Face repo id", key=ps.key("repo"), placeholder="org/model", max_chars=160)
        if not text:
            st.info("Enter a repo id such as `Qwen/Qwen3-8B`.")
            return None
        try:
            spec = safe_name(text)
        except ParamError as exc:
            st.error(f"Repo id “{inert(text, 60)}”: {inert(exc)}.")
            return None
        return _repo_gguf_input(ps, spec) or ModelChoice(spec=spec, label=spec)
    return _file_input(ps, cfg)


def _repo_gguf_input(ps: PageState, repo: str) -> ModelChoice | None:
    """A repo that publishes GGUF files offers its quants; one picked is sized from its
    header alone (range requests, nothing downloaded). None: size from config.json."""
    files, why = services.repo_ggufs(repo)
    if not files:
        if why:
            st.caption(f"No GGUF quants listed ({inert(shown_error(why))}); sizing from config.json.")
        return None
    quants = [f["quant"] for f in files]
    sizes = {f["quant"]: f.get("size") for f in files}
    if ps["gq"] and ps["gq"] not in quants:
        st.warning(f"“{inert(ps['gq'], 40)}” is not a GGUF in {inert(repo)}; it has {inert(', '.join(quants))}.")
    options = ["", *quants]
    st.selectbox(
        "GGUF quant in this repo",
        options,
        format_func=lambda q: (
            "— size from config.json —"
            if not q
            else (f"{q}  ·  {(sizes.get(q) or 0) / 1e9:.1f} GB" if sizes.get(q) else q)
        ),
        key=ps.key("gq"),
        help="Read from the file's header only, with HTTP range requests: nothing is downloaded",
    )
    q = ps["gq"]
    if not q or q not in quants:
        return None
    try:
        g = services.remote_gguf(f"{repo}:{q}")
    except SizingError as exc:
        st.error(inert(shown_error(str(exc))))
        return None
    return ModelChoice(gguf=g, label=f"{repo}:{q}")


def _server_takes_more_than(cap_mb: int) -> bool:
    """Was the server started without the cap (not through ``sizing.ui.serve``)? Then it
    would accept and hold uploads larger than the page announces."""
    try:
        return int(st.get_option("server.maxUploadSize")) > cap_mb
    except Exception:
        return False


def _file_input(ps: PageState, cfg: UIConfig) -> ModelChoice | None:
    if cfg.web_mode and _server_takes_more_than(cfg.upload_cap_mb):
        log.error(
            "server.maxUploadSize is above LLM_SIZING_UPLOAD_CAP_MB=%s: uploads are off; "
            "start the app with `python -m sizing.ui.serve`",
            cfg.upload_cap_mb,
        )
        st.warning(
            "Uploads are off on this server (it was started without its upload cap); "
            "pick a GGUF from the server's model folders, or a catalog or Hugging Face model.",
            icon=":material/block:",
        )
        return _local_file_input(ps, cfg, None)
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
    return _local_file_input(ps, cfg, up)


def _local_file_input(ps: PageState, cfg: UIConfig, up: Any) -> ModelChoice | None:
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
    choice = None
    if up is not None:
        data = up.getvalue()[: cfg.upload_cap_mb * 1024 * 1024]
        gguf = services.read_gguf_header(data, up.name)
        choice = ModelChoice(gguf=gguf, label=gguf.path)
    elif pick is not None:
        if cfg.web_mode and not cfg.allowed_file(pick):
            st.error("That file is outside the configured model directories.")
            return None
        choice = ModelChoice(
            gguf=services.read_gguf_file(pick, allowed=cfg.allowed_file if cfg.web_mode else None), label=pick.name
        )
    if choice is None:
        st.info("Upload a GGUF header to size it.")
        return None
    choice.mmproj = _mmproj_input(ps, cfg)
    return choice


def _mmproj_input(ps: PageState, cfg: UIConfig) -> Any:
    """An optional vision/audio projector (mmproj GGUF) and whether to count it."""
    with st.expander("Vision / audio projector (mmproj)"):
        mm = st.file_uploader(
            "mmproj GGUF header",
            type=["gguf"],
            key=ps.key("mmproj_upload"),
            max_upload_size=cfg.upload_cap_mb,
            help="The projector llama-server loads with --mmproj: its weights, its "
            "compute buffer and the context each image takes are added",
        )
        include = st.toggle("Include the projector", value=True, key=ps.key("mmproj_on"))
        if mm is None:
            return None
        proj = services.read_mmproj_header(mm.getvalue()[: cfg.upload_cap_mb * 1024 * 1024], mm.name)
        st.caption(
            f"{proj.projector_type} {'/'.join(proj.modalities)} encoder: each image takes "
            f"{proj.image_tokens} context cells"
        )
        return proj if include else None


def run_inputs(ps: PageState, choice: ModelChoice | None = None) -> None:
    """Quant, context, KV cache type, parallel users, flash attention. A model that ships
    tensors already quantized (gpt-oss's MXFP4 experts) also offers each quant's variant
    that requantizes them (``Q8_0+requant``), a different file some publishers make."""
    c1, c2 = st.columns(2)
    quants = services.file_quants()
    if quants and (ps["src"] == "file" or (ps["src"] == "hf" and ps["gq"])):
        c1.selectbox(
            "Quant", ["file", *quants], key=ps.key("fq"), format_func=lambda q: "As in the file" if q == "file" else q
        )
    elif quants:
        if services.ships_quantized(choice) or str(ps["quant"]).endswith("+requant"):
            quants = quants + services.requant_quants()
        c1.selectbox("Quant", quants, key=ps.key("quant"))
    else:
        c1.text_input("Quant", key=ps.key("quant"))
    c2.number_input("Context (tokens)", min_value=1, max_value=MAX_CTX, step=1024, key=ps.key("ctx"))
    defaults = {p.name: p.default for p in ps.params}
    changed = any(ps[k] != defaults[k] for k in ("kv", "np", "fa", "mmap", "repack", "mlock", "prompt"))
    with st.expander("KV cache, parallel users, flash attention, weights in RAM, prompt", expanded=changed):
        c3, c4 = st.columns(2)
        kvs = services.kv_types()
        if kvs:
            c3.selectbox("KV cache type", kvs, key=ps.key("kv"), help="A quantized V cache needs flash attention")
        else:
            c3.text_input("KV cache type", key=ps.key("kv"))
        c4.number_input(
            "Parallel users",
            min_value=1,
            max_value=256,
            step=1,
            key=ps.key("np"),
            help="llama-server -np: each user gets the context above",
        )
        st.toggle("Flash attention", key=ps.key("fa"))
        c5, c6, c7 = st.columns(3)
        c5.toggle(
            "Memory-map the file",
            key=ps.key("mmap"),
            help="off: llama-server --no-mmap reads the weights into RAM (no file pages kept twice)",
        )
        c6.toggle(
            "CPU repack",
            key=ps.key("repack"),
            help="off: --no-repack; on the CPU, Q4_0/Q4_K/IQ4_NL/MXFP4 weights otherwise get a second, "
            "repacked copy for faster kernels",
        )
        c7.toggle(
            "Lock in RAM",
            key=ps.key("mlock"),
            help="--mlock: pins the weights; mapped file pages are then never reclaimed",
        )
        st.number_input(
            "Your prompt (tokens)",
            min_value=0,
            max_value=MAX_CTX,
            step=512,
            key=ps.key("prompt"),
            help="for the time to first token at your context; 0: a quarter of the context",
        )


# --- hardware --------------------------------------------------------------------------

MAX_GPU_ROWS = 4  # different card models in one machine; each row has its own count


def hardware_params(cfg: UIConfig) -> list[Param]:
    ids = services.gpu_ids()
    return [
        Param("hw", "db" if cfg.web_mode else "machine", choices=_hw_modes(cfg)),
        # One entry per card model (repeated: gpu=A&gpu=B); nothing is preselected.
        Param("gpu", [], kind="list", choices=ids or None, check=_gpus_check),
        # Cards of each model, in the same order (one value: the same count for every model).
        Param("count", [1], kind="list", item="int", lo=1, hi=16),
        Param("mem", 24.0, kind="float", lo=0.5, hi=4096),
        Param("bw", 1000.0, kind="float", lo=1, hi=100000),
        Param("uni", False, kind="bool"),
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
    count: int  # cards of the first model (the fine-tune page's one count)
    mem_gb: float
    bw_gbs: float
    ram_gb: float
    counts: list[int] | None = None  # cards of each model in gpu_ids
    unified: bool = False

    def __post_init__(self) -> None:
        if self.counts is None:
            self.counts = [self.count] * len(self.gpu_ids)

    @property
    def cards(self) -> list[tuple[str, int]]:
        return list(zip(self.gpu_ids, self.counts or []))


def gpu_cards(ps: PageState) -> list[tuple[str, int]]:
    """(GPU id, cards) per chosen model: the counts list pairs with the GPUs in order; a
    single count applies to every model (the older ``count=N`` form); a duplicated GPU
    is one row with the counts added."""
    ids = list(ps["gpu"])
    counts = [int(c) for c in ps["count"]] or [1]
    if len(counts) == 1:
        counts = counts * len(ids)
    counts = (counts + [1] * len(ids))[: len(ids)]
    out: dict[str, int] = {}
    for g, n in zip(ids, counts):
        out[g] = min(16, out.get(g, 0) + n)
    return list(out.items())


def _set_cards(ps: PageState, cards: list[tuple[str, int]]) -> None:
    ps.set("gpu", [g for g, _ in cards])
    counts = [n for _, n in cards]
    # all ones is the default: left out of the link
    ps.set("count", [1] if all(n == 1 for n in counts) else counts)


def _row_key(ps: PageState, what: str, i: int | str) -> str:
    return f"{ps.page}.{what}#{i}"


def _on_row_gpu(ps: PageState, i: int) -> None:
    cards = gpu_cards(ps)
    new = st.session_state.get(_row_key(ps, "gpu", i))
    if new is None or i >= len(cards):
        return
    cards[i] = (new, cards[i][1])
    _set_cards(ps, _merged(cards))


def _on_row_count(ps: PageState, i: int) -> None:
    cards = gpu_cards(ps)
    n = st.session_state.get(_row_key(ps, "count", i))
    if n is None or i >= len(cards):
        return
    cards[i] = (cards[i][0], int(n))
    _set_cards(ps, cards)


def _on_remove(ps: PageState, i: int) -> None:
    cards = gpu_cards(ps)
    if i < len(cards):
        cards.pop(i)
    _set_cards(ps, cards)


def _on_add(ps: PageState) -> None:
    new = st.session_state.get(_row_key(ps, "gpu", "new"))
    st.session_state[_row_key(ps, "gpu", "new")] = None
    if new is None:
        return
    _set_cards(ps, _merged([*gpu_cards(ps), (new, 1)]))


def _merged(cards: list[tuple[str, int]]) -> list[tuple[str, int]]:
    out: dict[str, int] = {}
    for g, n in cards:
        out[g] = min(16, out.get(g, 0) + n)
    return list(out.items())


def gpu_picker(ps: PageState) -> list[tuple[str, int]]:
    """One row per card model: the card (a single choice: Enter picks one card) and how
    many of it. A last, empty box adds a different model for a mixed machine."""
    db = services.gpu_db()
    ids = services.gpu_ids()
    names = services.gpu_labels()
    cards = gpu_cards(ps)
    for i, (gid, n) in enumerate(cards):
        # the row widgets show the URL-bound list (a link or a callback may have changed it)
        if st.session_state.get(_row_key(ps, "gpu", i)) != gid:
            st.session_state[_row_key(ps, "gpu", i)] = gid
        if st.session_state.get(_row_key(ps, "count", i)) != n:
            st.session_state[_row_key(ps, "count", i)] = n
        # the card on its own line (its full name readable), its count and removal below
        st.selectbox(
            "GPU" if i == 0 else f"GPU {i + 1}",
            ids,
            format_func=lambda x: names.get(x, x),
            key=_row_key(ps, "gpu", i),
            on_change=_on_row_gpu,
            args=(ps, i),
        )
        c1, c2 = st.columns(2, vertical_alignment="bottom")
        c1.number_input(
            "Cards of this GPU",
            min_value=1,
            max_value=16,
            step=1,
            key=_row_key(ps, "count", i),
            on_change=_on_row_count,
            args=(ps, i),
            help="How many of this card the machine has",
        )
        c2.button(
            "Remove",
            icon=":material/close:",
            key=_row_key(ps, "rm", i),
            help="Remove this GPU",
            on_click=_on_remove,
            args=(ps, i),
        )
    if len(cards) < MAX_GPU_ROWS:
        if _row_key(ps, "gpu", "new") not in st.session_state:
            st.session_state[_row_key(ps, "gpu", "new")] = None
        st.selectbox(
            "GPU" if not cards else "Add a different GPU (mixed machine)",
            ids,
            format_func=lambda x: names.get(x, x),
            key=_row_key(ps, "gpu", "new"),
            placeholder="Type to search the GPU database",
            on_change=_on_add,
            args=(ps,),
        )
    if cards:
        total = sum(n for _, n in cards)
        gb = sum((db.get(g).memory_gb or 0) * n for g, n in cards)
        parts = " + ".join(f"{n} × {db.get(g).name}" for g, n in cards)
        st.caption(f"Machine: {parts} = {total} card{'s' if total > 1 else ''}, {gb:g} GB of GPU memory.")
    return cards


def hardware_input(ps: PageState, cfg: UIConfig) -> HardwareChoice:
    mode = st.radio("Hardware", _hw_modes(cfg), format_func=fmt.label_of(HW_LABELS), horizontal=True, key=ps.key("hw"))
    cards = gpu_cards(ps)
    if mode == "db":
        if services.gpu_ids():
            cards = gpu_picker(ps)
            st.number_input("System RAM (GB)", min_value=0.0, max_value=65536.0, key=ps.key("ram"))
        else:
            st.info(
                "The GPU database could not be loaded (see the server log); use Custom.", icon=":material/construction:"
            )
    elif mode == "custom":
        c1, c2 = st.columns(2)
        c1.number_input("Device memory (GB)", min_value=0.5, max_value=4096.0, key=ps.key("mem"))
        c2.number_input("Memory bandwidth (GB/s)", min_value=1.0, max_value=100000.0, key=ps.key("bw"))
        c3, c4 = st.columns(2, vertical_alignment="bottom")
        c3.number_input("System RAM (GB)", min_value=0.0, max_value=65536.0, key=ps.key("ram"))
        c4.toggle(
            "Unified memory",
            key=ps.key("uni"),
            help="The device shares system RAM (Apple silicon, Strix Halo, DGX Spark)",
        )
    return HardwareChoice(
        mode,
        [g for g, _ in cards],
        cards[0][1] if cards else 1,
        float(ps["mem"]),
        float(ps["bw"]),
        float(ps["ram"]),
        counts=[n for _, n in cards],
        unified=bool(ps["uni"]),
    )
