"""The PNGs of a 7 drawn on the page's pad, captured from Chromium: what the page posts, and the canvas.

`tests/data/ink-7.png` is what the page posts to /api/predict: the pad's 280x280 drawing as grey + alpha
(black, the ink in the alpha channel), written by the page's own encoder. `tests/data/canvas-7.png` is
the very same pixels as Chromium's `canvas.toBlob` encodes them (RGBA, dark ink on a transparent
background): what the page posted before, and what any page exporting a canvas sends. Both come from one
drawing, so the server must derive the same input from each; `http.py` posts them.

Starts `digitpad serve`, draws the browser tests' 7 with the mouse and saves the body of the last
prediction request and Chromium's PNG of the canvas it was made from. Needs the test extra (Playwright)
and Chromium:

    python -m benchmarks.canvas [--out tests/data]
"""

from __future__ import annotations

import argparse
import base64
import tempfile
from pathlib import Path

from benchmarks.common import ROOT
from benchmarks.http import start_server
from tests import servers

OUT = ROOT / "tests" / "data"
DIGIT = 7
# Keeps the last 280x280 canvas whose pixels the page read: the pad's export canvas, which the page
# reads to encode each upload.
KEEP_EXPORT_CANVAS = """
const read = CanvasRenderingContext2D.prototype.getImageData;
CanvasRenderingContext2D.prototype.getImageData = function (...args) {
  if (this.canvas.width === 280 && this.canvas.height === 280) window.exportCanvas = this.canvas;
  return read.apply(this, args);
};
"""
CANVAS_AS_PNG = """async () => {
  const blob = await new Promise((resolve) => window.exportCanvas.toBlob(resolve, 'image/png'));
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text);
}"""


def capture(url: str) -> tuple[bytes, bytes]:
    """(the page's last upload, Chromium's PNG of the canvas it was encoded from)."""
    # Playwright and the browser tests' helpers come with the test extra, not the product.
    from playwright.sync_api import sync_playwright

    from tests.browser.drawing import RECORD_UPLOADS, draw_digit, uploads
    from tests.browser.pages import CHROMIUM, CHROMIUM_ARGS, DESKTOP

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(**DESKTOP)
            page.add_init_script(RECORD_UPLOADS)
            page.add_init_script(KEEP_EXPORT_CANVAS)
            page.goto(url)
            draw_digit(page, DIGIT)
            page.get_by_test_id("first-guess").filter(has_text=str(DIGIT)).wait_for(timeout=10_000)
            page.wait_for_load_state("networkidle")
            posted = uploads(page)
            canvas = base64.b64decode(page.evaluate(CANVAS_AS_PNG))
        finally:
            browser.close()
    if not posted:
        raise SystemExit("the page posted no drawing")
    return posted[-1], canvas


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="the folder to write ink-7.png and canvas-7.png to")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        server = start_server(1, Path(folder) / "server.log")
        try:
            ink, canvas = capture(server.url + "/")
        finally:
            servers.stop(server)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, png in ((f"ink-{DIGIT}.png", ink), (f"canvas-{DIGIT}.png", canvas)):
        (args.out / name).write_bytes(png)
        print(f"{args.out / name}: {len(png):,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
