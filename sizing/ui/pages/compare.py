"""Compare — one model across many GPUs, or many models on one GPU."""

from __future__ import annotations

import streamlit as st

from sizing.core.scenario import MAX_CTX
from sizing.ui import charts, fmt, inputs, report, services
from sizing.ui.feedback import guard
from sizing.ui.state import PageState, Param, copy_link_button, safe_name

URL_PATH = "compare"
ONE_GPU = "nvidia-rtx-4090"
DEFAULT_GPUS = (
    "nvidia-rtx-3090",
    "nvidia-rtx-4090",
    "amd-rx-7900-xtx",
    "apple-m3-max-40c-64gb",
    "nvidia-rtx-6000-ada",
    "nvidia-a100-pcie-80gb",
)


def _names(v: list[str]) -> list[str]:
    return [safe_name(x) for x in v]


def default_gpus() -> list[str]:
    ids = services.gpu_ids()
    picked = [g for g in DEFAULT_GPUS if g in ids]
    return picked or ids[:4]


def page_state() -> PageState:
    ids = services.gpu_ids()
    cat = services.catalog_ids()
    return PageState(
        "compare",
        [
            Param("mode", "gpus", choices=("gpus", "models")),
            Param("model", inputs.default_model(), choices=cat or None, check=safe_name),
            Param("gpus", default_gpus(), kind="list", choices=ids or None, check=_names),
            Param("models", cat[:6], kind="list", choices=cat or None, check=_names),
            # "Many models × one GPU" needs a card to start from (older links leave it out)
            Param("gpu", ONE_GPU if ONE_GPU in ids else (ids[0] if ids else ""), choices=ids or None),
            Param("quant", inputs.FALLBACK_QUANT, choices=services.file_quants() or None),
            Param("ctx", 8192, kind="int", lo=1, hi=MAX_CTX),
        ],
    )


def render() -> None:
    ps = page_state()
    ps.load()
    head, link = st.columns([5, 1], vertical_alignment="bottom")
    head.title("Compare")
    ps.show_warnings()
    names = services.catalog_names()
    gpu_names = {g.id: g.name for g in services.gpu_db().all} if services.gpu_ids() else {}
    with st.container(border=True):
        mode = (
            st.segmented_control(
                "Compare",
                ("gpus", "models"),
                format_func=fmt.label_of({"gpus": "One model × many GPUs", "models": "Many models × one GPU"}),
                key=ps.key("mode"),
            )
            or "gpus"
        )
        if mode == "gpus":
            st.selectbox("Model", list(names), format_func=lambda i: names.get(i, i), key=ps.key("model"))
            st.multiselect("GPUs", list(gpu_names), format_func=lambda i: gpu_names.get(i, i), key=ps.key("gpus"))
        else:
            st.multiselect("Models", list(names), format_func=lambda i: names.get(i, i), key=ps.key("models"))
            st.selectbox("GPU", list(gpu_names), format_func=lambda i: gpu_names.get(i, i), key=ps.key("gpu"))
        c1, c2 = st.columns(2)
        quants = services.file_quants()
        if quants:
            c1.selectbox("Quant", quants, key=ps.key("quant"))
        c2.number_input("Context (tokens)", min_value=1, max_value=MAX_CTX, step=1024, key=ps.key("ctx"))
    ps.sync()
    with link:
        copy_link_button(ps, URL_PATH)
    with guard("compare"):
        results(ps.values())


def results(v: dict) -> None:
    rows = services.compare(v)
    if not rows:
        st.info("Pick something to compare.")
        return
    colors = [charts.FIT_COLORS["no" if not r["fits"] else "fits" if r["all_on_gpu"] else "tight"] for r in rows]
    st.plotly_chart(
        charts.bars(
            [r["label"] for r in rows],
            [r["decode"] or 0 for r in rows],
            "decode tokens/s",
            colors,
            errors=([r["decode_low"] or 0 for r in rows], [r["decode_high"] or 0 for r in rows]),
        ),
        width="stretch",
        config={"displayModeBar": False},
    )
    st.caption("Green: fits in device memory · amber: fits only with layers in system RAM · red: does not fit.")
    table = [
        {
            "": r["label"],
            "fits": ("yes" if r["all_on_gpu"] else "with offload") if r["fits"] else "no",
            "memory": f"{fmt.gb(r['total_bytes'])} of {fmt.gb(r.get('capacity_bytes'))}",
            "tokens/s": fmt.rate(r["decode"]),
            "range": f"{fmt.rate(r['decode_low'])} – {fmt.rate(r['decode_high'])}",
            "time to first token": fmt.seconds(r.get("ttft_s")),
        }
        for r in rows
    ]
    st.dataframe(table, hide_index=True, width="stretch")
    c1, c2 = st.columns(2)
    c1.download_button(
        "Comparison as JSON",
        report.to_json(rows),
        file_name="compare.json",
        mime="application/json",
        icon=":material/download:",
    )
    c2.download_button(
        "Comparison as Markdown",
        report.table_markdown("Comparison", table),
        file_name="compare.md",
        mime="text/markdown",
        icon=":material/download:",
    )
