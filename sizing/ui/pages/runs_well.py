"""What runs well — for this machine, GPUs from the database (Apple chips included) or
custom memory and bandwidth: the catalog ranked by usefulness (``sizing.core.runs_well``)."""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st

from sizing.core.runs_well import READING_SPEED_TPS, TASKS
from sizing.core.scenario import MAX_CTX
from sizing.ui import fmt, inputs, report, services
from sizing.ui.config import load_config
from sizing.ui.feedback import guard
from sizing.ui.state import PageState, Param, copy_link_button

URL_PATH = "runs-well"
TASK_LABELS = {"any": "Any task", "chat": "Chat", "code": "Code", "reasoning": "Reasoning", "vision": "Vision"}


def floor_params() -> list[Param]:
    """The ranking's own inputs (shared with 'This machine')."""
    return [
        Param("tps", READING_SPEED_TPS, kind="float", lo=0, hi=100000),
        Param("task", "any", choices=("any", *TASKS)),
    ]


def page_state() -> PageState:
    cfg = load_config()
    return PageState(
        "runswell",
        inputs.hardware_params(cfg)
        + [
            Param("ctx", 8192, kind="int", lo=256, hi=MAX_CTX),
            *floor_params(),
        ],
    )


def floor_inputs(ps: PageState) -> None:
    c1, c2 = st.columns(2)
    c1.number_input(
        "Usable speed (tok/s at least)",
        min_value=0.0,
        max_value=100000.0,
        step=5.0,
        key=ps.key("tps"),
        help="Models slower than this rank last. 10 tok/s is about reading speed.",
    )
    c2.selectbox(
        "Task",
        ("any", *TASKS),
        format_func=fmt.label_of(TASK_LABELS),
        key=ps.key("task"),
        help="Models the catalog tags for this task",
    )


def render() -> None:
    cfg = load_config()
    ps = page_state()
    ps.load()
    head, link = st.columns([5, 1], vertical_alignment="bottom")
    head.title("What runs well")
    ps.show_warnings()
    with st.container(border=True):
        hw = inputs.hardware_input(ps, cfg)
        st.number_input("Context (tokens)", min_value=256, max_value=MAX_CTX, step=1024, key=ps.key("ctx"))
        floor_inputs(ps)
    ps.sync()
    with link:
        copy_link_button(ps, URL_PATH)
    if hw.mode == "db" and not hw.gpu_ids:
        st.info("Pick a GPU (or an Apple chip) to see what runs well on it.", icon=":material/memory:")
        return
    with guard("rank the catalog for this hardware"):
        table(hw, ps.values(), run_link_params(ps))


def run_link_params(ps: PageState) -> dict:
    """The hardware part of this page's link, for the 'Can I run it?' links in the table."""
    enc = ps.encoded()
    return {k: v for k, v in enc.items() if k in {p.name for p in inputs.hardware_params(load_config())}}


def table(
    hw: inputs.HardwareChoice, v: dict, hw_link: dict, *, quality: str = "any", with_context: bool = False
) -> None:
    """The ranked table; one click opens a model in 'Can I run it?' on the same hardware."""
    task = None if v.get("task", "any") == "any" else v["task"]
    floor = float(v["tps"])
    ctx = int(v["ctx"])
    rows = services.runs_well(hw, ctx=ctx, min_tps=floor, task=task, quality=quality, with_context=with_context)
    if not rows:
        st.info("No catalog model is tagged for this task yet.", icon=":material/filter_alt:")
        return
    usable = [r for r in rows if r["meets_floor"]]
    if not usable:
        st.warning(
            f"Nothing in the catalog reaches {floor:g} tok/s here at {fmt.ctx(ctx)} context; "
            "below, the fastest that fit.",
            icon=":material/warning:",
        )
    out = []
    for r in rows:
        link = {**hw_link, "model": r["model_id"], "quant": r["quant"] or "Q4_K_M", "ctx": ctx}
        row = {
            "model": r["name"],
            "open": "run?" + urlencode(link, doseq=True),
            "best quant": r["quant"] or "—",
            "tokens/s": fmt.num(r.get("decode_tokens_per_s")),
            # as the CLI says it: expert offload is not whole layers on the CPU
            "where": f"GPU, experts of {r['n_cpu_moe']} layers in RAM" if r.get("n_cpu_moe") else r["where"],
        }
        if with_context:
            row["largest context"] = fmt.ctx(r.get("max_ctx")) if r.get("max_ctx") else ""
        active = f" ({r['active_params_b']:.1f} B active)" if r["active_params_b"] < 0.95 * r["params_b"] else ""
        row.update(
            {
                "size": f"{r['params_b']:.1f} B{active}",
                "tasks": ", ".join(r.get("tasks") or ()),
                "why here": r["reason"],
            }
        )
        out.append(row)
    st.dataframe(
        out,
        hide_index=True,
        width="stretch",
        column_config={
            "open": st.column_config.LinkColumn(
                "open", display_text="Can I run it? ↗", help="Open this model in “Can I run it?” on this hardware"
            ),
        },
    )
    st.caption(
        f"{len(usable)} of {len(rows)} models reach {floor:g} tok/s on {rows[0]['hardware']} at "
        f"{fmt.ctx(ctx)} context. Ranked by usefulness: at least that speed first, then the largest "
        "model, each at the best quant that keeps the speed (no more than Q4_K_M with layers in "
        "system RAM); quants below Q4_K_M rank after those; slower models last, fastest first."
    )
    st.download_button(
        "List as JSON",
        report.to_json(rows),
        file_name="runs-well.json",
        mime="application/json",
        icon=":material/download:",
        key=f"dl.runswell.{hw.mode}",
    )
