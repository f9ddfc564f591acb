"""Plan a purchase — which hardware runs the target models at the speed wanted, for the money."""

from __future__ import annotations

import streamlit as st

from sizing.scenario import MAX_CTX
from sizing.ui import charts, fmt, inputs, report, services
from sizing.ui.feedback import guard
from sizing.ui.state import PageState, Param, copy_link_button, safe_name

URL_PATH = "plan"


def _models_check(v: list[str]) -> list[str]:
    return [safe_name(x) for x in v]


def page_state() -> PageState:
    ids = services.catalog_ids()
    return PageState(
        "plan",
        [
            Param("models", [inputs.default_model()], kind="list", choices=ids or None, check=_models_check),
            Param("quant", inputs.FALLBACK_QUANT, choices=services.file_quants() or None),
            Param("ctx", 8192, kind="int", lo=1, hi=MAX_CTX),
            Param("tps", 20.0, kind="float", lo=0, hi=100000),
            Param("budget", 5000.0, kind="float", lo=0, hi=10_000_000),
            Param("watts", 0.0, kind="float", lo=0, hi=100000),
            Param("hours", 8.0, kind="float", lo=0.1, hi=24),
            Param("kwh", 0.30, kind="float", lo=0, hi=10),
        ],
    )


def render() -> None:
    ps = page_state()
    ps.load()
    head, link = st.columns([5, 1])
    head.title("Plan a purchase")
    ps.show_warnings()
    with st.container(border=True):
        names = services.catalog_names()
        if names:
            st.multiselect(
                "Target model(s)", list(names), format_func=lambda i: names.get(i, i), key=ps.key("models")
            )
        else:
            st.info("The model catalog is not available in this build yet.", icon=":material/construction:")
        c = st.columns(4)
        quants = services.file_quants()
        if quants:
            c[0].selectbox("Quant", quants, key=ps.key("quant"))
        c[1].number_input("Context (tokens)", min_value=1, max_value=MAX_CTX, step=1024, key=ps.key("ctx"))
        c[2].number_input("Tokens/s wanted", min_value=0.0, max_value=100000.0, step=5.0, key=ps.key("tps"))
        c[3].number_input("Budget (USD)", min_value=0.0, max_value=10_000_000.0, step=500.0, key=ps.key("budget"))
        c = st.columns(3)
        c[0].number_input("Power cap (W, 0 = none)", min_value=0.0, max_value=100000.0, step=50.0, key=ps.key("watts"))
        c[1].number_input("Use per day (hours)", min_value=0.1, max_value=24.0, step=1.0, key=ps.key("hours"))
        c[2].number_input("Electricity (USD/kWh)", min_value=0.0, max_value=10.0, step=0.05, key=ps.key("kwh"))
    ps.sync()
    with link:
        copy_link_button(ps, URL_PATH)
    v = ps.values()
    if not v["models"]:
        st.info("Pick at least one target model.")
        return
    with guard("plan the purchase"):
        results(v)


def results(v: dict) -> None:
    plan = services.plan(v)
    rows = plan["rows"]
    if not rows:
        st.warning("No hardware in the database meets these targets. Relax the budget, speed or power cap.",
                   icon=":material/warning:")
        return
    st.subheader("Ranked options")
    table = [
        {
            "rank": i + 1,
            "hardware": r["name"],
            "price": fmt.usd(r.get("price_usd")),
            "tokens/s": fmt.rate(r.get("decode")),
            "memory used": fmt.gb(r.get("used_bytes")),
            "power": f"{r['watts']:.0f} W" if r.get("watts") else "—",
            "meets target": "yes" if r.get("meets") else "no",
        }
        for i, r in enumerate(rows)
    ]
    st.dataframe(table, hide_index=True, width="stretch")
    priced = [r for r in rows if r.get("price_usd") and r.get("decode")]
    if priced:
        st.subheader("Price against speed")
        st.plotly_chart(
            charts.price_speed_scatter(
                [{"name": r["name"], "price": r["price_usd"], "tps": r["decode"]} for r in priced],
                set(plan.get("pareto", [])),
            ),
            width="stretch",
            config={"displayModeBar": False},
        )
        st.caption("The Pareto front joins the options nothing else beats on both price and speed.")
    cloud = plan.get("cloud")
    if cloud:
        st.subheader("Buy or rent?")
        st.plotly_chart(
            charts.cost_lines(cloud["months"], cloud["local"], cloud["cloud"], cloud.get("breakeven_months")),
            width="stretch",
            config={"displayModeBar": False},
        )
        st.caption(cloud.get("note", ""))
    c1, c2 = st.columns(2)
    c1.download_button("Plan as JSON", report.to_json(plan), file_name="plan.json", mime="application/json",
                       icon=":material/download:")
    c2.download_button("Plan as Markdown", report.table_markdown("Purchase plan", table), file_name="plan.md",
                       mime="text/markdown", icon=":material/download:")
