"""Plotly figures for the pages. They draw numbers the core produced; they compute none.

Kept free of Streamlit so they can be built (and checked) outside a running app.

Each figure is written as Plotly's own JSON (traces and layout as dicts) and wrapped
without re-validation: building it property by property through Plotly's validators
took most of a page's rerun. ``tests/test_charts.py`` validates every figure's spec with
Plotly, so a wrong property still fails there.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from sizing.units import GIB

PART_COLORS = {
    "Weights": "#4C78A8",
    "KV cache": "#F58518",
    "Compute": "#54A24B",
    "Overhead": "#B279A2",
}
FIT_COLORS = {"fits": "#2e9e44", "tight": "#e0a526", "no": "#d1495b"}


def figure(data: list[dict[str, Any]], height: int = 320, **layout: Any) -> go.Figure:
    """A figure from trace dicts and layout keys, with the pages' shared margins and
    legend (a ``legend`` given replaces the shared one)."""
    lay = {
        "legend": dict(orientation="h", yanchor="bottom", y=1.02, x=0, traceorder="normal"),
        **layout,
        "margin": dict(l=10, r=10, t=40, b=10),
        "height": height,
        "template": template_for(d.get("type", "scatter") for d in data),
    }
    return go.Figure({"data": data, "layout": lay}, _validate=False)


def template_for(trace_types: Iterable[str]) -> dict[str, Any]:
    """The default template (Streamlit's, once Streamlit is imported) cut to what draws
    these traces: its whole layout part, and its per-trace defaults only for these trace
    types (a template's ``data.heatmap`` entry styles heatmaps and nothing else).

    Plotly copies the whole default template into every figure; Streamlit's lists ten
    trace types, and copying, encoding and sending them was most of each chart's JSON
    and of its cost per rerun. A figure drawn with the cut template looks the same. The
    cached dict is handed over as it is: a Figure copies what it is built from, so no
    figure's change reaches it (tests/test_charts.py)."""
    return _template(frozenset(trace_types), pio.templates.default)


@functools.lru_cache(maxsize=32)  # keyed by value: a few sets of trace types, a named template
def _template(trace_types: frozenset[str], name: str | None) -> dict[str, Any]:
    if not name or name not in pio.templates:
        return {}
    full = pio.templates[name].to_plotly_json()
    data = {t: v for t, v in (full.get("data") or {}).items() if t in trace_types}
    out: dict[str, Any] = {"layout": full.get("layout") or {}}
    if data:
        out["data"] = data
    return out


def _axis(title: str | None = None, **kw: Any) -> dict[str, Any]:
    return {**({"title": {"text": title}} if title is not None else {}), **kw}


def memory_bars(devices: Sequence[dict]) -> go.Figure:
    """Stacked bar of memory parts per device, with each device's capacity as a marker.

    ``devices``: dicts with ``name``, ``capacity_bytes`` (or None) and the four part sizes
    ``weights_bytes, kv_cache_bytes, compute_bytes, overhead_bytes``.
    """
    names = [_short(d["name"]) for d in devices]
    data: list[dict[str, Any]] = [
        {
            "type": "bar",
            "y": names,
            "x": [d.get(key, 0) / GIB for d in devices],
            "name": label,
            "orientation": "h",
            "marker": {"color": PART_COLORS[label]},
            "hovertemplate": f"{label}: %{{x:.2f}} GiB<extra>%{{y}}</extra>",
        }
        for label, key in (
            ("Weights", "weights_bytes"),
            ("KV cache", "kv_cache_bytes"),
            ("Compute", "compute_bytes"),
            ("Overhead", "overhead_bytes"),
        )
    ]
    caps = [(_short(d["name"]), int(d["capacity_bytes"])) for d in devices if d.get("capacity_bytes")]
    if caps:
        data.append(
            {
                "type": "scatter",
                "y": [n for n, _ in caps],
                "x": [c / GIB for _, c in caps],
                "mode": "markers",
                "name": "Capacity",
                "marker": dict(symbol="line-ns-open", size=28, line=dict(width=3, color="#222")),
                "hovertemplate": "Capacity: %{x:.1f} GiB<extra>%{y}</extra>",
            }
        )
    return figure(
        data, height=160 + 56 * len(devices), barmode="stack", xaxis=_axis("GiB"), yaxis=_axis(autorange="reversed")
    )


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
    heat = {
        "type": "heatmap",
        "z": z,
        "x": [_ctx_label(c) for c in ctxs],
        "y": list(quants),
        "text": text,
        "texttemplate": "%{text}",
        "hovertext": hover,
        "hoverinfo": "text",
        "zmin": 0,
        "zmax": 2,
        "colorscale": [
            [0.0, FIT_COLORS["no"]],
            [0.33, FIT_COLORS["no"]],
            [0.34, FIT_COLORS["tight"]],
            [0.66, FIT_COLORS["tight"]],
            [0.67, FIT_COLORS["fits"]],
            [1.0, FIT_COLORS["fits"]],
        ],
        "showscale": False,
        "xgap": 2,
        "ygap": 2,
    }
    return figure(
        [heat],
        height=80 + 28 * len(quants),
        xaxis=_axis("context (tokens)", type="category"),
        yaxis=_axis("quant", type="category", autorange="reversed"),
    )


def _ctx_label(c: int) -> str:
    return f"{c // 1024}k" if c >= 1024 and c % 1024 == 0 else str(c)


def price_speed_scatter(rows: Sequence[dict], pareto_names: set[str]) -> go.Figure:
    """Price × tokens/s, one point per option; the Pareto front drawn as a line."""
    others = [r for r in rows if r["name"] not in pareto_names]
    front = sorted((r for r in rows if r["name"] in pareto_names), key=lambda r: r["price"])
    hover = "%{text}<br>$%{x:,.0f} · %{y:.1f} tok/s<extra></extra>"
    data = [
        {
            "type": "scatter",
            "x": [r["price"] for r in others],
            "y": [r["tps"] for r in others],
            "text": [r["name"] for r in others],
            "mode": "markers",
            "name": "Options",
            "marker": dict(color="#9aa5b1", size=9),
            "hovertemplate": hover,
        },
        {
            "type": "scatter",
            "x": [r["price"] for r in front],
            "y": [r["tps"] for r in front],
            "text": [r["name"] for r in front],
            "mode": "lines+markers+text",
            "textposition": "top left",
            "textfont": dict(size=10),
            "name": "Pareto front",
            "marker": dict(color="#d1495b", size=11),
            "line": dict(color="#d1495b", dash="dot"),
            "hovertemplate": hover,
        },
    ]
    return figure(data, height=380, xaxis=_axis("price (USD)"), yaxis=_axis("decode tokens/s"))


def monthly_costs(hw_month: float, power_month: float, cloud_month: float, cloud_name: str) -> go.Figure:
    """Monthly cost of owning (hardware spread over its life + electricity) against an API."""

    def bar(y: str, x: float, name: str, color: str) -> dict[str, Any]:
        return {"type": "bar", "y": [y], "x": [x], "name": name, "orientation": "h", "marker": {"color": color}}

    data = [
        bar("Buy (local)", hw_month, "hardware, spread", "#4C78A8"),
        bar("Buy (local)", power_month, "electricity", "#F58518"),
        bar(f"Rent: {cloud_name}"[:40], cloud_month, "API", "#54A24B"),
    ]
    return figure(data, height=220, barmode="stack", xaxis=_axis("USD per month"), yaxis=_axis(autorange="reversed"))


def bars(
    names: Sequence[str],
    values: Sequence[float],
    title: str,
    colors: Sequence[str] | None = None,
    errors: tuple[Sequence[float], Sequence[float]] | None = None,
) -> go.Figure:
    """Horizontal bars (e.g. tokens/s per GPU), optional asymmetric error ranges."""
    trace: dict[str, Any] = {
        "type": "bar",
        "y": list(names),
        "x": list(values),
        "orientation": "h",
        "marker": {"color": list(colors) if colors else "#4C78A8"},
    }
    if errors is not None:
        lo, hi = errors
        trace["error_x"] = dict(
            type="data",
            symmetric=False,
            array=[h - v for h, v in zip(hi, values)],
            arrayminus=[v - lo_ for lo_, v in zip(lo, values)],
        )
    return figure([trace], height=120 + 26 * len(names), xaxis=_axis(title), yaxis=_axis(autorange="reversed"))


def measured_vs_estimated(
    labels: Sequence[str], estimated: Sequence[float], measured: Sequence[float], unit: str
) -> go.Figure:
    """Grouped bars: what we estimated against what llama.cpp measured."""
    data = [
        {"type": "bar", "x": list(labels), "y": list(estimated), "name": "Estimated", "marker": {"color": "#4C78A8"}},
        {"type": "bar", "x": list(labels), "y": list(measured), "name": "Measured", "marker": {"color": "#F58518"}},
    ]
    return figure(data, height=320, barmode="group", yaxis=_axis(unit))


def history_scatter(points: Sequence[dict]) -> go.Figure:
    """Every stored live check, part by part: estimated (x) against measured (y), in GiB.

    ``points``: dicts with ``part``, ``estimated``, ``measured`` (bytes) and ``label``.
    Points on the diagonal are exact; above it the estimate was low.
    """
    top = max([max(p["estimated"], p["measured"]) for p in points] or [1]) / GIB
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "x": [0, top * 1.05],
            "y": [0, top * 1.05],
            "mode": "lines",
            "name": "exact",
            "line": dict(color="#9aa5b1", dash="dot"),
            "hoverinfo": "skip",
        }
    ]
    for part in dict.fromkeys(p["part"] for p in points):
        pts = [p for p in points if p["part"] == part]
        data.append(
            {
                "type": "scatter",
                "x": [p["estimated"] / GIB for p in pts],
                "y": [p["measured"] / GIB for p in pts],
                "text": [p["label"] for p in pts],
                "mode": "markers",
                "name": part,
                "marker": dict(size=9, color=PART_COLORS.get(part)),
                "hovertemplate": "%{text}<br>estimated %{x:.3f} GiB<br>measured %{y:.3f} GiB<extra>"
                + part
                + "</extra>",
            }
        )
    return figure(
        data,
        height=360,
        xaxis=_axis("estimated (GiB)", rangemode="tozero"),
        yaxis=_axis("measured by llama.cpp (GiB)", rangemode="tozero"),
    )


