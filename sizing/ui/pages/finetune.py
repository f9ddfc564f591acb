"""Fine-tune — can I train this model on my GPU (full, LoRA, QLoRA), and how long will it take?

The page draws what ``sizing.core.finetune.report`` answers: the per-GPU memory of one
training step by part, whether it fits on the chosen hardware, tokens/s and time per
epoch, the largest micro-batch and sequence that fit, which methods fit, and the GPUs in
the database ranked for the dataset. Every input lives in the URL (a copied link
reproduces the view); the model and hardware pickers are the app's shared ones.
"""

from __future__ import annotations

import json
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from sizing.errors import SizingError
from sizing.core.finetune.memory import estimate_finetune_memory
from sizing.core.finetune.scenario import FinetuneScenario
from sizing.core.finetune.plan import backend_for, fits_in, rank_gpus
from sizing.core.finetune.report import finetune_report
from sizing.ui import charts, fmt, inputs, services
from sizing.ui.config import load_config
from sizing.ui.echo import inert
from sizing.ui.feedback import guard
from sizing.ui.state import PageState, Param, copy_link_button
from sizing.units import GIB

URL_PATH = "finetune"
SOURCES = ("catalog", "hf")  # fine-tuning starts from the model's weights; a GGUF is an inference format
RANK_ROWS = 15

METHODS = {"full": "Full fine-tuning", "lora": "LoRA", "qlora": "QLoRA (4-bit NF4 base)"}
PRECISIONS = {"mixed_bf16": "Mixed bf16 (AMP)", "fp32": "fp32"}
OPTIMIZERS = {"adamw": "AdamW", "adamw8bit": "8-bit AdamW (bitsandbytes)", "sgd": "SGD with momentum"}
SHARDINGS = {
    "ddp": "DDP (replicated)",
    "zero1": "ZeRO-1",
    "zero2": "ZeRO-2",
    "zero3": "ZeRO-3",
    "fsdp": "FSDP (full shard)",
}
TARGETS = ("q", "k", "v", "o", "gate", "up", "down")
PART_COLORS = {
    "Weights": "#4C78A8",
    "Gradients": "#E45756",
    "Optimizer": "#F58518",
    "Activations": "#54A24B",
    "Overhead": "#B279A2",
}


def finetune_params() -> list[Param]:
    return [
        Param("method", "lora", choices=tuple(METHODS)),
        Param("prec", "mixed_bf16", choices=tuple(PRECISIONS)),
        Param("rank", 16, kind="int", lo=1, hi=4096),
        Param("targets", ["q", "k", "v", "o"], kind="list", choices=TARGETS),
        Param("seq", 2048, kind="int", lo=1, hi=1_048_576),
        Param("mb", 1, kind="int", lo=1, hi=1024),
        Param("opt", "adamw", choices=tuple(OPTIMIZERS)),
        Param("gc", True, kind="bool"),  # on, as the adapter recipes (PEFT, TRL, Unsloth, Axolotl) run
        Param("fa", True, kind="bool"),
        Param("shard", "ddp", choices=tuple(SHARDINGS)),
        Param("tokens", 10.0, kind="float", lo=0.001, hi=1_000_000),  # dataset, millions of tokens
        Param("rankby", "time", choices=("time", "cost")),
    ]


def page_state() -> PageState:
    cfg = load_config()
    return PageState("finetune", inputs.model_params(SOURCES) + finetune_params() + inputs.hardware_params(cfg))


