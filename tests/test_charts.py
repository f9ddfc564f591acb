"""The pages' figures: each spec is valid Plotly (the pages wrap it unvalidated, for speed)
and draws the numbers it was given."""

from __future__ import annotations

import json

import plotly.graph_objects as go
import pytest

from sizing.ui import charts
from sizing.units import GIB

DEVICES = [
    {
        "name": "NVIDIA GeForce RTX 3090 #1",
        "weights_bytes": 18 * GIB,
        "kv_cache_bytes": 2 * GIB,
        "compute_bytes": GIB // 4,
        "overhead_bytes": GIB // 8,
        "capacity_bytes": 23 * GIB,
    },
    {
        "name": "assumed host (64 GB)",
        "weights_bytes": 8 * GIB,
        "kv_cache_bytes": GIB,
        "compute_bytes": GIB // 4,
        "overhead_bytes": 0,
        "capacity_bytes": None,
    },
]
CURVE = [{"depth": d, "decode_tokens_per_s": 30 - d / 1000, "ttft_s": d / 3000} for d in (0, 1024, 4096, 8192)]
POINTS = [
    {"part": "Weights", "estimated": GIB, "measured": 1.1 * GIB, "label": "a"},
    {"part": "KV cache", "estimated": 2 * GIB, "measured": 1.9 * GIB, "label": "b"},
]

FIGURES = {
    "memory_bars": lambda: charts.memory_bars(DEVICES),
    "fit_map": lambda: charts.fit_map(
        ["F16", "Q8_0"],
        [2048, 4096, 5000],
        [["fits", "tight", "no"], ["fits", "fits", "no"]],
        [[GIB, 2 * GIB, None], [GIB / 2, GIB, 3 * GIB]],
    ),
    "price_speed_scatter": lambda: charts.price_speed_scatter(
        [
            {"name": "a", "price": 1000, "tps": 10},
            {"name": "b", "price": 2000, "tps": 20},
            {"name": "c", "price": 1500, "tps": 5},
        ],
        {"a", "b"},
    ),
    "monthly_costs": lambda: charts.monthly_costs(10.0, 5.0, 30.0, "an API"),
    "bars": lambda: charts.bars(
        ["x", "y"], [1.0, 2.0], "tok/s", colors=["#111111", "#222222"], errors=([0.5, 1.5], [1.5, 3.0])
    ),
    "measured_vs_estimated": lambda: charts.measured_vs_estimated(["w", "kv"], [1.0, 2.0], [1.1, 2.2], "GiB"),
    "history_scatter": lambda: charts.history_scatter(POINTS),
    "speed_vs_context": lambda: charts.speed_vs_context(CURVE, 8192, 2048),
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_every_figure_is_valid_plotly(name):
    spec = FIGURES[name]().to_dict()
    assert spec["data"]
    go.Figure(spec)  # Plotly's validators raise on any unknown or ill-typed property


def test_a_wrong_property_would_be_caught():
    spec = charts.memory_bars(DEVICES).to_dict()
    spec["data"][0]["colour"] = "red"
    with pytest.raises(ValueError):
        go.Figure(spec)


def test_memory_bars_draw_each_part_and_the_capacity_in_gib():
    data = charts.memory_bars(DEVICES).to_dict()["data"]
    parts = {t["name"]: t["x"] for t in data if t["type"] == "bar"}
    assert parts["Weights"] == [18.0, 8.0] and parts["KV cache"] == [2.0, 1.0]
    capacity = next(t for t in data if t["name"] == "Capacity")
    assert list(capacity["x"]) == [23.0] and list(capacity["y"]) == ["NVIDIA GeForce RTX 3090 #1"]


def test_speed_chart_marks_the_prompt_and_caps_the_axis_at_the_context():
    lay = charts.speed_vs_context(CURVE, 8192, 2048).to_dict()["layout"]
    assert lay["shapes"][0]["x0"] == lay["shapes"][0]["x1"] == 2048
    assert lay["annotations"][0]["text"] == "your prompt (2,048)"
    assert lay["xaxis"]["range"] == [0, 8192 * 1.02]


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_each_figure_carries_the_default_template_cut_to_its_own_trace_types(name):
    """Same look as Plotly's default template (Streamlit's, in the app), without the
    per-trace defaults of trace types the figure does not draw."""
    import plotly.io as pio

    spec = FIGURES[name]().to_dict()
    full = pio.templates[pio.templates.default].to_plotly_json()
    kept = spec["layout"]["template"]
    types = {t["type"] for t in spec["data"]}
    assert kept["layout"] == full["layout"]
    assert kept.get("data", {}) == {t: v for t, v in full["data"].items() if t in types}
    assert len(json.dumps(kept)) < len(json.dumps(full))


def test_a_figure_changed_after_it_is_built_leaves_the_next_figures_template_alone():
    """The pages hand every figure the same cached template dict: a change to one drawn
    figure (Streamlit's theme, a page's own layout tweak) must not reach the next one."""
    import plotly.io as pio

    first = charts.memory_bars(DEVICES)
    first.layout.template.layout.font.size = 99
    first.update_layout(template={"layout": {"paper_bgcolor": "red"}})
    second = charts.memory_bars(DEVICES).to_dict()["layout"]["template"]["layout"]
    default = pio.templates[pio.templates.default].to_plotly_json()["layout"]
    assert second == default and second.get("paper_bgcolor") != "red"
