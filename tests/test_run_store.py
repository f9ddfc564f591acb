"""The run store survives anything: bad lines are skipped and named, the rest is kept,
appends from several processes stay whole lines, and a run can be forgotten or the
store reset."""

from __future__ import annotations

import json
import multiprocessing
import time

import pytest

from sizing.errors import SizingError
from sizing.live import store


def _good(model: str = "a", **kw) -> store.RunRecord:
    return store.RunRecord(
        model=model,
        runner={"name": "embedded", "version": "x", "backend": "cpu"},
        hardware={"cpu": "Test CPU"},
        measured={"decode_tokens_per_s": 50.0},
        **kw,
    )


def _line(**fields) -> bytes:
    rec = json.loads(_good("base").model_dump_json())
    rec.pop("id")
    for k, v in fields.items():
        section, _, key = k.partition("__")
        if key:
            rec[section][key] = v
        else:
            rec[section] = v
    return json.dumps(rec).encode()


BAD_LINES = {
    "invalid UTF-8": b'{"model": "\xff\xfe"}',
    "invalid JSON": b'{"model": "torn", "measu',
    "not finite": _line(measured__decode_tokens_per_s=1e309).replace(b"Infinity", b"1e309"),
    "NaN constant": _line().replace(b'"status"', b'"nan_here": NaN, "status"'),
    "a string speed": _line(measured__decode_tokens_per_s="fast"),
    "a negative speed": _line(measured__decode_tokens_per_s=-3.0),
    "a zero bandwidth": _line(estimate__assumed_effective_bandwidth=0),
    "timestamp 1e300": _line(time=1e300),
    "timestamp 0": _line(time=0),
    "a list, not a run": b"[1, 2, 3]",
    "no model": _line().replace(b'"model": "base", ', b""),
    "an unknown purpose": _line(purpose="benchmark"),
}


@pytest.mark.parametrize("what", sorted(BAD_LINES))
def test_a_bad_line_is_skipped_named_and_the_rest_kept(tmp_path, what):
    store.append_run(_good("first"), tmp_path)
    with open(store.runs_path(tmp_path), "ab") as fh:
        fh.write(BAD_LINES[what] + b"\n")
    store.append_run(_good("last"), tmp_path)
    got = store.read_store(tmp_path)
    assert [r.model for r in got.runs] == ["first", "last"]
    assert [s.line for s in got.skipped] == [2]
    warning = got.warnings()[0]
    assert "line 2" in warning and str(store.runs_path(tmp_path)) in warning
    assert store.load_runs(tmp_path) == list(got.runs)


def test_the_reasons_say_what_is_wrong(tmp_path):
    path = store.runs_path(tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\n".join(
            BAD_LINES[k] for k in ("invalid UTF-8", "invalid JSON", "not finite", "a string speed", "timestamp 1e300")
        )
        + b"\n"
    )
    reasons = [s.reason for s in store.read_store(tmp_path).skipped]
    assert "UTF-8" in reasons[0]
    assert reasons[1].startswith("invalid JSON")
    assert "not finite" in reasons[2]
    assert "decode_tokens_per_s is str" in reasons[3]
    assert "timestamp" in reasons[4]


def test_a_torn_last_line_does_not_swallow_the_next_append(tmp_path):
    path = store.append_run(_good("a"), tmp_path)
    with open(path, "ab") as fh:
        fh.write(b'{"model": "torn", "measu')  # a crash mid-write
    store.append_run(_good("b"), tmp_path)
    got = store.read_store(tmp_path)
    assert [r.model for r in got.runs] == ["a", "b"]
    assert len(got.skipped) == 1


def test_an_unreadable_store_is_named_not_raised(tmp_path):
    store.runs_path(tmp_path).mkdir(parents=True)  # a folder where the file should be
    got = store.read_store(tmp_path)
    assert got.runs == () and got.skipped[0].line == 0 and "cannot read" in got.skipped[0].reason


def _append_many(directory: str, tag: str, n: int) -> None:
    from pathlib import Path

    for i in range(n):
        store.append_run(_good(f"{tag}-{i}", message="x" * 5000), Path(directory))


def test_appends_from_several_processes_stay_whole_lines(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(str(tmp_path), t, 40)) for t in ("p", "q", "r")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    got = store.read_store(tmp_path)
    assert got.skipped == ()
    assert sorted(r.model for r in got.runs) == sorted(f"{t}-{i}" for t in "pqr" for i in range(40))


def test_legacy_lines_without_an_id_get_a_stable_one(tmp_path):
    path = store.runs_path(tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_line() + b"\n")
    first = store.read_store(tmp_path).runs[0].id
    assert first == store.read_store(tmp_path).runs[0].id
    store.forget_run(first, tmp_path)
    assert store.load_runs(tmp_path) == []


