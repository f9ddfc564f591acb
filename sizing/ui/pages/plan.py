"""Plan a purchase — which hardware runs the target models at the speed wanted, for the money."""

from __future__ import annotations

import streamlit as st

from sizing.core.scenario import MAX_CTX
from sizing.ui import charts, fmt, inputs, report, services
from sizing.ui.feedback import guard
from sizing.ui.state import PageState, Param, copy_link_button, safe_name

URL_PATH = "plan"
TABLE_ROWS = 20


def _models_check(v: list[str]) -> list[str]:
    return [safe_name(x) for x in v]


def page_state() -> PageState:
    ids = services.catalog_ids()
    clouds = list(services.cloud_providers())
    return PageState(
        "plan",
        [
            Param("models", [inputs.default_model()], kind="list", choices=ids or None, check=_models_check),
            Param("quant", inputs.FALLBACK_QUANT, choices=services.file_quants() or None),
            Param("ctx", 8192, kind="int", lo=256, hi=MAX_CTX),
            Param("tps", 20.0, kind="float", lo=0, hi=100000),
            Param("budget", 5000.0, kind="float", lo=0, hi=10_000_000),
            Param("watts", 0.0, kind="float", lo=0, hi=100000),
            # local against cloud
            Param("cloud", clouds[0] if clouds else "", choices=clouds or None),
            Param("tin", 2.0, kind="float", lo=0, hi=100000),
            Param("tout", 0.5, kind="float", lo=0, hi=100000),
            Param("years", 3.0, kind="float", lo=0.5, hi=10),
            Param("kwh", 0.30, kind="float", lo=0, hi=10),
        ],
    )


def render() -> None:
    ps = page_state()
    ps.load()
    head, link = st.columns([5, 1], vertical_alignment="bottom")
    head.title("Plan a purchase")
    ps.show_warnings()
    with st.container(border=True):
        names = services.catalog_names()
        if names:
            st.multiselect(
                "Target model(s)", list(names), format_func=lambda i: names.get(i, i), key=ps.key("models"),
                help="Every model must fit in accelerator memory; the speed target applies to the slowest",
            )
        else:
            st.info("The model catalog could not be loaded (see the server log).", icon=":material/construction:")
        c = st.columns(5)
        quants = services.file_quants()
        if quants:
            c[0].selectbox("Quant", quants, key=ps.key("quant"))
        c[1].number_input("Context (tokens)", min_value=256, max_value=MAX_CTX, step=1024, key=ps.key("ctx"))
        c[2].number_input("Tokens/s wanted", min_value=0.0, max_value=100000.0, step=5.0, key=ps.key("tps"),
                          help="0: no speed target")
        c[3].number_input("Budget (USD)", min_value=0.0, max_value=10_000_000.0, step=500.0, key=ps.key("budget"),
                          help="0: no budget")
        c[4].number_input("Power cap (W)", min_value=0.0, max_value=100000.0, step=50.0, key=ps.key("watts"),
                          help="0: no cap")
    ps.sync()
    with link:
        copy_link_button(ps, URL_PATH)
    v = ps.values()
    if not v["models"]:
        st.info("Pick at least one target model.")
        return
    with guard("plan the purchase"):
        results(ps, v)


def _row(i: int, o: dict) -> dict:
    return {
        "rank": i + 1,
        "hardware": o["label"],
        "price": fmt.usd(o.get("price_usd")),
        "tokens/s": fmt.num(o.get("decode_tokens_per_s")),
        "first token": fmt.seconds(o.get("ttft_s")),
        "$ per tok/s": fmt.usd(o.get("usd_per_token_s")),
        "power": f"{o['watts']:.0f} W" if o.get("watts") else "—",
        "free memory": "—" if o.get("headroom") is None else f"{o['headroom']:.0%}",
        "Pareto": "★" if o.get("pareto") else "",
        "short of target": o.get("shortfall") or "",
        "price source": o.get("price_source") or "",
    }


