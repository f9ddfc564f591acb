"""URL state layer: values round-trip through st.query_params, defaults stay out of the
link, and tampered values fall back to defaults with a warning (real Streamlit, AppTest)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from sizing.ui.state import Param, ParamError, looks_like_path, safe_name

SCRIPT = """
import streamlit as st
from sizing.ui.state import PageState, Param, safe_name
ps = PageState("t", [
    Param("quant", "Q4_K_M", choices=("Q4_K_M", "Q8_0", "F16")),
    Param("ctx", 4096, kind="int", lo=1, hi=1_000_000),
    Param("fa", True, kind="bool"),
    Param("gpus", ["a"], kind="list", choices=("a", "b", "c")),
    Param("repo", "", check=lambda v: safe_name(v) if v else v),
    Param("models", ["Qwen/Qwen3-8B"], kind="list", check=lambda v: [safe_name(x) for x in v]),
    Param("n", [1], kind="list", item="int", lo=1, hi=16),
])
ps.load()
ps.show_warnings()
st.selectbox("Quant", ["Q4_K_M", "Q8_0", "F16"], key=ps.key("quant"))
st.number_input("Context", min_value=1, max_value=1_000_000, key=ps.key("ctx"))
st.toggle("FA", key=ps.key("fa"))
st.multiselect("GPUs", ["a", "b", "c"], key=ps.key("gpus"))
st.text_input("Repo", key=ps.key("repo"))
st.multiselect("Models", ["Qwen/Qwen3-8B", "Qwen/Qwen3-30B-A3B", "Qwen/Qwen3-32B"], key=ps.key("models"))
st.write(ps.query_string())
ps.sync()
"""


def _app(**params: str) -> AppTest:
    at = AppTest.from_string(SCRIPT, default_timeout=20)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def test_defaults_are_left_out_of_the_url():
    at = _app()
    assert not at.exception
    assert dict(at.query_params) == {}
    assert not at.warning


def test_url_values_fill_the_widgets_and_round_trip():
    at = _app(quant="Q8_0", ctx="32768", fa="0", gpus=["b", "c"], repo="Qwen/Qwen3-8B")
    assert not at.warning
    assert at.selectbox[0].value == "Q8_0"
    assert at.number_input[0].value == 32768
    assert at.toggle[0].value is False
    assert at.multiselect[0].value == ["b", "c"]
    assert at.text_input[0].value == "Qwen/Qwen3-8B"
    assert dict(at.query_params) == {
        "quant": "Q8_0",
        "ctx": "32768",
        "fa": "0",
        "gpus": ["b", "c"],
        "repo": "Qwen/Qwen3-8B",
    }


def test_a_list_of_repo_ids_travels_element_by_element():
    """Two Hub repo ids hold two slashes between them: each is checked on its own, so the
    list is neither refused as a path nor dropped from the link."""
    at = _app(models=["Qwen/Qwen3-30B-A3B", "Qwen/Qwen3-32B"])
    assert not at.warning
    assert at.multiselect[1].value == ["Qwen/Qwen3-30B-A3B", "Qwen/Qwen3-32B"]
    assert at.query_params["models"] == ["Qwen/Qwen3-30B-A3B", "Qwen/Qwen3-32B"]
    link = at.markdown[0].value
    assert link == "?models=Qwen%2FQwen3-30B-A3B&models=Qwen%2FQwen3-32B"


def test_the_older_comma_form_is_read_and_rewritten_as_repeated_values():
    at = _app(models="Qwen/Qwen3-30B-A3B,Qwen/Qwen3-32B")
    assert not at.warning
    assert at.multiselect[1].value == ["Qwen/Qwen3-30B-A3B", "Qwen/Qwen3-32B"]
    assert at.query_params["models"] == ["Qwen/Qwen3-30B-A3B", "Qwen/Qwen3-32B"]


def test_an_emptied_list_stays_empty_in_the_link():
    at = _app()
    at.multiselect[1].set_value([]).run()
    assert at.query_params["models"] == ""
    at.selectbox[0].select("F16").run()  # another change keeps the empty list
    assert at.multiselect[1].value == []
    again = _app(models="")
    assert again.multiselect[1].value == [] and not again.warning


def test_a_value_given_twice_for_a_one_value_parameter_is_refused_not_cut():
    at = _app(quant=["Q8_0", "F16"])
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1 and "`quant`" in warnings[0] and "given 2 times" in warnings[0]
    assert at.selectbox[0].value == "Q4_K_M"


def test_whole_number_lists():
    at = _app(n=["2", "3"])
    assert not at.warning and at.query_params["n"] == ["2", "3"]
    bad = _app(n=["2", "99"])
    assert any("`n`" in w.value and "above the maximum" in w.value for w in bad.warning)


def test_widget_change_updates_the_url_and_back_to_default_removes_it():
    at = _app()
    at.selectbox[0].select("F16").run()
    assert at.query_params["quant"] == "F16"
    at.number_input[0].set_value(8192).run()
    assert at.query_params["ctx"] == "8192"
    at.selectbox[0].select("Q4_K_M").run()
    assert "quant" not in at.query_params
    assert at.query_params["ctx"] == "8192"


@pytest.mark.parametrize(
    "key,value,fragment",
    [
        ("ctx", "-5", "below the minimum"),
        ("ctx", "lots", "not a whole number"),
        ("quant", "<script>alert(1)</script>", "not one of the known values"),
        ("quant", "Q" * 10_000, "10000 characters"),
        ("fa", "maybe", "not true/false"),
        ("gpus", "a,zzz", "not one of the known values"),
        ("gpus", ["a", "zzz"], "not one of the known values"),
        ("gpus", ["a"] * 17, "more than 16 items"),
        ("models", ["Qwen/Qwen3-8B", "/etc/passwd"], "local file paths"),
        ("models", ["Qwen/Qwen3-8B", "a/b/c"], "local file paths"),
        ("n", ["1", "x"], "not a whole number"),
        ("repo", "/etc/passwd", "local file paths"),
        ("repo", "../../secret.gguf", "local file paths"),
    ],
)
def test_tampered_values_fall_back_with_a_warning(key, value, fragment):
    at = _app(**{key: value})
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1 and f"`{key}`" in warnings[0] and fragment in warnings[0]
    assert "<script>" not in warnings[0] or "`" in warnings[0]  # quoted as code, never HTML
    assert len(warnings[0]) < 300
    assert key not in at.query_params  # the bad value is dropped from the link


def test_warning_clears_after_the_user_changes_an_input():
    at = _app(ctx="-5")
    assert at.warning
    at.selectbox[0].select("F16").run()
    assert not at.warning


def test_path_detection():
    for p in ("/home/u/m.gguf", "./m", "~/x", "C:\\m.gguf", "a/b/c", "model.gguf", "x/../y"):
        assert looks_like_path(p), p
    for n in ("Qwen/Qwen3-8B", "llama-3.1-8b", "nvidia-rtx-4090"):
        assert not looks_like_path(n) and safe_name(n) == n
    with pytest.raises(ParamError):
        safe_name("rm -rf /; echo")


def test_param_parse_rejects_non_finite():
    p = Param("x", 1.0, kind="float", lo=0, hi=10)
    with pytest.raises(ParamError):
        p.parse("nan")
    with pytest.raises(ParamError):
        p.parse("inf")
    assert p.parse("2.5") == 2.5
