"""The app in a real browser: `streamlit run serve.py` (what `make run` serves) driven by
Playwright on Debian's chromium (never a downloaded browser). Share links render, inputs
rewrite the URL, tampered links warn and the app keeps working; on every page, inputs
changed as a user does come back from "Show link" in a fresh browser context with the
same view and numbers."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from harness.devserver import CHROMIUM, CHROMIUM_ARGS, ROOT, streamlit_server

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
expect.set_options(timeout=30_000)  # a rerun on a busy machine takes seconds, not milliseconds

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
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)


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
    # the estimate's file is written when the button is clicked, from this view
    est = _download(page, "Estimate as JSON")
    assert (est["quant"], est["ctx"]) == ("Q8_0", 8192) and est["total_bytes"] > 0


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
    # the button's script is attached once its frame has loaded, which a busy machine delays:
    # a click before that does nothing, so click until the button says it copied
    for _ in range(30):
        button.click()
        try:
            expect(button).to_have_text("Link copied", timeout=1_000)
            break
        except AssertionError:
            continue
    expect(button).to_have_text("Link copied", timeout=10_000)
    link = page.evaluate("navigator.clipboard.readText()")
    assert link.startswith(server) and "quant=Q8_0" in link and "mem=48" in link
    assert _popover_link(page) == link
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


# --- every page's link, opened in a fresh browser ---------------------------------------

PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"
)


def _open(browser, url: str, **ctx_kw):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, **ctx_kw)
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    _wait_idle(page)
    return ctx, page


def _settle(page) -> None:
    page.wait_for_timeout(300)
    _wait_idle(page)


def _popover_link(page) -> str:
    """Open 'Show link' and read its link. A click that lands while a rerun redraws the
    page can be lost on a busy machine, so the popover is opened again until it shows."""
    _wait_idle(page)
    code = page.locator('[data-testid="stPopoverBody"] code').first
    for _ in range(10):
        page.get_by_role("button", name="Show link").click()
        try:
            code.wait_for(timeout=5_000)
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    return code.inner_text(timeout=10_000).strip()


def _show_link(page) -> str:
    link = _popover_link(page)
    page.keyboard.press("Escape")
    # the address bar says the same
    assert parse_qs(urlparse(link).query) == parse_qs(urlparse(page.url).query), (link, page.url)
    return link


def _metric(page, label: str) -> str:
    m = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return m.locator('[data-testid="stMetricValue"]').inner_text().strip()


def _download(page, name: str):
    with page.expect_download() as d:
        page.get_by_role("button", name=name).click()
    return json.loads(open(d.value.path()).read())


def _number(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter")
    _settle(page)


def _pick(page, label: str, typed: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.click()
    page.keyboard.type(typed)
    page.wait_for_timeout(300)
    page.keyboard.press("Enter")
    _settle(page)


def test_can_i_run_it_gpu_picker_link(server, browser):
    ctx, page = _open(browser, f"{server}/?hw=db")
    page.get_by_text("Pick a GPU").first.wait_for()
    _pick(page, "GPU", "3090")  # one Enter, one card: the 3090, not the 3090 Ti too
    page.get_by_text("= 1 card,").first.wait_for()
    assert "Ti" not in page.get_by_text("Machine:").first.inner_text()
    _number(page, "Cards of this GPU", "2")
    page.get_by_text("2 × NVIDIA GeForce RTX 3090 = 2 cards").first.wait_for()
    _number(page, "Context (tokens)", "16384")
    link = _show_link(page)
    assert "gpu=nvidia-rtx-3090" in link and "count=2" in link and "ctx=16384" in link
    want = _metric(page, "Generation (tok/s)"), page.get_by_text("Verdict").first.inner_text()
    ctx.close()
    ctx2, fresh = _open(browser, link)
    fresh.get_by_text("2 × NVIDIA GeForce RTX 3090 = 2 cards").first.wait_for()
    expect(fresh.get_by_label("Context (tokens)")).to_have_value("16384")
    assert (_metric(fresh, "Generation (tok/s)"), fresh.get_by_text("Verdict").first.inner_text()) == want
    ctx2.close()


def test_compare_models_link_keeps_every_model(server, browser):
    old = f"{server}/compare?mode=models&gpu=apple-m4-max-40c-64gb&models=Qwen%2FQwen3-30B-A3B,Qwen%2FQwen3-32B"
    ctx, page = _open(browser, old)
    page.get_by_text("Green: fits").first.wait_for()
    _number(page, "Context (tokens)", "16384")
    link = _show_link(page)
    assert parse_qs(urlparse(link).query)["models"] == ["Qwen/Qwen3-30B-A3B", "Qwen/Qwen3-32B"]
    want = _download(page, "Comparison as JSON")
    assert [r["model"] for r in want] == ["Qwen/Qwen3-30B-A3B", "Qwen/Qwen3-32B"]
    ctx.close()
    ctx2, fresh = _open(browser, link)
    fresh.get_by_text("Green: fits").first.wait_for()
    assert _download(fresh, "Comparison as JSON") == want
    ctx2.close()


def test_plan_link_keeps_targets_and_the_build_weighed(server, browser):
    ctx, page = _open(browser, f"{server}/plan?models=Qwen%2FQwen3-8B&models=google%2Fgemma-3-4b-it")
    page.get_by_text("Buy or rent?").first.wait_for()
    first = parse_qs(urlparse(page.url).query)["pick"]
    box = page.get_by_label("Build", exact=True)
    box.click()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    _settle(page)
    page.wait_for_function("f => !location.search.includes('pick=' + encodeURIComponent(f))", arg=first[0])
    chosen = box.input_value() if box.evaluate("e => e.tagName") == "INPUT" else box.inner_text()
    link = _show_link(page)
    q = parse_qs(urlparse(link).query)
    assert q["models"] == ["Qwen/Qwen3-8B", "google/gemma-3-4b-it"] and q["pick"] != first
    want = _metric(page, "Local, per month"), _metric(page, "Break-even")
    ctx.close()
    ctx2, fresh = _open(browser, link)
    fresh.get_by_text("Buy or rent?").first.wait_for()
    fbox = fresh.get_by_label("Build", exact=True)
    got = fbox.input_value() if fbox.evaluate("e => e.tagName") == "INPUT" else fbox.inner_text()
    assert got == chosen
    assert (_metric(fresh, "Local, per month"), _metric(fresh, "Break-even")) == want
    ctx2.close()


def test_what_runs_well_link(server, browser):
    ctx, page = _open(browser, f"{server}/runs-well?hw=db&gpu=nvidia-rtx-3090")
    page.get_by_text("models reach").first.wait_for()
    _number(page, "Usable speed (tok/s at least)", "30")
    _pick(page, "Task", "Code")
    page.get_by_text("models reach 30 tok/s").first.wait_for()
    link = _show_link(page)
    assert "tps=30" in link and "task=code" in link
    want = _download(page, "List as JSON")
    assert want and all("code" in r["tasks"] for r in want)
    ctx.close()
    ctx2, fresh = _open(browser, link)
    fresh.get_by_text("models reach 30 tok/s").first.wait_for()
    assert _download(fresh, "List as JSON") == want
    ctx2.close()


def test_this_machine_link(server, browser):
    ctx, page = _open(browser, f"{server}/machine")
    page.get_by_text("models reach").first.wait_for(timeout=120_000)
    _number(page, "Usable speed (tok/s at least)", "5")
    page.get_by_text("models reach 5 tok/s").first.wait_for()
    link = _show_link(page)
    assert "tps=5" in link
    want = _download(page, "List as JSON")
    ctx.close()
    ctx2, fresh = _open(browser, link)
    fresh.get_by_text("models reach 5 tok/s").first.wait_for(timeout=120_000)
    assert _download(fresh, "List as JSON") == want
    ctx2.close()


def test_fine_tune_link(server, browser):
    ctx, page = _open(browser, f"{server}/finetune?gpu=nvidia-rtx-4090")
    page.get_by_text("Memory of one training step").first.wait_for(timeout=120_000)
    assert not page.get_by_text("GGUF file").count()  # not a fine-tuning source
    _number(page, "Sequence length", "4096")
    link = _show_link(page)
    assert "seq=4096" in link and "gpu=nvidia-rtx-4090" in link
    want = _metric(page, "Memory per GPU"), _metric(page, "Trainable parameters")
    # nothing cut at 1280 px: every metric value and input label fits its box
    clipped = page.evaluate("""() => [...document.querySelectorAll(
        '[data-testid="stMetricValue"] div, [data-testid="stWidgetLabel"] p')]
        .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)""")
    assert clipped == [], clipped
    ctx.close()
    ctx2, fresh = _open(browser, link)
    fresh.get_by_text("Memory of one training step").first.wait_for(timeout=120_000)
    assert (_metric(fresh, "Memory per GPU"), _metric(fresh, "Trainable parameters")) == want
    ctx2.close()


def test_on_a_phone_the_verdict_comes_first(server, browser):
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, user_agent=PHONE_UA, is_mobile=True)
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{server}/?hw=custom&mem=48")
    verdict = page.get_by_text("Verdict").first
    verdict.wait_for()
    _wait_idle(page)
    inputs = page.get_by_text("Model, context and hardware").first
    assert inputs.bounding_box()["y"] < verdict.bounding_box()["y"] < 844  # on the first screen
    assert not page.get_by_label("Device memory (GB)").is_visible()  # folded away
    inputs.click()
    expect(page.get_by_label("Device memory (GB)")).to_have_value("48.00")
    ctx.close()


def test_a_narrow_screen_that_is_not_a_phone_also_shows_the_verdict_first(server, browser):
    # a small desktop window (no "Mobi" in its User-Agent): the columns stack, answer first
    ctx = browser.new_context(viewport={"width": 390, "height": 844})
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{server}/?hw=custom&mem=48")
    verdict = page.get_by_text("Verdict").first
    verdict.wait_for()
    _wait_idle(page)
    memory = page.get_by_label("Device memory (GB)")
    # the stacked layout settles after the last elements arrive: wait for the answer to move up
    page.wait_for_function("(el) => el.getBoundingClientRect().top < 844", arg=verdict.element_handle())
    assert verdict.bounding_box()["y"] < 844 < memory.bounding_box()["y"]  # inputs follow the answer
    expect(memory).to_have_value("48.00")
    # wide, the same page keeps the inputs on the left of the answer
    page.set_viewport_size({"width": 1280, "height": 900})
    _wait_idle(page)
    assert memory.bounding_box()["x"] < verdict.bounding_box()["x"]
    assert memory.bounding_box()["y"] < 900
    ctx.close()


def test_deep_links_do_not_hit_missing_addresses(server, browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    missing = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    page.goto(f"{server}/compare?mode=models")
    page.get_by_text("Green: fits").first.wait_for(timeout=60_000)
    _wait_idle(page)
    assert missing == []
    ctx.close()
