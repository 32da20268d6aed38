"""The PNG the page posts when a 7 is drawn on its pad, captured from Chromium.

`http.py` posts this file to /api/predict, so the benchmark decodes what a browser really sends: a
280x280 RGBA canvas, dark ink on a transparent background, compressed by Chromium's PNG encoder.
Starts `digitpad serve`, draws the browser tests' 7 with the mouse and saves the body of the last
prediction request the page makes. Needs the test extra (Playwright) and Chromium:

    python -m benchmarks.canvas [--out tests/data/canvas-7.png]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks.common import ROOT
from benchmarks.http import start_server
from tests import servers

OUT = ROOT / "tests" / "data" / "canvas-7.png"
DIGIT = 7


def capture(url: str) -> bytes:
    # Playwright and the browser tests' helpers come with the test extra, not the product.
    from playwright.sync_api import sync_playwright

    from tests.browser.drawing import RECORD_UPLOADS, draw_digit, uploads
    from tests.browser.pages import CHROMIUM, CHROMIUM_ARGS, DESKTOP

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(**DESKTOP)
            page.add_init_script(RECORD_UPLOADS)
            page.goto(url)
            draw_digit(page, DIGIT)
            page.get_by_test_id("first-guess").filter(has_text=str(DIGIT)).wait_for(timeout=10_000)
            page.wait_for_load_state("networkidle")
            posted = uploads(page)
        finally:
            browser.close()
    if not posted:
        raise SystemExit("the page posted no drawing")
    return posted[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        server = start_server(1, Path(folder) / "server.log")
        try:
            png = capture(server.url + "/")
        finally:
            servers.stop(server)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(png)
    print(f"{args.out}: {len(png):,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
