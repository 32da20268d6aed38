"""Replaying the factories' unit-square digit strokes on the page's pad, with a mouse or a finger, and
waiting for the guess."""

from __future__ import annotations

import base64
from typing import Any

from playwright.sync_api import Page, expect

from tests.factories import DIGIT_STROKES, Stroke

ANSWER_TIMEOUT_MS = 15_000
MOUSE_STEPS = 3  # mouse moves between two stroke points, so the page sees a stroke as a user draws it
# An init script keeping a copy of every image body the page posts, as base64 in `window.uploads`:
# Playwright does not expose a request body that is a Blob.
RECORD_UPLOADS = """
window.uploads = [];
const send = window.fetch;
window.fetch = async (url, options) => {
  if (options?.body instanceof Blob) {
    const bytes = new Uint8Array(await options.body.arrayBuffer());
    let text = '';
    for (const byte of bytes) text += String.fromCharCode(byte);
    window.uploads.push(btoa(text));
  }
  return send(url, options);
};
"""


def uploads(page: Page) -> list[bytes]:
    """The image bodies a page opened with RECORD_UPLOADS has posted, oldest first."""
    return [base64.b64decode(text) for text in page.evaluate("window.uploads")]


def pad_points(
    page: Page, stroke: Stroke, scale: float = 1.0, offset: tuple[float, float] = (0.0, 0.0)
) -> list[tuple[float, float]]:
    """A stroke in page coordinates on the pad's bounding box, shrunk about the centre and moved."""
    box = page.get_by_test_id("pad").bounding_box()
    assert box is not None, "the pad is not visible"
    return [
        (
            box["x"] + (0.5 + (x - 0.5) * scale + offset[0]) * box["width"],
            box["y"] + (0.5 + (y - 0.5) * scale + offset[1]) * box["height"],
        )
        for x, y in stroke
    ]


def draw_strokes(page: Page, strokes: list[Stroke], **placement: Any) -> None:
    for stroke in strokes:
        points = pad_points(page, stroke, **placement)
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point, steps=MOUSE_STEPS)
        page.mouse.up()


def draw_digit(page: Page, digit: int, **placement: Any) -> None:
    draw_strokes(page, DIGIT_STROKES[digit], **placement)


def touch_digit(page: Page, digit: int, **placement: Any) -> None:
    """Draws with one finger through the DevTools protocol, as a phone's touchscreen would."""
    cdp = page.context.new_cdp_session(page)
    try:
        for stroke in DIGIT_STROKES[digit]:
            points = pad_points(page, stroke, **placement)
            kinds = ["touchStart"] + ["touchMove"] * (len(points) - 1)
            for kind, (x, y) in zip(kinds, points, strict=True):
                cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})
            cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    finally:
        cdp.detach()


def settle(page: Page) -> str:
    """Waits until the guesses shown belong to the drawing on the pad; the first guess."""
    expect(page.get_by_test_id("results")).to_have_attribute("data-state", "done", timeout=ANSWER_TIMEOUT_MS)
    return page.get_by_test_id("first-guess").text_content() or ""