def training_inputs(ps: PageState) -> None:
    method = st.segmented_control(
        "Method", list(METHODS), format_func=fmt.label_of(METHODS), key=ps.key("method"), selection_mode="single"
    )
    method = method or "lora"
    c1, c2 = st.columns(2)
    if method == "full":
        c1.selectbox("Precision", list(PRECISIONS), format_func=fmt.label_of(PRECISIONS), key=ps.key("prec"))
    else:
        c1.number_input("LoRA rank", min_value=1, max_value=4096, step=8, key=ps.key("rank"))
        c2.multiselect(
            "Target modules",
            list(TARGETS),
            key=ps.key("targets"),
            help="Projections that get adapters: attention q/k/v/o, MLP gate/up/down",
        )
    # two per row at most: in the left column at 1280 px a third box cuts its label and value
    c3, c4 = st.columns(2)
    c3.number_input("Sequence length", min_value=1, max_value=1_048_576, step=512, key=ps.key("seq"))
    c4.number_input("Micro-batch", min_value=1, max_value=1024, step=1, key=ps.key("mb"))
    st.selectbox("Optimizer", list(OPTIMIZERS), format_func=fmt.label_of(OPTIMIZERS), key=ps.key("opt"))
    c6, c7 = st.columns(2)
    c6.toggle(
        "Gradient checkpointing",
        key=ps.key("gc"),
        help="Keep one tensor per layer; recompute the rest. On by default, as the LoRA/QLoRA "
        "recipes of PEFT, TRL, Unsloth and Axolotl run",
    )
    c7.toggle("Flash attention (SDPA)", key=ps.key("fa"), help="Off: eager attention saves the s × s scores")
    st.selectbox(
        "Multi-GPU sharding",
        list(SHARDINGS),
        format_func=fmt.label_of(SHARDINGS),
        key=ps.key("shard"),
        help="Used when more than one card is chosen",
    )
    st.number_input(
        "Dataset (million tokens per epoch)", min_value=0.001, max_value=1_000_000.0, step=10.0, key=ps.key("tokens")
    )


def scenario(arch: Any, v: dict, n_gpus: int = 1) -> FinetuneScenario:
    return FinetuneScenario.build(
        model=arch,
        method=v["method"] or "lora",
        precision=v["prec"],
        rank=int(v["rank"]),
        target_modules=tuple(v["targets"]),
        seq_len=int(v["seq"]),
        micro_batch=int(v["mb"]),
        optimizer=v["opt"],
        grad_checkpointing=bool(v["gc"]),
        flash_attn=bool(v["fa"]),
        n_gpus=n_gpus,
        sharding=v["shard"] if n_gpus > 1 else "none",
    )


def breakdown_chart(rows: list[dict]) -> go.Figure:
    """Stacked bar of the step's parts per GPU, with each GPU's memory as a marker.

    ``rows``: dicts with ``name``, ``capacity_bytes`` (or None) and ``parts`` (name -> bytes).
    """
    names = [r["name"] for r in rows]
    data: list[dict[str, Any]] = [
        {
            "type": "bar",
            "y": names,
            "x": [r["parts"].get(label.lower(), 0) / GIB for r in rows],
            "name": label,
            "orientation": "h",
            "marker": {"color": color},
            "hovertemplate": f"{label}: %{{x:.2f}} GiB<extra>%{{y}}</extra>",
        }
        for label, color in PART_COLORS.items()
    ]
    caps = [(r["name"], r["capacity_bytes"]) for r in rows if r.get("capacity_bytes")]
    if caps:
        data.append(
            {
                "type": "scatter",
                "y": [n for n, _ in caps],
                "x": [c / GIB for _, c in caps],
                "mode": "markers",
                "name": "GPU memory",
                "marker": {"symbol": "line-ns-open", "size": 28, "line": {"width": 3, "color": "#222"}},
                "hovertemplate": "GPU memory: %{x:.1f} GiB<extra>%{y}</extra>",
            }
        )
    return charts.figure(
        data,
        height=160 + 56 * len(rows),
        barmode="stack",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},  # Plotly's order: stacked, last on top
        xaxis={"title": {"text": "GiB per GPU"}},
        yaxis={"autorange": "reversed"},
    )


