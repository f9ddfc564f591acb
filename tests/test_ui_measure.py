"""'Measure this machine' on the 'This machine' page through real Streamlit (AppTest): the
plan and its expected time before starting, the web-mode refusal, a busy machine in one
message, and a real measurement (xllamacpp) whose runs the calibration table marks."""

from __future__ import annotations


import pytest
from apptest_poll import poll
from streamlit.testing.v1 import AppTest

PAGE = "from sizing.ui.pages.machine import render\nrender()"
PANEL = "from sizing.ui.measure_ui import render\nrender()"


@pytest.fixture(autouse=True)
def _local(monkeypatch, tmp_path):
    monkeypatch.delenv("LLM_SIZING_WEB_MODE", raising=False)
    monkeypatch.setenv("LLM_SIZING_HOME", str(tmp_path))  # the run store of this test only


def _texts(at: AppTest) -> str:
    kinds = ("success", "warning", "error", "info", "markdown", "caption", "code", "exception")
    return "\n".join(str(getattr(e, "value", "")) for k in kinds for e in at.get(k))


def _start(at: AppTest) -> AppTest:
    button = [b for b in at.button if b.label == "Measure this machine"]
    assert button and not button[0].disabled, _texts(at)
    return button[0].click().run()


def _poll(at: AppTest, done, timeout_s: float) -> AppTest:
    return poll(at, done, timeout_s, "the measurement", _texts)


def _finished(at: AppTest) -> bool:
    return "Measuring this machine:" not in "\n".join(p.proto.text for p in at.get("progress")) and any(
        s in _texts(at) for s in ("Measured this machine", "Measuring this machine failed", "was cancelled")
    )


def _plan_table(at: AppTest):
    return next(d.value for d in at.dataframe if "pins" in d.value.columns)


def test_the_plan_and_its_expected_time_show_before_starting():
    from sizing.live.measure_machine import run_name, this_machine_plan

    at = AppTest.from_string(PAGE, default_timeout=180).run()
    assert not at.exception
    plan = this_machine_plan()
    table = _plan_table(at)
    assert list(table["run"]) == [run_name(r) for r in plan]
    assert set(table["pins"]) == {"per-token overhead", "attention at depth", "RAM bandwidth"}
    assert "—" not in set(table["expected, each"])
    assert "Expected: about" in _texts(at) and "3 × each run" in _texts(at)
    at.number_input(key="measure.repeats").set_value(1).run()
    assert "1 × each run" in _texts(at)
    assert not at.get("progress")  # nothing runs until the button is pressed


def test_web_mode_refuses_to_measure(monkeypatch, tmp_path):
    monkeypatch.setenv("LLM_SIZING_WEB_MODE", "1")
    page = AppTest.from_string(PAGE, default_timeout=60).run()
    assert not page.exception and "off in web mode" in _texts(page)
    assert not [b for b in page.button if b.label == "Measure this machine"]
    panel = AppTest.from_string(PANEL, default_timeout=60).run()
    assert not panel.exception
    assert [i.value for i in panel.info] == [
        "Measuring this machine runs llama.cpp on the server; live runs are off in web mode."
    ]
    assert not panel.button and not panel.error
    # the live layer refuses too, before anything runs or is stored
    from sizing.errors import SizingError
    from sizing.live.measure_machine import measure_machine

    with pytest.raises(SizingError, match="off in web mode"):
        measure_machine(repeats=1, web_mode=True, say=lambda _: None)
    assert not list(tmp_path.iterdir())


def test_a_busy_machine_is_one_clear_message(tmp_path):
    from sizing.live.isolation import machine_lock

    at = AppTest.from_string(PAGE, default_timeout=180).run()
    at.number_input(key="measure.repeats").set_value(1).run()
    with machine_lock(tmp_path):  # another live check holds this machine
        _start(at)
        _poll(at, _finished, timeout_s=120)
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and errors[0].startswith("Measuring this machine failed: another live check is running")
    assert "Traceback" not in _texts(at)
    assert not (tmp_path / "live_runs.jsonl").exists() or not (tmp_path / "live_runs.jsonl").read_text().strip()


@pytest.mark.live
def test_a_real_measurement_shows_progress_can_be_cancelled_and_marks_its_runs():
    """A real measurement (repeats=1), cancelled once its first run is in: the progress
    lines name that run with its verdict, and the calibration table marks the runs it
    stored, each used or left out and why. (The whole plan takes minutes on a small
    shared machine: `llm-sizing calibrate --measure --repeats 1` runs it.)"""
    at = AppTest.from_string(PAGE, default_timeout=180).run()
    at.number_input(key="measure.repeats").set_value(1).run()
    first = _plan_table(at)["run"][0]
    _start(at)
    assert "Measuring this machine" in "\n".join(p.proto.text for p in at.get("progress"))
    _poll(at, lambda a: "decode" in "\n".join(c.value for c in a.code), timeout_s=300)
    cancel = [b for b in at.button if b.label == "Cancel"]
    if cancel:  # still running: stop the rest
        cancel[0].click().run()
    _poll(at, _finished, timeout_s=300)
    assert not at.exception and not at.error, _texts(at)
    lines = "\n".join(c.value for c in at.code)
    if cancel:
        assert "was cancelled" in _texts(at) and "cancelled" in lines, lines
    assert f"[1/1] {first}: overhead run" in lines
    assert "used" in lines or "left out:" in lines
    runs = [d.value for d in at.dataframe if "just measured" in d.value.columns]
    assert runs, "the calibration table does not mark this measurement's runs"
    marked = [row for table in runs for _, row in table.iterrows() if row["just measured"] == "yes"]
    assert any(str(r["run"]).startswith(first) for r in marked)  # the run the progress line named
    for row in marked:
        assert row["used"] in ("yes", "left out")
        assert (row["used"] == "yes") == (row["why"] == ""), row.to_dict()
