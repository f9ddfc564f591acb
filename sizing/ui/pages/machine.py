"""This machine — what was detected, what runs here, and live checks against llama.cpp."""

from __future__ import annotations

import streamlit as st

from sizing.ui import calibration_ui, fmt, inputs, live_ui, services
from sizing.ui.pages import runs_well
from sizing.ui.config import load_config
from sizing.ui.feedback import guard
from sizing.ui.state import PageState, Param, copy_link_button

URL_PATH = "machine"
CTX_CHOICES = (2048, 4096, 8192, 16384, 32768, 65536, 131072)


def page_state() -> PageState:
    return PageState(
        "machine",
        [
            Param("ctx", 8192, kind="int", choices=CTX_CHOICES),
            Param("quality", "any", choices=("any", "q4", "q8")),
            Param("lc", False, kind="bool"),
            *runs_well.floor_params(),
        ],
    )


def render() -> None:
    cfg = load_config()
    ps = page_state()
    ps.load()
    head, link = st.columns([5, 1], vertical_alignment="bottom")
    head.title("This machine")
    ps.show_warnings()
    if cfg.web_mode:
        st.info(
            "This page describes the server the app runs on, so it is off in web mode. "
            "Use **Can I run it?** with your GPU from the database, or run the app locally.",
            icon=":material/public:",
        )
        ps.sync()
        return
    machine = None
    with guard("detect this machine"):
        machine = services.machine()
        detected(machine)
    st.subheader("What runs well here")
    c1, c2 = st.columns(2)
    c1.select_slider("Context to plan for", CTX_CHOICES, format_func=fmt.ctx, key=ps.key("ctx"))
    c2.radio(
        "Quality floor",
        ("any", "q4", "q8"),
        format_func=fmt.label_of({"any": "Any quant", "q4": "Q4 or better", "q8": "Q8 or better"}),
        horizontal=True,
        key=ps.key("quality"),
    )
    runs_well.floor_inputs(ps)
    st.toggle(f"Also find the largest context (first {services.CONTEXT_ROWS} models, slower)", key=ps.key("lc"))
    ps.sync()
    with link:
        copy_link_button(ps, URL_PATH)
    if machine is not None:
        with guard("rank the catalog for this machine"):
            what_runs_here(ps)
    st.subheader("Live check")
    with guard("run a live check"):
        live_ui.render(machine)
    with guard("read this machine's calibration"):
        calibration_ui.render(machine)


def detected(machine) -> None:
    """The detected hardware and its database matches, as read (no estimates here)."""
    cpu = machine.cpu
    c1, c2, c3 = st.columns(3)
    c1.metric("OS", machine.os.split()[0] if machine.os else "?", help=machine.os)
    c2.metric("CPU cores", f"{cpu.cores or '?'}", help=f"{cpu.model}, {cpu.threads or '?'} threads")
    c3.metric(
        "RAM",
        fmt.gb(cpu.ram_total_bytes),
        help=f"{fmt.gb(cpu.ram_available_bytes)} available now",
    )
    from sizing.core.speed.cpu import ISA_LABELS, isa_from_flags

    st.caption(
        f"CPU: {cpu.model} ({cpu.arch}); ISA: {', '.join(cpu.flags) or 'n/a'}; llama.cpp's CPU kernels: "
        f"{ISA_LABELS[isa_from_flags(cpu.flags)]} in a native build (speed factors: cpu/{isa_from_flags(cpu.flags)})"
    )
    if cpu.clock_ghz:
        st.caption(
            f"Clock the speed model counts at: {cpu.clock_ghz:.2f} GHz, {cpu.clock_basis or 'as the OS states it'}"
        )
    if cpu.vendor:
        from sizing.core.speed.calibration import load_calibration
        from sizing.core.speed.estimate import decode_table_label

        st.caption(
            f"CPU vendor: {cpu.vendor}; decode speed per weight type: {decode_table_label(cpu.vendor, load_calibration())}"
        )
    if cpu.bandwidth is not None:
        b = cpu.bandwidth
        st.caption(
            f"RAM bandwidth measured: {b.gbs:.1f} GB/s (min {b.min_gbs:.1f}, max {b.max_gbs:.1f}, {b.runs} runs, {b.method})"
        )
    if machine.gpus:
        rows = [
            {
                "GPU": g.name,
                "vendor": g.vendor,
                "memory": fmt.gb(g.memory_total_bytes),
                "free": fmt.gb(g.memory_free_bytes),
                "usable": fmt.gb(g.usable_memory_bytes),
                "database match": g.db_id or "—",
                "match": g.match_status,
                "read from": g.source,
            }
            for g in machine.gpus
        ]
        st.dataframe(rows, hide_index=True, width="stretch")
        for g in machine.gpus:
            if g.match_status != "matched":
                st.caption(
                    f"{g.name}: {g.match_status} in the GPU database"
                    + (f" (candidates: {', '.join(g.candidates)})" if g.candidates else "")
                    + "; detected memory is used as is."
                )
            for n in g.notes:
                st.caption(f"{g.name}: {n}")
    else:
        st.info("No GPU detected: models run on the CPU from system RAM.", icon=":material/memory:")
    for n in machine.notes:
        st.caption(n)


def what_runs_here(ps: PageState) -> None:
    """The catalog ranked by usefulness on the detected machine (the 'What runs well' page's
    table); one click opens a model in 'Can I run it?' on this machine."""
    hw = inputs.HardwareChoice("machine", [], 1, 24.0, 1000.0, 64.0)
    runs_well.table(hw, ps.values(), {"hw": "machine"}, quality=ps["quality"], with_context=ps["lc"])
    mc = services.machine_calibration()
    st.caption(
        "Speeds use this machine's own calibration: " + mc.label()
        if mc is not None
        else "Speeds use the public llama-bench calibration; run a live check below to calibrate this machine."
    )