def _targets_of(hw: Any) -> tuple[list[Any], int, list[tuple[str, int, str]]]:
    """(database GPUs, cards of each, capacity-only devices as (name, bytes, backend))."""
    if hw.mode == "db":
        if not hw.gpu_ids:
            raise SizingError("pick at least one GPU from the database")
        return [services.gpu(i) for i in hw.gpu_ids], max(1, hw.count), []
    if hw.mode == "custom":
        return [], 1, [(f"Custom GPU ({hw.mem_gb:g} GB)", int(hw.mem_gb * GIB), "cuda")]
    machine = services.hardware(hw)
    gpus, other = [], []
    for d in getattr(machine, "gpus", ()):
        match = services.gpu_db().match(d.name)
        if match.matched:
            gpus.append(match.gpu)
        else:
            other.append((d.name, int(d.memory_bytes), d.backend))
    if not gpus and not other:
        st.info(
            "No GPU detected on this machine: the memory below is per GPU, without a fit verdict. "
            "Pick GPUs from the database to see fit, speed and time.",
            icon=":material/info:",
        )
    return gpus, 1, other


def render() -> None:
    cfg = load_config()
    ps = page_state()
    ps.load()
    head, link = st.columns([5, 1], vertical_alignment="bottom")
    head.title("Fine-tune")
    ps.show_warnings()
    left, right = st.columns([2, 3], gap="large")
    choice = hw = None
    with left:
        with st.container(border=True):
            with guard("read the model"):
                choice = inputs.model_input(ps, cfg, SOURCES)
        with st.container(border=True):
            training_inputs(ps)
        with st.container(border=True):
            hw = inputs.hardware_input(ps, cfg)
    ps.sync()
    with link:
        copy_link_button(ps, URL_PATH)
    if choice is None:
        return
    with right, guard("size this fine-tune"):
        results(ps, choice, hw)


def results(ps: PageState, choice: Any, hw: Any) -> None:
    v = ps.values()
    arch = services.resolved(choice).arch
    gpus, count, others = _targets_of(hw)
    s = scenario(arch, v, n_gpus=count)
    dataset = int(float(v["tokens"]) * 1e6)
    rep = finetune_report(s, gpus, dataset)
    mem = rep.memory

    for w in mem.warnings:
        st.warning(inert(w), icon=":material/warning:")
    rows: list[dict[str, Any]] = [
        {
            "name": g.gpu_name,
            "capacity_bytes": g.memory_bytes,
            "parts": _parts_for(s, g.gpu_id),
            "fits": g.fits,
            "supported": g.supported,
        }
        for g in rep.gpus
    ]
    for name, cap, backend in others:
        sb = s.model_copy(update={"backend": backend})
        mo = _memory(sb)
        rows.append(
            {
                "name": name,
                "capacity_bytes": cap,
                "parts": mo.parts(),
                "fits": fits_in(sb, cap),
                "supported": mo.supported,
            }
        )
    if not rows:
        rows = [
            {"name": "per GPU", "capacity_bytes": None, "parts": mem.parts(), "fits": None, "supported": mem.supported}
        ]

    fits = [r["fits"] for r in rows if r["fits"] is not None]
    verdict = "fits" if fits and all(fits) else ("does not fit" if fits else "")
    label = f"{METHODS[s.method]} of {inert(arch.name)}"
    need = fmt.gb(sum(rows[0]["parts"].values()))
    unsupported = [r["name"] for r in rows if r.get("supported") is False]
    if unsupported:
        st.error(
            f"{label} cannot run on {', '.join(unsupported)}: see the warning above. "
            f"The memory below is what it would need ({need} per GPU).",
            icon=":material/block:",
        )
    elif verdict == "fits":
        st.success(
            f"{label} fits: {need} per GPU at its peak ({mem.peak_phase.replace('_', ' ')}).",
            icon=":material/check_circle:",
        )
    elif verdict:
        st.error(f"{label} does not fit: it needs {need} per GPU.", icon=":material/block:")

    m = [*st.columns(2), *st.columns(2)]  # 2 × 2: four in a row cut values at 1280 px
    m[0].metric("Memory per GPU", fmt.gb(sum(rows[0]["parts"].values())))
    m[1].metric("Trainable parameters", fmt.count(mem.trainable_params), help=f"of {fmt.count(mem.params)}")
    first = rep.gpus[0] if rep.gpus else None
    if first and first.throughput:
        tps = first.throughput.tokens_per_s
        m[2].metric(
            "Training tokens/s",
            fmt.num(tps["expected"]),
            help=f"{fmt.num(tps['low'])}–{fmt.num(tps['high'])}; {first.throughput.basis}",
        )
        m[3].metric(
            "Time per epoch",
            _duration(first.epoch_s["expected"]) if first.epoch_s else "—",
            help=f"{fmt.count(dataset).replace(' M', 'M')} tokens; range "
            f"{_duration(first.epoch_s['high'])}–{_duration(first.epoch_s['low'])}"
            if first.epoch_s
            else None,
        )

    st.subheader("Memory of one training step")
    st.plotly_chart(breakdown_chart(rows), width="stretch", config={"displayModeBar": False})
    st.dataframe(
        [{"part": k, "per GPU": fmt.gb(b)} for k, b in rows[0]["parts"].items()]
        + [{"part": "total", "per GPU": fmt.gb(sum(rows[0]["parts"].values()))}],
        hide_index=True,
        width="stretch",
    )
    st.caption(f"Basis: {mem.basis.method}. {mem.basis.calibration or ''}")

    if rep.largest_micro_batch is not None:
        st.subheader(f"On {rep.gpus[0].gpu_name}")
        c = st.columns(3)
        c[0].metric("Largest micro-batch", str(rep.largest_micro_batch), help=f"at sequence length {s.seq_len}")
        c[1].metric(
            "Longest sequence",
            fmt.ctx(rep.largest_seq_len) if rep.largest_seq_len else "none",
            help=f"at micro-batch {s.micro_batch}",
        )
        c[2].metric("Methods that fit", ", ".join(f.method for f in rep.methods if f.fits) or "none")

    ranking(ps, s, dataset)
    st.download_button(
        "Fine-tune estimate as JSON",
        json.dumps(rep.to_json(), indent=2),
        file_name="finetune.json",
        mime="application/json",
        icon=":material/download:",
    )


