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
    assert titles == ["Can I run it?", "Plan a purchase", "What runs well", "This machine", "Compare", "Fine-tune"]
    paths = [p for _, _, _, p in navigation.PAGES]
    assert len(set(paths)) == len(paths)


@pytest.mark.parametrize("module", [m for m, _, _, _ in navigation.PAGES])
def test_every_page_renders_without_an_exception(module, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    at = AppTest.from_string(f"from sizing.ui.pages.{module} import render\nrender()", default_timeout=120).run()
    assert not at.exception, at.exception
    assert at.title
    assert not at.error, [e.value for e in at.error]


def test_fine_tune_page_is_mounted_at_its_address(monkeypatch):
    """The app's navigation serves /finetune, and that page is the fine-tuning page."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    script = (
        "import streamlit as st\n"
        "from sizing.ui import navigation\n"
        "pages = {p.url_path: p for p in navigation.pages()}\n"
        "st.session_state['mounted'] = {k: p.title for k, p in pages.items()}\n"
        "nav = st.navigation(list(pages.values()))\n"
        "if nav.url_path != 'finetune':\n"
        "    st.switch_page(pages['finetune'])\n"
        "nav.run()\n"
    )
    at = AppTest.from_string(script, default_timeout=120).run()
    assert not at.exception, at.exception
    assert at.session_state["mounted"]["finetune"] == "Fine-tune"
    assert [t.value for t in at.title] == ["Fine-tune"]


def test_the_server_answers_health_under_every_page_address():
    from sizing.ui.web_routes import PAGE_PATHS

    paths = {p for *_, p in navigation.PAGES} | {f"{navigation.PAGES[0][3]}-home", "finetune"}
    assert set(PAGE_PATHS) == paths
