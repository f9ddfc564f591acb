"""The app in a real browser: `streamlit run app.py` driven by Playwright on Debian's
chromium (never a downloaded browser). Share links render, inputs rewrite the URL,
tampered links warn and the app keeps working."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from harness.devserver import CHROMIUM, CHROMIUM_ARGS, ROOT, streamlit_server

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

ARTIFACTS = Path(os.environ.get("LLM_SIZING_ARTIFACTS", ROOT / "test-artifacts"))


@pytest.fixture(scope="module")
def server():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make test does)")
    with streamlit_server() as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    pg.set_default_timeout(45_000)
    yield pg
    ctx.close()


def _wait_idle(page) -> None:
    """Wait until Streamlit has finished the current run (no 'Running…' indicator)."""
    page.wait_for_selector('[data-testid="stApp"]')
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000
    )


def test_shared_link_renders_verdict_and_chart(server, page):
    page.goto(f"{server}/run?quant=Q8_0&ctx=8192&hw=custom&mem=24&bw=1000")
    _wait_idle(page)
    page.get_by_text("Verdict", exact=False).first.wait_for()
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for()
    assert page.locator(".js-plotly-plot").count() >= 1
    # the link's values are in the widgets
    expect(page.get_by_label("Context (tokens)")).to_have_value("8192", timeout=30_000)
    assert not page.locator('[data-testid="stException"]').count()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-run.png"), full_page=True)


def test_changing_an_input_changes_the_url(server, page):
    page.goto(f"{server}/run?hw=custom")
    _wait_idle(page)
    box = page.get_by_label("Context (tokens)")
    box.fill("16384")
    box.press("Enter")
    page.wait_for_url(re.compile(r"ctx=16384"))
    _wait_idle(page)
    assert "hw=custom" in page.url


def test_tampered_link_warns_and_the_app_keeps_working(server, page):
    page.goto(f"{server}/run?ctx=-5&quant=%3Cscript%3Ealert(1)%3C/script%3E&model=" + "x" * 10_000)
    _wait_idle(page)
    alert = page.locator('[data-testid="stAlert"]').filter(has_text="Ignored URL parameter")
    alert.first.wait_for()
    assert alert.count() == 3
    assert not page.locator('[data-testid="stException"]').count()
    assert "ctx=" not in page.url and "script" not in page.url
    # the page still answers an input change
    box = page.get_by_label("Context (tokens)")
    box.fill("2048")
    box.press("Enter")
    page.wait_for_url(re.compile(r"ctx=2048"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-tampered.png"), full_page=True)


def test_copy_link_reproduces_the_view(server, browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
    page = ctx.new_page()
    page.set_default_timeout(45_000)
    page.goto(f"{server}/?quant=Q8_0&ctx=8192&hw=custom&mem=48")
    _wait_idle(page)
    button = page.frame_locator('[data-testid="stIFrame"]').first.locator("#b")
    expect(button).to_have_text("Copy link", timeout=30_000)
    page.wait_for_timeout(500)  # the button's script is attached once its frame has loaded
    button.click()
    expect(button).to_have_text("Link copied", timeout=10_000)
    link = page.evaluate("navigator.clipboard.readText()")
    assert link.startswith(server) and "quant=Q8_0" in link and "mem=48" in link
    page.get_by_role("button", name="Show link").click()
    assert page.locator('[data-testid="stPopoverBody"] code').first.inner_text().strip() == link
    other = browser.new_page(viewport={"width": 390, "height": 844})  # a phone opens the shared link
    other.goto(link)
    other.get_by_text("Verdict").first.wait_for(timeout=60_000)
    _wait_idle(other)
    expect(other.get_by_label("Context (tokens)")).to_have_value("8192", timeout=30_000)
    expect(other.get_by_label("Device memory (GB)")).to_have_value("48.00", timeout=30_000)
    other.close()
    ctx.close()


def test_leaving_a_page_and_coming_back_keeps_its_inputs(server, page):
    page.goto(f"{server}/?quant=Q8_0&hw=custom")
    page.get_by_text("Verdict").first.wait_for()
    page.get_by_role("link", name="Compare").click()
    page.wait_for_url(re.compile(r"/compare"))
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    page.get_by_role("link", name="Can I run it?").click()
    page.get_by_text("Verdict").first.wait_for()
    page.wait_for_url(re.compile(r"quant=Q8_0"))
    assert "hw=custom" in page.url