def results(ps: PageState, v: dict) -> None:
    # only the planner's own inputs: changing the cost inputs below must not re-plan
    p = services.plan({k: v[k] for k in ("models", "quant", "ctx", "tps", "budget", "watts")})
    options = list(p["options"]) or list(p["closest"])
    (st.success if p["met"] else st.warning)(p["message"], icon=":material/shopping_cart:")
    if not options:
        return
    st.subheader("Ranked options" if p["met"] else "Closest options")
    table = [_row(i, o) for i, o in enumerate(options[:TABLE_ROWS])]
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "price source": st.column_config.LinkColumn("price source", display_text="source"),
    })
    for n in p.get("notes") or ():
        st.caption(n)
    priced = [o for o in options if o.get("price_usd") and o.get("decode_tokens_per_s")]
    if priced:
        st.subheader("Price against speed")
        st.plotly_chart(
            charts.price_speed_scatter(
                [{"name": o["label"], "price": o["price_usd"], "tps": o["decode_tokens_per_s"]} for o in priced],
                {o["label"] for o in priced if o.get("pareto")},
            ),
            width="stretch",
            config={"displayModeBar": False},
        )
        st.caption("The Pareto front joins the options that nothing else beats on both price and speed.")
    with guard("compare buying with renting"):
        cloud_section(ps, v, priced)
    c1, c2 = st.columns(2)
    c1.download_button("Plan as JSON", report.to_json(p), file_name="plan.json", mime="application/json",
                       icon=":material/download:")
    c2.download_button("Plan as Markdown", report.table_markdown("Purchase plan", table, p["message"]),
                       file_name="plan.md", mime="text/markdown", icon=":material/download:")


def cloud_section(ps: PageState, v: dict, priced: list[dict]) -> None:
    clouds = services.cloud_providers()
    if not priced or not clouds:
        return
    st.subheader("Buy or rent?")
    c = st.columns(5)
    labels = [o["label"] for o in priced]
    pick = c[0].selectbox("Machine", labels, key="plan.pick", help="from the options above")
    c[1].selectbox("API", list(clouds), format_func=clouds.get, key=ps.key("cloud"))
    c[2].number_input("Tokens in per day (M)", min_value=0.0, max_value=100000.0, step=0.5, key=ps.key("tin"))
    c[3].number_input("Tokens out per day (M)", min_value=0.0, max_value=100000.0, step=0.1, key=ps.key("tout"))
    c[4].number_input("Electricity (USD/kWh)", min_value=0.0, max_value=10.0, step=0.05, key=ps.key("kwh"))
    st.slider("Years to spread the purchase over", 0.5, 10.0, step=0.5, key=ps.key("years"))
    ps.sync()
    option = next(o for o in priced if o["label"] == pick)
    cost = services.local_vs_cloud(ps.values(), option)
    m = st.columns(3)
    m[0].metric("Local, per month", fmt.usd(cost["local_monthly_usd"]),
                help=f"hardware {fmt.usd(cost['local_hardware_monthly_usd'])} + electricity "
                     f"{fmt.usd(cost['local_power_monthly_usd'])}")
    m[1].metric("Cloud, per month", fmt.usd(cost["cloud_monthly_usd"]), help=cost["cloud_name"])
    be = cost.get("break_even_months")
    m[2].metric("Break-even", "never" if be is None else f"{be:.1f} months")
    st.plotly_chart(
        charts.monthly_costs(cost["local_hardware_monthly_usd"], cost["local_power_monthly_usd"],
                             cost["cloud_monthly_usd"], cost["cloud_name"]),
        width="stretch",
        config={"displayModeBar": False},
    )
    if not cost.get("feasible", True):
        st.warning(f"{pick} cannot process that many tokens in a day "
                   f"({cost['local_hours_per_day']:.1f} hours of work).", icon=":material/warning:")
    st.caption(cost.get("basis", ""))
