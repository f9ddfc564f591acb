"""No traceback reaches the page: a failing section shows one line and the rest of the
page still answers. The failure is injected into the UI's own service layer (the only
way to make the real core fail on demand); everything else is real."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from sizing.errors import SizingError
from sizing.ui import services

PAGE = "from sizing.ui.pages.run import render\nrender()"


def test_a_bug_in_one_section_is_one_line_and_the_rest_still_renders(monkeypatch):
    def broken(*a, **k):
        raise ZeroDivisionError("secret internals /srv/app/x.py line 3")

    monkeypatch.setattr(services, "fit_grid", broken)
    at = AppTest.from_string(PAGE, default_timeout=60)
    at.query_params["hw"] = "custom"
    at.run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert errors == [
        "Could not draw the fit map: an internal error occurred (ZeroDivisionError). "
        "The rest of the page still works; please report this with the page link."
    ]
    assert "secret internals" not in " ".join(errors)
    assert any("Verdict" in m.value for m in at.markdown)
    assert any("llama-server" in c.value for c in at.code)  # later sections still drawn


def test_bad_input_from_the_core_is_its_own_clear_message(monkeypatch):
    def refuse(*a, **k):
        raise SizingError("--ctx 99999999 is absurdly large")

    monkeypatch.setattr(services, "answer", refuse)
    at = AppTest.from_string(PAGE, default_timeout=60)
    at.query_params["hw"] = "custom"
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == ["--ctx 99999999 is absurdly large"]


def test_a_context_beyond_the_model_is_explained_not_crashed():
    at = AppTest.from_string(PAGE, default_timeout=60)
    at.query_params.update({"hw": "custom", "ctx": "10000000"})
    at.run()
    assert not at.exception
    assert at.error and at.error[0].value.startswith("**No")
    assert any("trained maximum" in c.value for c in at.caption)  # the core's warning, shown
