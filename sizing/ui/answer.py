"""The answer section of "Can I run it?": verdict, memory, speed, limits, fit map, commands.

Everything drawn here is read from the core's ``Estimate`` (through ``services``); this
module only chooses words, colours and layout.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from sizing.ui import charts, fmt, report, services
from sizing.ui.echo import inert
from sizing.ui.feedback import guard
from sizing.ui.table import arrow
from sizing.ui.inputs import HardwareChoice, ModelChoice


def render(choice: ModelChoice, values: dict[str, Any], hw: HardwareChoice, summary: Any = None) -> None:
    """Draw the answer; the headline parts go into ``summary`` (a column) when given."""
    data = services.answer(choice, values, hw)
    with summary if summary is not None else st.container():
        verdict(data)
        for w in data.get("warnings") or ():
            st.caption(f":material/info: {inert(w)}")
        speed(data)
        st.markdown("##### Memory per device")
        devices = data.get("devices") or [_total_as_device(data)]
        st.plotly_chart(charts.memory_bars(devices), width="stretch", config={"displayModeBar": False})
        parts_table(data)
        with guard("find the largest context and best quant"):
            limits(choice, values, hw)
    with guard("draw the fit map"):
        fit_map(choice, values, hw)
    with guard("build the launch commands"):
        commands(data)
    basis(data)
    downloads(data)


def _total_as_device(data: dict) -> dict:
    return {
        "name": "total",
        "weights_bytes": data.get("weights_bytes", 0),
        "kv_cache_bytes": data.get("kv_cache_bytes", 0),
        "compute_bytes": data.get("compute_bytes", 0),
        "overhead_bytes": data.get("overhead_bytes", 0),
        "capacity_bytes": None,
    }


def verdict_words(data: dict) -> tuple[str, str]:
    """(level, sentence): level is 'yes', 'partly', 'no' or 'unknown'."""
    # reclaimable file pages (behind a CPU repack) are not memory the run must keep
    total = fmt.gb(data.get("resident_bytes") if data.get("reclaimable_bytes") else data.get("total_bytes"))
    fits = data.get("fits")
    decode = (data.get("decode_tokens_per_s") or {}).get("expected")
    speed_txt = f", at about {fmt.rate(decode)}" if decode else ""
    where = data.get("hardware") or "this hardware"
    if fits is None:
        return "unknown", f"Needs about {total} in total."
    if not fits:
        short = data.get("shortfall_bytes")
        more = f": {fmt.gb(short)} short" if short else ""
        return "no", f"No — it needs about {total} and does not fit on {where}{more}."
    if data.get("all_on_gpu") is False and data.get("devices") and any(d.get("kind") != "cpu" for d in data["devices"]):
        if data.get("n_cpu_moe") and (data.get("gpu_layers") or 0) > (data.get("n_layers") or 0):
            return "partly", (
                f"Partly — it runs on {where} with the experts of {data['n_cpu_moe']} layers in system RAM{speed_txt}."
            )
        return "partly", f"Partly — it runs on {where} only with some layers in system RAM{speed_txt}."
    return "yes", f"Yes — it fits on {where} ({total}){speed_txt}."


def verdict(data: dict) -> None:
    level, text = verdict_words(data)
    st.markdown("### Verdict")
    how = data.get("placement")
    body = f"**{text}**" + (f"  \n{how[:1].upper() + how[1:]}" if how else "")
    {"yes": st.success, "partly": st.warning, "no": st.error}.get(level, st.info)(
        body,
        icon={"yes": ":material/check_circle:", "partly": ":material/error:", "no": ":material/cancel:"}.get(
            level, ":material/info:"
        ),
    )
    for n in data.get("hardware_notes") or ():
        st.caption(f":material/info: {inert(n)}")


def parts_table(data: dict) -> None:
    rows = [
        {"part": "Weights", "size": fmt.gb(data.get("weights_bytes"))},
        {"part": "KV cache", "size": fmt.gb(data.get("kv_cache_bytes"))},
        {"part": "Compute buffers", "size": fmt.gb(data.get("compute_bytes"))},
        {"part": "Overhead", "size": fmt.gb(data.get("overhead_bytes"))},
        {"part": "Total", "size": fmt.gb(data.get("total_bytes"))},
    ]
    if data.get("reclaimable_bytes"):
        rows += [
            {"part": "of which resident", "size": fmt.gb(data.get("resident_bytes"))},
            {"part": "of which reclaimable file pages", "size": fmt.gb(data.get("reclaimable_bytes"))},
        ]
    with st.expander("Memory parts", icon=":material/table:"):
        st.dataframe(arrow(rows), hide_index=True, width="stretch")
    st.caption(
        f"{inert(data.get('model', ''))} · {inert(data.get('quant', ''))} · {fmt.ctx(data.get('ctx'))} context · "
        f"{fmt.count(data.get('params'))} parameters"
        + (
            f" ({fmt.count(data.get('active_params'))} active)"
            if data.get("active_params") and data.get("active_params") != data.get("params")
            else ""
        )
    )


def speed(data: dict) -> None:
    dec = data.get("decode_tokens_per_s")
    if not dec:
        if data.get("fits") is False:
            st.caption("No speed: it does not fit.")
        return
    pre = data.get("prefill_tokens_per_s") or {}
    ttft = data.get("ttft_range_s") or {}
    c1, c2, c3 = st.columns(3)
    c1.metric("Generation (tok/s)", fmt.num(dec.get("expected")), help="decode tokens per second, one user")
    c1.caption(f"{fmt.num(dec.get('low'))} – {fmt.num(dec.get('high'))}")
    c2.metric(
        "Prompt (tok/s)",
        fmt.num(pre.get("expected")),
        help=f"prompt processing (prefill) tokens per second, {data.get('prompt_tokens') or ''} token prompt",
    )
    if pre:
        c2.caption(f"{fmt.num(pre.get('low'))} – {fmt.num(pre.get('high'))}")
    c3.metric(
        "First token",
        fmt.seconds(data.get("ttft_s")),
        help=f"time to first token for a {data.get('prompt_tokens') or ''} token prompt",
    )
    if ttft:
        c3.caption(f"{fmt.seconds(ttft.get('low'))} – {fmt.seconds(ttft.get('high'))}")
    if data.get("speed_calibration"):
        st.caption(f"Ranges from the calibration: {data['speed_calibration']}")
    reads = data.get("decode_reads") or []
    if reads:
        st.caption(
            "Each token reads: "
            + "; ".join(
                f"{inert(r['device'])} {fmt.gb(r['read_bytes'])} at {fmt.num(r['read_gbs'])} GB/s ({inert(r['basis'])})"
                for r in reads
            )
        )
    at_context(data)


def at_context(data: dict) -> None:
    """Speed at the chosen context: as the cache fills, when full, first token for the prompt."""
    ac = data.get("at_context")
    if not ac:
        return
    st.markdown(f"##### At your context ({fmt.ctx(ac['ctx'])})")
    c1, c2, c3 = st.columns(3)
    m, f, t = ac["decode_mean"], ac["decode_full"], ac["ttft_s"]
    c1.metric(
        "Generation, average",
        fmt.num(m["expected"]),
        help="tokens per second averaged while the conversation fills the context from your prompt",
    )
    c1.caption(f"{fmt.num(m['low'])} – {fmt.num(m['high'])}")
    c2.metric("Generation, context full", fmt.num(f["expected"]), help="tokens per second with the context full")
    c2.caption(f"{fmt.num(f['low'])} – {fmt.num(f['high'])}")
    c3.metric(
        "First token, your prompt",
        fmt.seconds(t["expected"]),
        help=f"time to first token for a {ac['prompt_tokens']:,}-token prompt",
    )
    c3.caption(f"{fmt.seconds(t['low'])} – {fmt.seconds(t['high'])}")
    st.caption(f"Prompt: {ac['prompt_basis']} (change it under the run settings).")
    if ac.get("curve"):
        st.plotly_chart(
            charts.speed_vs_context(ac["curve"], ac["ctx"], ac["prompt_tokens"]),
            width="stretch",
            config={"displayModeBar": False},
        )


def limits(choice: ModelChoice, values: dict, hw: HardwareChoice) -> None:
    lim = services.limits(choice, values, hw)
    c1, c2 = st.columns(2)
    c1.metric("Largest context that fits", fmt.ctx(lim.get("max_ctx")), help=f"at {values['quant']}")
    c2.metric("Best quant that fits", lim.get("best_quant") or "none", help=f"at {fmt.ctx(values['ctx'])} context")


def fit_map(choice: ModelChoice, values: dict, hw: HardwareChoice) -> None:
    st.markdown("##### Fit map: quant × context")
    grid = services.fit_grid(choice, values, hw)
    st.plotly_chart(
        charts.fit_map(grid["quants"], grid["ctxs"], grid["status"], grid["totals"]),
        width="stretch",
        config={"displayModeBar": False},
    )
    st.caption(
        "Green: fits on the accelerator · amber: fits only with layers in system RAM (slower) · "
        "red: does not fit. Cells show the total memory in GiB."
    )
    if grid.get("explain"):
        st.caption(f":material/info: {grid['explain']}")


def commands(data: dict) -> None:
    cmds = report.shell_commands(data)
    if not cmds or data.get("fits") is False:  # no command to launch what does not fit
        return
    st.markdown("##### Launch commands")
    for name, text in cmds.items():
        st.caption(report.COMMAND_LABELS.get(name, name))
        st.code(text, language="dockerfile" if name == "ollama_modelfile" else "bash", wrap_lines=True)
    w = data.get("weights_source") or {}
    if w.get("hf_url"):
        st.caption(
            f"Weights: [{w.get('hf_repo') or w['hf_url']}]({w['hf_url']})"
            + (f" — {w['note']}" if w.get("note") else "")
        )
    elif w.get("note"):
        st.caption(f"Weights: {w['note']}")


def basis(data: dict) -> None:
    """Where every number came from: source, method, calibration, measured or estimated."""
    with st.expander("Where these numbers come from", icon=":material/fact_check:"):
        rows = report.basis_rows(data)
        if not rows:
            st.write("No basis was recorded for this estimate.")
            return
        st.dataframe(
            arrow(rows),
            hide_index=True,
            width="stretch",
            column_config={
                "source": st.column_config.TextColumn(width="medium"),
                "method": st.column_config.TextColumn(width="large"),
            },
        )
        detail = data.get("items") or []
        if detail:
            st.markdown("**Every buffer llama.cpp allocates**")
            st.dataframe(
                arrow(
                    [
                        {
                            "buffer": it.get("name"),
                            "part": it.get("part"),
                            "device": it.get("device"),
                            "size": fmt.gb(it.get("bytes")),
                            "why": it.get("note") or "",
                        }
                        for it in detail
                    ]
                ),
                hide_index=True,
                width="stretch",
            )


def downloads(data: dict) -> None:
    # Built when clicked (Streamlit calls the function then), not on every rerun.
    c1, c2 = st.columns(2)
    c1.download_button(
        "Estimate as JSON",
        lambda: report.to_json(data),
        file_name="estimate.json",
        mime="application/json",
        icon=":material/download:",
        key="dl.est.json",
    )
    c2.download_button(
        "Estimate as Markdown",
        lambda: report.estimate_markdown(data),
        file_name="estimate.md",
        mime="text/markdown",
        icon=":material/download:",
        key="dl.est.md",
    )
