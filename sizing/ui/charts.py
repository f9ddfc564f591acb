"""Plotly figures for the pages. They draw numbers the core produced; they compute none.

Kept free of Streamlit so they can be built (and checked) outside a running app.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from sizing.units import GIB
PART_COLORS = {
    "Weights": "#4C78A8",
    "KV cache": "#F58518",
    "Compute": "#54A24B",
    "Overhead": "#B279A2",
}
FIT_COLORS = {"fits": "#2e9e44", "tight": "#e0a526", "no": "#d1495b"}


def _layout(fig: go.Figure, height: int = 320, **kw) -> go.Figure:
    fig.update_layout(
        height=height,
        margin=dict(l=10, r=10, t=40, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0, traceorder="normal"),
        **kw,
    )
    return fig


def memory_bars(devices: Sequence[dict]) -> go.Figure:
    """Stacked bar of memory parts per device, with each device's capacity as a marker.

    ``devices``: dicts with ``name``, ``capacity_bytes`` (or None) and the four part sizes
    ``weights_bytes, kv_cache_bytes, compute_bytes, overhead_bytes``.
    """
    names = [_short(d["name"]) for d in devices]
    fig = go.Figure()
    for label, key in (
        ("Weights", "weights_bytes"),
        ("KV cache", "kv_cache_bytes"),
        ("Compute", "compute_bytes"),
        ("Overhead", "overhead_bytes"),
    ):
        vals = [d.get(key, 0) / GIB for d in devices]
        fig.add_bar(
            y=names,
            x=vals,
            name=label,
            orientation="h",
            marker_color=PART_COLORS[label],
            hovertemplate=f"{label}: %{{x:.2f}} GiB<extra>%{{y}}</extra>",
        )
    caps = [(_short(d["name"]), d.get("capacity_bytes")) for d in devices if d.get("capacity_bytes")]
    if caps:
        fig.add_scatter(
            y=[n for n, _ in caps],
            x=[c / GIB for _, c in caps],
            mode="markers",
            name="Capacity",
            marker=dict(symbol="line-ns-open", size=28, line=dict(width=3, color="#222")),
            hovertemplate="Capacity: %{x:.1f} GiB<extra>%{y}</extra>",
        )
    fig.update_layout(barmode="stack", xaxis_title="GiB")
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, height=160 + 56 * len(devices))


def _short(name: str, n: int = 26) -> str:
    """Axis labels stay short; the hover shows the full name."""
    if name.startswith("assumed host"):
        return "host RAM (assumed)"
    return name if len(name) <= n else name[: n - 1] + "…"


def fit_map(
    quants: Sequence[str],
    ctxs: Sequence[int],
    status: Sequence[Sequence[str]],
    totals_bytes: Sequence[Sequence[float | None]],
) -> go.Figure:
    """Quant × context grid; each cell coloured fits/tight/no and labelled with its total."""
    z = [[{"fits": 2, "tight": 1, "no": 0}.get(s, 0) for s in row] for row in status]
    text = [[("—" if t is None else f"{t / GIB:.1f}") for t in row] for row in totals_bytes]
    hover = [
        [f"{q} · {c:,} tokens: {s}<br>{txt} GiB" for c, s, txt in zip(ctxs, srow, trow)]
        for q, srow, trow in zip(quants, status, text)
    ]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[_ctx_label(c) for c in ctxs],
            y=list(quants),
            text=text,
            texttemplate="%{text}",
            hovertext=hover,
            hoverinfo="text",
            zmin=0,
            zmax=2,
            colorscale=[
                [0.0, FIT_COLORS["no"]],
                [0.33, FIT_COLORS["no"]],
                [0.34, FIT_COLORS["tight"]],
                [0.66, FIT_COLORS["tight"]],
                [0.67, FIT_COLORS["fits"]],
                [1.0, FIT_COLORS["fits"]],
            ],
            showscale=False,
            xgap=2,
            ygap=2,
        )
    )
    fig.update_xaxes(title="context (tokens)", type="category")
    fig.update_yaxes(title="quant", type="category", autorange="reversed")
    return _layout(fig, height=80 + 28 * len(quants))


def _ctx_label(c: int) -> str:
    return f"{c // 1024}k" if c >= 1024 and c % 1024 == 0 else str(c)


def price_speed_scatter(rows: Sequence[dict], pareto_names: set[str]) -> go.Figure:
    """Price × tokens/s, one point per option; the Pareto front drawn as a line."""
    fig = go.Figure()
    others = [r for r in rows if r["name"] not in pareto_names]
    front = sorted((r for r in rows if r["name"] in pareto_names), key=lambda r: r["price"])
    fig.add_scatter(
        x=[r["price"] for r in others],
        y=[r["tps"] for r in others],
        text=[r["name"] for r in others],
        mode="markers",
        name="Options",
        marker=dict(color="#9aa5b1", size=9),
        hovertemplate="%{text}<br>$%{x:,.0f} · %{y:.1f} tok/s<extra></extra>",
    )
    fig.add_scatter(
        x=[r["price"] for r in front],
        y=[r["tps"] for r in front],
        text=[r["name"] for r in front],
        mode="lines+markers+text",
        textposition="top left",
        textfont=dict(size=10),
        name="Pareto front",
        marker=dict(color="#d1495b", size=11),
        line=dict(color="#d1495b", dash="dot"),
        hovertemplate="%{text}<br>$%{x:,.0f} · %{y:.1f} tok/s<extra></extra>",
    )
    fig.update_xaxes(title="price (USD)")
    fig.update_yaxes(title="decode tokens/s")
    return _layout(fig, height=380)


def monthly_costs(hw_month: float, power_month: float, cloud_month: float, cloud_name: str) -> go.Figure:
    """Monthly cost of owning (hardware spread over its life + electricity) against an API."""
    fig = go.Figure()
    fig.add_bar(y=["Buy (local)"], x=[hw_month], name="hardware, spread", orientation="h", marker_color="#4C78A8")
    fig.add_bar(y=["Buy (local)"], x=[power_month], name="electricity", orientation="h", marker_color="#F58518")
    fig.add_bar(y=[f"Rent: {cloud_name}"[:40]], x=[cloud_month], name="API", orientation="h", marker_color="#54A24B")
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title="USD per month")
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, height=220)


def bars(names: Sequence[str], values: Sequence[float], title: str, colors: Sequence[str] | None = None,
         errors: tuple[Sequence[float], Sequence[float]] | None = None) -> go.Figure:
    """Horizontal bars (e.g. tokens/s per GPU), optional asymmetric error ranges."""
    kw = {}
    if errors is not None:
        lo, hi = errors
        kw["error_x"] = dict(type="data", symmetric=False,
                             array=[h - v for h, v in zip(hi, values)],
                             arrayminus=[v - lo_ for lo_, v in zip(lo, values)])
    fig = go.Figure(go.Bar(y=list(names), x=list(values), orientation="h",
                           marker_color=list(colors) if colors else "#4C78A8", **kw))
    fig.update_xaxes(title=title)
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, height=120 + 26 * len(names))


def measured_vs_estimated(labels: Sequence[str], estimated: Sequence[float], measured: Sequence[float], unit: str) -> go.Figure:
    """Grouped bars: what we estimated against what llama.cpp measured."""
    fig = go.Figure()
    fig.add_bar(x=list(labels), y=list(estimated), name="Estimated", marker_color="#4C78A8")
    fig.add_bar(x=list(labels), y=list(measured), name="Measured", marker_color="#F58518")
    fig.update_layout(barmode="group")
    fig.update_yaxes(title=unit)
    return _layout(fig, height=320)


def history_scatter(points: Sequence[dict]) -> go.Figure:
    """Every stored live check, part by part: estimated (x) against measured (y), in GiB.

    ``points``: dicts with ``part``, ``estimated``, ``measured`` (bytes) and ``label``.
    Points on the diagonal are exact; above it the estimate was low.
    """
    fig = go.Figure()
    top = max([max(p["estimated"], p["measured"]) for p in points] or [1]) / GIB
    fig.add_scatter(x=[0, top * 1.05], y=[0, top * 1.05], mode="lines", name="exact",
                    line=dict(color="#9aa5b1", dash="dot"), hoverinfo="skip")
    for part in dict.fromkeys(p["part"] for p in points):
        pts = [p for p in points if p["part"] == part]
        fig.add_scatter(
            x=[p["estimated"] / GIB for p in pts],
            y=[p["measured"] / GIB for p in pts],
            text=[p["label"] for p in pts],
            mode="markers",
            name=part,
            marker=dict(size=9, color=PART_COLORS.get(part)),
            hovertemplate="%{text}<br>estimated %{x:.3f} GiB<br>measured %{y:.3f} GiB<extra>" + part + "</extra>",
        )
    fig.update_xaxes(title="estimated (GiB)", rangemode="tozero")
    fig.update_yaxes(title="measured by llama.cpp (GiB)", rangemode="tozero")
    return _layout(fig, height=360)


def speed_vs_context(curve: Sequence[dict], ctx: int, prompt_tokens: int) -> go.Figure:
    """Decode tokens/s (left axis) and time to first token (right axis) against depth.

    ``curve``: dicts with ``depth``, ``decode_tokens_per_s`` and ``ttft_s`` (the core's
    ``ContextPoint``s); the user's prompt length is marked.
    """
    fig = go.Figure()
    x = [p["depth"] for p in curve]
    fig.add_scatter(x=x, y=[p["decode_tokens_per_s"] for p in curve], mode="lines+markers",
                    name="Generation (tok/s) with this many tokens cached", line=dict(color="#4C78A8"),
                    hovertemplate="%{x:,} tokens cached<br>%{y:.1f} tok/s<extra></extra>")
    fig.add_scatter(x=x, y=[p["ttft_s"] for p in curve], mode="lines+markers", yaxis="y2",
                    name="First token (s) for a prompt this long", line=dict(color="#F58518", dash="dash"),
                    hovertemplate="%{x:,}-token prompt<br>%{y:.2f} s<extra></extra>")
    fig.add_vline(x=prompt_tokens, line=dict(color="#9aa5b1", dash="dot"),
                  annotation_text=f"your prompt ({prompt_tokens:,})", annotation_position="top left")
    fig.update_xaxes(title="tokens in the context", range=[0, ctx * 1.02])
    fig.update_layout(
        yaxis=dict(title="tok/s", rangemode="tozero"),
        yaxis2=dict(title="seconds", overlaying="y", side="right", rangemode="tozero", showgrid=False),
    )
    return _layout(fig, height=320)