def _memory(s: FinetuneScenario) -> Any:
    return estimate_finetune_memory(s)


def _parts_for(s: FinetuneScenario, gpu_id: str) -> dict[str, int]:
    return _memory(s.model_copy(update={"backend": backend_for(services.gpu(gpu_id))})).parts()


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def ranking(ps: PageState, s: Any, dataset: int) -> None:
    st.subheader("GPUs ranked for this dataset")
    by = st.segmented_control(
        "Rank by",
        ["time", "cost"],
        key=ps.key("rankby"),
        format_func=fmt.label_of({"time": "Fastest epoch", "cost": "Cheapest to buy"}),
    )
    ps.sync()
    rows = _ranked(s.model_dump_json(), dataset, by or "time", s)
    if not rows:
        st.info("No GPU in the database fits this run; try LoRA/QLoRA, gradient checkpointing or a shorter sequence.")
        return
    st.dataframe(
        [
            {
                "rank": i + 1,
                "GPU": f"{r.gpu_name}" + (f" × {r.n_gpus}" if r.n_gpus > 1 else ""),
                "memory": fmt.gb(r.memory_bytes),
                "needs": fmt.gb(r.needed_bytes),
                "tokens/s": fmt.num(r.throughput.tokens_per_s["expected"]) if r.throughput else "—",
                "epoch": _duration(r.epoch_s["expected"]) if r.epoch_s else "—",
                "price": fmt.usd(r.price_usd) + (" (launch)" if r.price_basis == "launch" else ""),
            }
            for i, r in enumerate(rows[:RANK_ROWS])
        ],
        hide_index=True,
        width="stretch",
    )
    st.caption(
        f"{len(rows)} GPUs fit. Time from the compute roofline at typical training efficiency; "
        "price is the street price to buy, else the launch price, where known."
    )


@st.cache_resource(show_spinner=False, max_entries=32)
def _ranked(scenario_key: str, dataset: int, by: str, _s: FinetuneScenario) -> list[Any]:
    """Every database GPU ranked for this run, computed once per distinct run (keyed by the
    scenario's JSON, the whole of what the ranking reads besides the database): a
    rerun that changes nothing the ranking depends on, or another visitor asking the
    same, does not size every GPU again."""
    return rank_gpus(_s, services.gpu_db().all, dataset, by=by)


page = render  # the name the app's navigation also looks for
