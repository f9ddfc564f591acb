"""The whole app (app.py) under AppTest: navigation mounts the pages and the default page
answers; each page module renders without an exception on the embedded data."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from sizing.ui import navigation

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def test_app_opens_on_can_i_run_it(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert at.title[0].value == "Can I run it?"
    assert any("Verdict" in m.value for m in at.markdown)


def test_navigation_lists_the_pages():
    titles = [t for _, t, _, _ in navigation.PAGES]
    assert titles == ["Can I run it?", "Plan a purchase", "What runs well", "This machine", "Compare"]
    paths = [p for _, _, _, p in navigation.PAGES]
    assert len(set(paths)) == len(paths)


@pytest.mark.parametrize("module", [m for m, _, _, _ in navigation.PAGES])
def test_every_page_renders_without_an_exception(module, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    at = AppTest.from_string(f"from sizing.ui.pages.{module} import render\nrender()", default_timeout=120).run()
    assert not at.exception, at.exception
    assert at.title
    assert not at.error, [e.value for e in at.error]


def test_fine_tune_page_is_mounted_when_its_module_exists():
    import importlib.util

    fn = navigation.finetune_page()
    if importlib.util.find_spec("sizing.ui.pages.finetune") is None:
        assert fn is None
    else:
        from sizing.ui.pages import finetune

        assert fn is finetune.render


def test_the_server_answers_health_under_every_page_address():
    from sizing.ui.web_routes import PAGE_PATHS

    paths = {p for *_, p in navigation.PAGES} | {f"{navigation.PAGES[0][3]}-home", "finetune"}
    assert set(PAGE_PATHS) == paths
