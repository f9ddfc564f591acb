"""Plan a purchase — whole builds that run the target models at the speed wanted, priced whole.

Every input is in the link, including the objective, used prices, the price overrides,
the region and hours of use, and the build picked for "buy or rent", so a shared link
reproduces the ranking and the break-even.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from sizing.core.scenario import MAX_CTX
from sizing.errors import SizingError
from sizing.ui import charts, fmt, inputs, report, services
from sizing.ui.echo import inert
from sizing.ui.feedback import guard
from sizing.ui.state import PageState, Param, ParamError, copy_link_button, looks_like_path, safe_name

URL_PATH = "plan"
TABLE_ROWS = 20
OBJECTIVES = {
    "cheapest": "Cheapest that meets the target",
    "fastest": "Fastest within budget",
    "cost-per-token": "Lowest cost per million tokens",
}


def _models_check(v: list[str]) -> list[str]:
    return [safe_name(x) for x in v]


def _prices_check(v: list[str]) -> list[str]:
    """ID=USD items: a price that is not a positive number, or an unknown id, is refused."""
    from sizing.core.prices import parse_overrides

    try:
        parse_overrides(v, services.priced_item_ids())
    except SizingError as exc:
        raise ParamError(str(exc)) from None
    return v


_BUILD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+\-]{0,150}$")


def _pick_check(v: str) -> str:
    """A build id (platform+NxGPU, database ids joined by '+'), never a path or markup."""
    if v and (looks_like_path(v) or not _BUILD_ID.match(v)):
        raise ParamError("not a build id")
    return v


def page_state() -> PageState:
    ids = services.catalog_ids()
    regions = list(services.regions())
    return PageState(
        "plan",
        [
            Param("models", [inputs.default_model()], kind="list", choices=ids or None, check=_models_check),
            Param("quant", inputs.FALLBACK_QUANT, choices=services.file_quants() or None),
            Param("ctx", 8192, kind="int", lo=256, hi=MAX_CTX),
            Param("objective", "cheapest", choices=list(OBJECTIVES)),
            Param("tps", 20.0, kind="float", lo=0, hi=100000),
            Param("budget", 5000.0, kind="float", lo=0, hi=10_000_000),
            Param("used", False, kind="bool"),
            Param("prices", [], kind="list", check=_prices_check),
            Param("region", "EU", choices=regions or None),
            Param("kwh", 0.0, kind="float", lo=0, hi=10),
            Param("hours", 8.0, kind="float", lo=0.5, hi=24),
            Param("years", 3.0, kind="float", lo=0.5, hi=10),
            # buy or rent
            Param("pick", "", check=_pick_check),
            Param("tin", 2.0, kind="float", lo=0, hi=100000),
            Param("tout", 0.5, kind="float", lo=0, hi=100000),
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
                "Target model(s)",
                list(names),
                format_func=lambda i: names.get(i, i),
                key=ps.key("models"),
                help="Every model must fit; the speed target applies to the slowest",
            )
        else:
            st.info("The model catalog could not be loaded (see the server log).", icon=":material/construction:")
        c: Sequence[DeltaGenerator] = st.columns(4)
        quants = services.file_quants()
        if quants:
            c[0].selectbox("Quant", quants, key=ps.key("quant"))
        c[1].number_input("Context (tokens)", min_value=256, max_value=MAX_CTX, step=1024, key=ps.key("ctx"))
        c[2].number_input(
            "Tokens/s wanted", min_value=0.0, max_value=100000.0, step=5.0, key=ps.key("tps"), help="0: no speed target"
        )
        c[3].number_input(
            "Budget (USD, whole build)",
            min_value=0.0,
            max_value=10_000_000.0,
            step=500.0,
            key=ps.key("budget"),
            help="0: no budget",
        )
        c = st.columns([2, 1, 2])
        c[0].selectbox("Objective", list(OBJECTIVES), format_func=fmt.label_of(OBJECTIVES), key=ps.key("objective"))
        c[1].toggle("Used cards", key=ps.key("used"), help="price a card used where a used price is cited")
        regions = services.regions()
        c[2].selectbox("Electricity region", list(regions), format_func=fmt.label_of(regions), key=ps.key("region"))
        c = st.columns(3)
        c[0].number_input(
            "Electricity (USD/kWh, 0 = region)", min_value=0.0, max_value=10.0, step=0.05, key=ps.key("kwh")
        )
        c[1].number_input("Hours a day generating", min_value=0.5, max_value=24.0, step=1.0, key=ps.key("hours"))
        c[2].number_input(
            "Years to spread the purchase over", min_value=0.5, max_value=10.0, step=0.5, key=ps.key("years")
        )
        _overrides_input(ps)
    ps.sync()
    with link:
        copy_link_button(ps, URL_PATH)
    v = ps.values()
    if not v["models"]:
        st.info("Pick at least one target model.")
        return
    with guard("plan the purchase"):
        results(ps, v)


def _overrides_input(ps: PageState) -> None:
    """Price overrides as ID=USD, kept in the link; a bad one is one message, not applied."""
    current = ", ".join(ps["prices"])
    text = st.text_input(
        "Your prices (ID=USD, comma-separated)",
        value=current,
        key="plan.prices_text",
        help="e.g. nvidia-rtx-3090=650, desktop-am5=1300 — ids are shown in each build's price lines",
    )
    items = [x.strip() for x in text.split(",") if x.strip()]
    if items != list(ps["prices"]):
        try:
            ps.set("prices", _prices_check(items))
        except ParamError as exc:
            st.error(f"Price override not applied: {inert(exc)}", icon=":material/error:")


def _age(line: dict) -> str:
    return f"{line['age_months']:.0f} mo" + (" ⚠" if line["stale"] else "")


def _calibration(cal: dict) -> str:
    """The rows behind the entry that predicts the speed, and those on the device itself."""
    own = f", {cal['family_decode_rows']} of them {cal['family']}" if cal.get("family") else ""
    head = f"{cal['entry']}: {cal['entry_decode_rows']} decode rows{own}, {cal['device_rows']} on this device"
    return head + (" · weak" if cal["weak"] else "")


def _row(o: dict) -> dict:
    cal = o["calibration"]
    oldest = max(o["lines"], key=lambda ln: ln["age_months"])
    return {
        "rank": o["rank"],
        "build": o["label"],
        "price": fmt.usd(o["price_usd"]) + (" (weak basis)" if any(ln.get("weak_basis") for ln in o["lines"]) else ""),
        "priced at": o.get("price_basis") or "",
        "tokens/s": fmt.num(o.get("decode_tokens_per_s")),
        "tokens/s at ctx": fmt.num(o.get("decode_at_ctx_tokens_per_s")),
        "$ / M tokens": "—" if o.get("usd_per_m_tokens") is None else f"${o['usd_per_m_tokens']:.2f}",
        "power": f"{o['load_w']:.0f} W",
        "calibration": _calibration(cal),
        "oldest price": f"{oldest['date']} ({_age(oldest)})",
        "why": o.get("why") or o.get("shortfall") or "",
        "build id": o["build_id"],
    }


PLAN_KEYS = (
    "models",
    "quant",
    "ctx",
    "objective",
    "tps",
    "budget",
    "used",
    "prices",
    "region",
    "kwh",
    "hours",
    "years",
)


def results(ps: PageState, v: dict) -> None:
    p = services.purchase({k: v[k] for k in PLAN_KEYS})
    options = list(p["options"]) or list(p["closest"])
    (st.success if p["met"] else st.warning)(p["message"], icon=":material/shopping_cart:")
    if not options:
        return
    st.subheader("Ranked builds" if p["met"] else "Closest builds")
    table = [_row(o) for o in options[:TABLE_ROWS]]
    st.dataframe(table, hide_index=True, width="stretch")
    stale = sum(1 for o in options[:TABLE_ROWS] for ln in o["lines"] if ln["stale"])
    if stale:
        st.warning(
            f"{stale} price lines in these builds are over 6 months old (⚠): check them, or enter your "
            "own price above.",
            icon=":material/schedule:",
        )
    st.caption(
        f"{p['considered']} builds placed; {p['refused_physically']} card × platform × count combinations "
        "left out as not physically buildable (slots, PSU, SXM modules). Tokens/s: decode with an empty "
        "cache, as public benchmarks report it (the target applies to it); at ctx: averaged as the chosen "
        "context fills from the prompt (the slowest model's)."
    )
    for n in p.get("notes") or ():
        st.caption(n)
    ids = [o["build_id"] for o in options]
    labels = {o["build_id"]: f"#{o['rank']} {o['label']}" for o in options}
    if ps["pick"] not in ids:
        ps.set("pick", ids[0])
    st.selectbox(
        "Build",
        ids,
        format_func=fmt.label_of(labels),
        key=ps.key("pick"),
        help="its price lines, launch commands and the buy-or-rent comparison below",
    )
    ps.sync()
    row = next(o for o in options if o["build_id"] == ps["pick"])
    _details(row)
    priced = [o for o in options if o.get("decode_tokens_per_s")]
    if priced:
        st.subheader("Price against speed")
        st.plotly_chart(
            charts.price_speed_scatter(
                [{"name": o["label"], "price": o["price_usd"], "tps": o["decode_tokens_per_s"]} for o in priced[:30]],
                set(),
            ),
            width="stretch",
            config={"displayModeBar": False},
        )
    with guard("compare buying with renting"):
        cloud_section(ps, row)
    c1, c2 = st.columns(2)
    c1.download_button(
        "Plan as JSON", report.to_json(p), file_name="plan.json", mime="application/json", icon=":material/download:"
    )
    c2.download_button(
        "Plan as Markdown",
        report.table_markdown("Purchase plan", table, p["message"]),
        file_name="plan.md",
        mime="text/markdown",
        icon=":material/download:",
    )


def _details(o: dict) -> None:
    st.markdown(f"**{o['label']}** — {o.get('why') or o.get('shortfall') or ''}")
    st.dataframe(
        [
            {
                "item": ln["item"],
                "id": ln["id"],
                "qty": f"{ln['qty']:g}",
                "unit": fmt.usd(ln["unit_usd"]),
                "total": fmt.usd(ln["usd"]),
                "kind": ln["kind"]
                + (" (weak basis)" if ln.get("weak_basis") else "")
                + (f" (chosen over a newer weak figure, {ln['passed_over']})" if ln.get("passed_over") else ""),
                "date": ln["date"],
                "age": _age(ln),
                "source": ln["source"],
            }
            for ln in o["lines"]
        ],
        hide_index=True,
        width="stretch",
        column_config={"source": st.column_config.LinkColumn("source", display_text="source")},
    )
    st.caption(f"Speed basis: {o['speed_basis']}. Calibration: {o['calibration']['label']}.")
    for n in o.get("notes") or ():
        st.caption(n)
    for m in o["models"]:
        if m.get("llama_server"):
            st.code(m["llama_server"], language="bash")


def cloud_section(ps: PageState, row: dict) -> None:
    st.subheader("Buy or rent?")
    c = st.columns(2)
    c[0].number_input("Tokens in per day (M)", min_value=0.0, max_value=100000.0, step=0.5, key=ps.key("tin"))
    c[1].number_input("Tokens out per day (M)", min_value=0.0, max_value=100000.0, step=0.1, key=ps.key("tout"))
    ps.sync()
    v = ps.values()
    if not row.get("decode_tokens_per_s"):
        st.info("This build does not run the models, so there is nothing to compare.")
        return
    cost = services.buy_or_rent({k: v[k] for k in PLAN_KEYS}, row, {"tin": v["tin"], "tout": v["tout"]})
    loc = cost["local"]
    like = cost.get("cloud_name")
    be = next((b for b, o in zip(cost["break_even"], cost["rent"]) if o["name"] == like), None)
    m = st.columns(3)
    m[0].metric(
        "Local, per month",
        fmt.usd(loc["monthly_usd"]),
        help=f"hardware {fmt.usd(loc['hardware_monthly_usd'])} + electricity {fmt.usd(loc['power_monthly_usd'])}",
    )
    m[1].metric("Cloud, per month", fmt.usd(cost.get("cloud_monthly_usd")), help=like or "")
    m[2].metric(
        "Break-even",
        "never" if not be or be["months"] is None else f"{be['months']:.1f} months",
        help=None if not be or be["tokens"] is None else f"{be['tokens'] / 1e6:,.0f}M output tokens by then",
    )
    if not loc["feasible"]:
        st.warning(
            f"This build cannot process that many tokens in a day ({loc['busy_hours_per_day']:.1f} hours of work).",
            icon=":material/warning:",
        )
    st.caption(loc["basis"])
    st.plotly_chart(
        charts.monthly_costs(
            loc["hardware_monthly_usd"], loc["power_monthly_usd"], cost.get("cloud_monthly_usd") or 0, like or "cloud"
        ),
        width="stretch",
        config={"displayModeBar": False},
    )
    st.dataframe(
        [
            {
                "rent": o["name"] + (" (reference only)" if o["reference_only"] else ""),
                "kind": o["kind"],
                "per month": fmt.usd(o["monthly_usd"]),
                "break-even": "never" if b["months"] is None else f"{b['months']:.1f} months",
                "tokens by then": "—" if b["tokens"] is None else f"{b['tokens'] / 1e6:,.0f}M",
                "basis": o["basis"],
                "date": o["date"],
                "source": o["source"],
            }
            for o, b in zip(cost["rent"], cost["break_even"])
        ],
        hide_index=True,
        width="stretch",
        column_config={"source": st.column_config.LinkColumn("source", display_text="source")},
    )
