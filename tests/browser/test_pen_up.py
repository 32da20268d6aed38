"""The guess after pen-up on a page left alone: it must not wait for the browser's idle time.

Chromium runs some work (`canvas.toBlob`'s PNG encoding, for one) only in idle time, which on a page
that has gone still can be a second away: exactly when the user waits for the final guess. Waiting
with requestAnimationFrame, Playwright's default, keeps the page rendering and hides such a stall, so
these tests wait on a timer. The bound is coarse on purpose: a busy machine can slow a guess, but not
to half a second; the figures to compare are `python -m benchmarks.penup`'s.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page

from app.nn.preprocess import preprocess
from app.web.decoding import decode_image
from tests.browser.conftest import Watch
from tests.browser.drawing import RECORD_GUESSES, forget_guesses, pad_points, pen_up_to_settled_ms
from tests.factories import DIGIT_STROKES

pytestmark = pytest.mark.browser

STALL_MS = 500


def draw_quickly(page: Page, digit: int, rest_ms: float) -> None:
    """Each stroke in one quick move per point, as a hurried hand draws it, resting `rest_ms` before the
    last lift: a pen-up that comes after the page has painted the last move changes nothing on screen."""
    strokes = DIGIT_STROKES[digit]
    for n, stroke in enumerate(strokes):
        points = pad_points(page, stroke)
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point)
        if n == len(strokes) - 1 and rest_ms:
            page.wait_for_timeout(rest_ms)
        page.mouse.up()


def test_every_pen_up_is_answered_within_half_a_second_on_a_still_page(desktop: tuple[Page, Watch]) -> None:
    page, _ = desktop
    page.add_init_script(RECORD_GUESSES)
    page.reload()
    page.wait_for_selector('[data-testid="layer-input"]')
    late = {}
    # Every digit lifted at once and after a rest; the 7 first, a single quick stroke.
    for digit, rest_ms in [(digit, rest) for rest in (0, 150) for digit in [7, *range(7), 8, 9]]:
        page.keyboard.press("c")
        page.wait_for_function(
            "() => document.querySelector('[data-testid=\"results\"]').dataset.state === 'empty'", polling=50
        )
        forget_guesses(page)
        draw_quickly(page, digit, rest_ms)
        waited = pen_up_to_settled_ms(page)
        assert page.get_by_test_id("first-guess").text_content() == str(digit)
        if waited > STALL_MS:
            late[f"{digit}, rest {rest_ms} ms"] = round(waited)
    assert late == {}, f"guesses that came over {STALL_MS} ms after pen-up (digit: ms): {late}"


def test_the_page_posts_its_ink_as_the_browser_would_encode_the_canvas(desktop: tuple[Page, Watch]) -> None:
    """The page's own PNG encoder against Chromium's, on the same pixels: the same alpha, so the same
    input for the network, and small."""
    page, _ = desktop
    encoded = page.evaluate(
        """async (strokes) => {
          const { inkPng } = await import('/static/js/api.js');
          const canvas = document.createElement('canvas');
          canvas.width = canvas.height = 280;
          const ctx = canvas.getContext('2d', { willReadFrequently: true });
          ctx.lineWidth = 21;
          ctx.lineCap = ctx.lineJoin = 'round';
          ctx.strokeStyle = '#111';
          for (const stroke of strokes) {
            ctx.beginPath();
            for (const [x, y] of stroke) ctx.lineTo(x * 280, y * 280);
            ctx.stroke();
          }
          const base64 = async (blob) => {
            const bytes = new Uint8Array(await blob.arrayBuffer());
            let text = '';
            for (const byte of bytes) text += String.fromCharCode(byte);
            return btoa(text);
          };
          const ours = inkPng(ctx.getImageData(0, 0, 280, 280));
          const chromium = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
          return [await base64(ours), await base64(chromium)];
        }""",
        [DIGIT_STROKES[8][0], DIGIT_STROKES[8][1], DIGIT_STROKES[2][0]],
    )
    import base64

    ours, chromium = (base64.b64decode(text) for text in encoded)
    assert len(ours) <= 20_000
    image = Image.open(io.BytesIO(ours))
    assert (image.format, image.mode, image.size) == ("PNG", "LA", (280, 280))
    ours_pixels, chromium_pixels = decode_image(ours), decode_image(chromium)
    np.testing.assert_array_equal(ours_pixels, np.asarray(image))  # the server's own reader, and Pillow's
    np.testing.assert_array_equal(ours_pixels[:, :, 1], chromium_pixels[:, :, 3])
    assert not ours_pixels[:, :, 0].any()
    np.testing.assert_array_equal(preprocess(ours_pixels).bits, preprocess(chromium_pixels).bits)
