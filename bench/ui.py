"""UI benchmarks: rerun time, cold start, and screenshots of every page.

    .venv/bin/python bench/ui.py [--no-shots] [--runs N]

1. Rerun time: server-side time of one rerun of "Can I run it?" after an input change
   (default scenario, then the quant and a never-seen context changed), timed through
   Streamlit's AppTest. Target: under 300 ms.
2. Cold start: from launching `streamlit run app.py` to the first full render of the
   answer (verdict and chart visible) in Chromium.
3. Screenshots of each page at desktop (1280 px) and phone (390 px) widths, saved as
   small palette PNGs under docs/screenshots/.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.devserver import CHROMIUM, CHROMIUM_ARGS, streamlit_server  # noqa: E402

SHOTS = ROOT / "docs" / "screenshots"
# page -> (address, text that appears once its answer is drawn)
PAGES = {
    "run": ("/?model=Qwen/Qwen3-30B-A3B&hw=db&gpu=nvidia-rtx-4090&ctx=32768", "Launch commands"),
    "plan": ("/plan", "Buy or rent?"),
    "machine": ("/machine", "models reach"),
    "compare": ("/compare", "Green: fits in device memory"),
}
WIDTHS = {"desktop": 1280, "phone": 390}


def rerun_times(runs: int) -> dict[str, float]:
    """Median and worst server-side rerun after a widget change (AppTest, in-process)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    t0 = time.perf_counter()
    at.run()
    first = time.perf_counter() - t0
    if at.exception:
        raise SystemExit(f"the app raised: {at.exception[0].value}")
    quant = at.selectbox(key="run.quant")
    ctx = at.number_input(key="run.ctx")
    options = ["Q8_0", "Q4_K_M"]
    samples = []
    for i in range(runs):
        quant.select(options[i % 2])
        ctx.set_value(4096 + 512 * (i + 1))  # a new context every time: no memoised answer
        t0 = time.perf_counter()
        at.run()
        samples.append(time.perf_counter() - t0)
        quant = at.selectbox(key="run.quant")
        ctx = at.number_input(key="run.ctx")
    if at.exception or not any("Verdict" in m.value for m in at.markdown):
        raise SystemExit("the rerun did not draw a verdict")
    return {"first_run_s": first, "median_s": statistics.median(samples), "max_s": max(samples), "n": runs}


def _wait_rendered(page, timeout_ms: int = 120_000) -> None:
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout_ms)


def cold_start() -> float:
    """Seconds from launching the server to the verdict and chart being visible."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        t0 = time.perf_counter()
        with streamlit_server() as url:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url + "/?hw=custom")
            page.get_by_text("Verdict").first.wait_for(timeout=120_000)
            page.locator(".js-plotly-plot").first.wait_for(timeout=120_000)
            elapsed = time.perf_counter() - t0
        browser.close()
    return elapsed


HEIGHT_JS = (
    "() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
    " return m ? m.scrollHeight : document.body.scrollHeight; }"
)


def _settled_height(page, timeout_s: float = 90.0) -> int:
    """Height of the page's scrolling area once it has stopped growing (charts drawn)."""
    deadline = time.monotonic() + timeout_s
    last, stable = -1, 0
    while time.monotonic() < deadline:
        h = int(page.evaluate(HEIGHT_JS))
        busy = page.evaluate("() => !!document.querySelector('[data-testid=\"stStatusWidget\"]')")
        stable = stable + 1 if (h == last and not busy) else 0
        if stable >= 4:
            return h
        last = h
        time.sleep(0.5)
    return last


def _compress(path: Path) -> None:
    """Palette PNG: screenshots are flat UI colours, so 128 colours lose nothing visible."""
    try:
        from PIL import Image
    except ImportError:
        return
    img = Image.open(path).convert("RGB")
    img.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def screenshots() -> list[Path]:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    out = []
    with streamlit_server() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for width_name, width in WIDTHS.items():
            ctx = browser.new_context(viewport={"width": width, "height": 900}, device_scale_factor=1)
            page = ctx.new_page()
            for name, (path, ready) in PAGES.items():
                page.goto(url + path)
                page.get_by_text(ready).first.wait_for(timeout=180_000)
                _wait_rendered(page)
                height = _settled_height(page)
                page.set_viewport_size({"width": width, "height": min(max(int(height), 900), 4000)})
                time.sleep(0.8)
                file = SHOTS / f"{name}-{width_name}.png"
                page.screenshot(path=str(file), full_page=False)
                page.set_viewport_size({"width": width, "height": 900})
                _compress(file)
                out.append(file)
            ctx.close()
        browser.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--no-shots", action="store_true", help="skip the screenshots")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    r = rerun_times(args.runs)
    verdict = "meets" if r["median_s"] < 0.300 else "MISSES"
    print(
        f"rerun after an input change ('Can I run it?', AppTest): median {r['median_s'] * 1000:.0f} ms, "
        f"max {r['max_s'] * 1000:.0f} ms over {r['n']} reruns ({verdict} the 300 ms target); "
        f"first run {r['first_run_s'] * 1000:.0f} ms"
    )
    print(f"cold start (streamlit run -> verdict and chart in Chromium): {cold_start():.1f} s")
    if not args.no_shots:
        for f in screenshots():
            print(f"screenshot: {f.relative_to(ROOT)} ({f.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