def test_forget_one_run_keeps_every_other_line_even_bad_ones(tmp_path):
    keep, drop = _good("keep"), _good("drop")
    store.append_run(keep, tmp_path)
    with open(store.runs_path(tmp_path), "ab") as fh:
        fh.write(BAD_LINES["invalid JSON"] + b"\n")
    store.append_run(drop, tmp_path)
    gone = store.forget_run(drop.id, tmp_path)
    assert gone.model == "drop"
    got = store.read_store(tmp_path)
    assert [r.model for r in got.runs] == ["keep"] and len(got.skipped) == 1
    with pytest.raises(SizingError, match="no stored run has id"):
        store.forget_run("nope", tmp_path)


def test_reset_sets_the_runs_aside(tmp_path):
    store.append_run(_good(), tmp_path)
    backup = store.reset_store(tmp_path)
    assert backup is not None and backup.is_file() and store.load_runs(tmp_path) == []
    assert store.reset_store(tmp_path) is None


def test_a_record_from_the_future_is_refused_but_todays_is_kept(tmp_path):
    path = store.runs_path(tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_line(time=time.time() + 86400 * 365) + b"\n" + _line(time=time.time()) + b"\n")
    got = store.read_store(tmp_path)
    assert len(got.runs) == 1 and got.skipped[0].line == 1


def _this_machines_run() -> store.RunRecord:
    """A good SmolLM2 run recorded on the machine the tests run on, so it calibrates it."""
    from sizing.hardware.detect import detect_machine
    from sizing.hardware.this_machine import machine_record
    from sizing.live.check import kernel_table_of

    hardware = machine_record(detect_machine(probe_bandwidth=True))
    return store.RunRecord(
        model="smollm2.gguf",
        quant="Q4_1",
        hardware=hardware,
        runner={"name": "embedded", "version": "x", "backend": "cpu"},
        scenario={"n_threads": 2},
        estimate={
            "predicted_decode_tokens_per_s": 150.0,
            # as a real run records it: the decode kernel table this machine's CPU takes
            "predicted_decode_kernel_table": kernel_table_of(hardware),
            "predicted_decode_read_bytes": 9.6e7,
            "assumed_effective_bandwidth": 1.4e10,
        },
        measured={"decode_tokens_per_s": 120.0},
    )


def test_a_corrupt_store_does_not_break_estimate_on_this_machine(tmp_path, monkeypatch, capsys):
    """The case from the field: one invalid-UTF-8 line, a string speed and a 1e300
    timestamp among good runs; `estimate --hardware this` answers and names the lines."""
    import json as _json

    from sizing.cli import main

    monkeypatch.setenv("LLM_SIZING_HOME", str(tmp_path))
    store.append_run(_this_machines_run(), tmp_path)
    with open(store.runs_path(tmp_path), "ab") as fh:
        for what in ("invalid UTF-8", "a string speed", "timestamp 1e300"):
            fh.write(BAD_LINES[what] + b"\n")
    assert (
        main(
            [
                "estimate",
                "--model",
                "HuggingFaceTB/SmolLM2-135M-Instruct",
                "--ctx",
                "2048",
                "--hardware",
                "this",
                "--json",
            ]
        )
        == 0
    )
    out = _json.loads(capsys.readouterr().out)
    assert "this machine: 1 run" in out["speed_calibration"]
    notes = " ".join(out["hardware_notes"])
    assert "line 2: skipped (invalid UTF-8" in notes and "line 4: skipped (field time: timestamp 1e+300" in notes


def test_a_corrupt_store_does_not_break_the_main_page(tmp_path, monkeypatch):
    """The local app's main page on 'This machine' with every bad line of the field among
    one good run: it answers at this machine's calibration, and names the skipped lines."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("LLM_SIZING_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("LLM_SIZING_WEB_MODE", raising=False)
    store.append_run(_this_machines_run(), tmp_path)
    with open(store.runs_path(tmp_path), "ab") as fh:
        for line in BAD_LINES.values():  # invalid UTF-8 first: line 2
            fh.write(line + b"\n")
    at = AppTest.from_string("from sizing.ui.pages.run import render\nrender()", default_timeout=120)
    at.query_params.update({"model": "smollm2-135m", "ctx": "2048", "hw": "machine"})
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.metric  # the answer is there
    shown = " ".join(str(e.value) for kind in ("caption", "markdown", "info") for e in at.get(kind))
    assert "this machine\\: 1 run" in shown and "line 2\\: skipped \\(invalid UTF-8" in shown


def test_only_calibrate_measures_synthetic_runs_feed_the_calibration(tmp_path):
    """A synthetic model run as a live check is stored and shown, but its speed is never
    fitted; the one calibrate --measure runs (its bandwidth-bound run) is."""
    from sizing.live.check import sample_of

    store.append_run(_good("synthetic-check", synthetic=True), tmp_path)
    store.append_run(_good("synthetic-measure", synthetic=True, purpose="calibration"), tmp_path)
    store.append_run(_good("legacy-synthetic").model_copy(update={"synthetic": True}), tmp_path)
    runs = {r.model: r for r in store.read_store(tmp_path).runs}
    assert [sample_of(runs[m]).calibration_run for m in ("synthetic-check", "synthetic-measure")] == [False, True]
    # a store written before runs had a purpose: a synthetic run in it counts as a live check
    assert runs["legacy-synthetic"].purpose == "check"