def speed_vs_context(curve: Sequence[dict], ctx: int, prompt_tokens: int) -> go.Figure:
    """Decode tokens/s (left axis) and time to first token (right axis) against depth.

    ``curve``: dicts with ``depth``, ``decode_tokens_per_s`` and ``ttft_s`` (the core's
    ``ContextPoint``s); the user's prompt length is marked.
    """
    x = [p["depth"] for p in curve]
    data = [
        {
            "type": "scatter",
            "x": x,
            "y": [p["decode_tokens_per_s"] for p in curve],
            "mode": "lines+markers",
            "name": "Generation (tok/s) with this many tokens cached",
            "line": dict(color="#4C78A8"),
            "hovertemplate": "%{x:,} tokens cached<br>%{y:.1f} tok/s<extra></extra>",
        },
        {
            "type": "scatter",
            "x": x,
            "y": [p["ttft_s"] for p in curve],
            "mode": "lines+markers",
            "yaxis": "y2",
            "name": "First token (s) for a prompt this long",
            "line": dict(color="#F58518", dash="dash"),
            "hovertemplate": "%{x:,}-token prompt<br>%{y:.2f} s<extra></extra>",
        },
    ]
    # the prompt marker: a vertical line over the plot's height, labelled at its top
    marker_line = {
        "type": "line",
        "x0": prompt_tokens,
        "x1": prompt_tokens,
        "xref": "x",
        "y0": 0,
        "y1": 1,
        "yref": "y domain",
        "line": dict(color="#9aa5b1", dash="dot"),
    }
    label = {
        "text": f"your prompt ({prompt_tokens:,})",
        "showarrow": False,
        "x": prompt_tokens,
        "xanchor": "right",
        "xref": "x",
        "y": 1,
        "yanchor": "top",
        "yref": "y domain",
    }
    return figure(
        data,
        height=320,
        xaxis=_axis("tokens in the context", range=[0, ctx * 1.02]),
        yaxis=_axis("tok/s", rangemode="tozero"),
        yaxis2=_axis("seconds", overlaying="y", side="right", rangemode="tozero", showgrid=False),
        shapes=[marker_line],
        annotations=[label],
    )
