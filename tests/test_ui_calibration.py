"""'This machine' → Speed calibration through real Streamlit (AppTest): every stored run
with whether it is used and why not, a skipped store line named, undo one run, reset only
after a confirmation, and a llama-bench upload (a bad one stores nothing)."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from sizing.live import store

PAGE = "from sizing.ui.calibration_ui import render\nfrom sizing.ui import services\nrender(services.machine())"


@pytest.fixture(scope="module")
def hw_record() -> dict:
    from sizing.hardware.detect import detect_machine
    from sizing.hardware.this_machine import machine_record

    return machine_record(detect_machine(probe_bandwidth=True))


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.delenv("LLM_SIZING_WEB_MODE", raising=False)
    monkeypatch.setenv("LLM_SIZING_HOME", str(tmp_path))
    return tmp_path


def _run_record(hw: dict, model: str, decode: float, others: float) -> store.RunRecord:
    from sizing.live.check import kernel_table_of

    window = {"seconds": 5.0, "cpus": 2, "load_average": 1.0, "others_busy_cores": others, "steal_share": 0.0}
    return store.RunRecord(
        model=model,
        quant="Q4_1",
        runner={"name": "embedded", "version": "x", "backend": "cpu"},
        hardware=hw,
        scenario={"n_threads": 2, "n_prompt": 64, "n_gen": 32},
        estimate={
            "predicted_decode_tokens_per_s": 150.0,
            # as a real run records it: the decode kernel table this machine's CPU takes
            "predicted_decode_kernel_table": kernel_table_of(hw),
            "predicted_decode_read_bytes": 9.6e7,
            "assumed_effective_bandwidth": 1.4e10,
        },
        measured={"decode_tokens_per_s": decode},
        load={"before": window, "during": window},
    )


def _page() -> AppTest:
    return AppTest.from_string(PAGE, default_timeout=120).run()


def _texts(at: AppTest) -> str:
    kinds = ("success", "warning", "error", "info", "markdown", "caption")
    return "\n".join(str(getattr(e, "value", "")) for k in kinds for e in at.get(k))


def test_runs_are_listed_with_why_one_is_left_out_and_a_bad_line_is_named(home, hw_record):
    quiet = _run_record(hw_record, "smollm2.gguf", 120.0, others=0.0)
    busy = _run_record(hw_record, "gemma3.gguf", 9.0, others=1.6)
    store.append_run(quiet, home)
    with open(store.runs_path(home), "ab") as fh:
        fh.write(b'{"model": "\xff"}\n')
    store.append_run(busy, home)
    at = _page()
    assert not at.exception
    rows = at.dataframe[0].value
    by_id = {r["id"]: r for r in rows.to_dict("records")}
    assert by_id[quiet.id]["used"] == "yes"
    assert by_id[busy.id]["used"] == "left out" and "machine busy" in by_id[busy.id]["why"]
    assert "line 2: skipped (invalid UTF-8" in _texts(at)


def test_undo_one_run_and_reset_after_confirming(home, hw_record):
    a, b = _run_record(hw_record, "a.gguf", 120.0, 0.0), _run_record(hw_record, "b.gguf", 118.0, 0.0)
    store.append_run(a, home)
    store.append_run(b, home)
    at = _page()
    at.selectbox(key="calib_forget_id").set_value(a.id).run()
    at.button(key="calib_forget").click().run()
    assert not at.exception
    assert [r.id for r in store.load_runs(home)] == [b.id]
    assert f"Removed run {a.id}" in _texts(at)
    assert at.button(key="calib_reset").disabled  # not without the confirmation
    at.checkbox(key="calib_reset_confirm").check().run()
    at.button(key="calib_reset").click().run()
    assert not at.exception
    assert store.load_runs(home) == [] and "set aside" in _texts(at)


def test_a_bad_upload_is_one_message_and_nothing_is_stored(home):
    from sizing.ui import calibration_ui

    class Upload:  # what st.file_uploader returns: name, size, getvalue()
        name, size = "bench.json", 12

        def getvalue(self) -> bytes:
            return b"not a bench"

    with pytest.raises(Exception) as exc:
        calibration_ui._import(Upload())
    assert "not llama-bench output" in str(exc.value)
    assert not store.runs_path(home).exists()
    good = json.dumps([{"model_type": "x"}]).encode()
    Upload.getvalue = lambda self: good  # a llama-bench-shaped file missing its fields
    with pytest.raises(Exception, match="field model_size: missing"):
        calibration_ui._import(Upload())
    assert not store.runs_path(home).exists()


def test_a_changed_store_is_never_answered_from_the_cache_of_another(tmp_path, monkeypatch, hw_record):
    """Two stores whose fitted factors differ below the label's rounding: the page's answer
    follows the store it reads now (the caches key on the factors, not on their label)."""
    from sizing.core.solver import solve
    from sizing.core.speed.machine import calibrate_hardware
    from sizing.ui import services
    from sizing.ui.inputs import HardwareChoice, ModelChoice

    monkeypatch.delenv("LLM_SIZING_WEB_MODE", raising=False)
    choice = ModelChoice(spec="smollm2-135m", label="smollm2-135m")
    values = {"quant": "Q4_K_M", "ctx": 2048, "kv": "f16", "np": 1, "fa": True}
    hw = HardwareChoice("machine", [], 1, 24.0, 1000.0, 64.0)

    def stored(decode: float) -> tuple[str, float, float]:
        """(label, the page's decode, the core's) with one run of ``decode`` tok/s stored."""
        home = tmp_path / f"{decode:.3f}"
        home.mkdir()
        monkeypatch.setenv("LLM_SIZING_HOME", str(home))
        store.append_run(_run_record(hw_record, "smollm2.gguf", decode, others=0.0), home)
        mc = services.machine_calibration()
        assert mc is not None and mc.n_runs == 1
        got = services.answer(choice, values, hw)["decode_tokens_per_s"]["expected"]
        h, cal = calibrate_hardware(services.detected_hardware(), services.calibration(), mc)
        want = solve(services.catalog_get("smollm2-135m"), "Q4_K_M", 2048, h, cal).speed.decode_tokens_per_s.expected
        assert got == pytest.approx(want, abs=0.006)  # the JSON keeps two decimals
        return mc.label(), got, want

    # stores whose fits print one label yet move the answer (its 0.01 ms/token rounding spans
    # about 0.15 tok/s here): with the label as the key, the second answered the first's figure
    label_a, a, want_a = stored(120.0)
    for k in range(1, 60):
        label_b, b, want_b = stored(120.0 + 0.003 * k)
        if label_b != label_a:
            label_a, a, want_a = label_b, b, want_b
        elif abs(want_b - want_a) > 0.02:
            assert b != a
            return
    pytest.fail("no two stores printed one label")
