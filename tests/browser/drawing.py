"""Replaying the factories' unit-square digit strokes on the page's pad, with a mouse or a finger, and
waiting for the guess, and recording in the page's own clock when each pen-up happened and when its guess
appeared."""

from __future__ import annotations

import base64
from typing import Any

from playwright.sync_api import Page, expect

from tests.factories import DIGIT_STROKES, Stroke

ANSWER_TIMEOUT_MS = 15_000
MOUSE_STEPS = 3  # mouse moves between two stroke points, so the page sees a stroke as a user draws it
# An init script keeping a copy of every image body the page posts or sends on a live socket (bytes or a
# Blob), as base64 in `window.uploads`: Playwright does not expose a request body that is a Blob.
RECORD_UPLOADS = """
window.uploads = [];
const record = async (body) => {
  const bytes = body instanceof Blob
    ? new Uint8Array(await body.arrayBuffer())
    : new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  window.uploads.push(btoa(text));
};
const send = window.fetch;
window.fetch = async (url, options) => {
  const body = options?.body;
  if (body instanceof Blob || ArrayBuffer.isView(body)) await record(body);
  return send(url, options);
};
const sendMessage = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) {
  if (data instanceof Blob || ArrayBuffer.isView(data)) record(data);
  return sendMessage.call(this, data);
};
"""

# An init script recording, in the page's own clock, every pen-down and pen-up, every prediction request
# (when fetch is called or the drawing sent on the live socket, when its answer arrives, its body's size,
# whether it went by `socket`, and the browser's Resource Timing of a fetch with the server's Server-Timing
# spans), the other API requests (when each was made and ended), every change of the results' `data-state`
# and every layout shift, in `window.guesses`.
RECORD_GUESSES = """
(() => {
  const log = window.guesses = { downs: [], ups: [], requests: [], others: [], timings: [], states: [], shifts: [] };
  for (const [type, list] of [['pointerdown', log.downs], ['pointerup', log.ups], ['pointercancel', log.ups]]) {
    addEventListener(type, () => list.push(performance.now()), { capture: true });
  }
  const send = window.fetch;
  window.fetch = (url, options) => {
    if (!String(url).includes('/api/')) return send(url, options);
    if (!String(url).includes('/api/predict')) {
      const other = { url: String(url), sent: performance.now(), ended: null };
      log.others.push(other);
      const response = send(url, options);
      const end = () => { other.ended = performance.now(); };
      response.then((r) => r.clone().arrayBuffer().then(end, end), end);
      return response;
    }
    const size = options?.body?.byteLength ?? options?.body?.size ?? null;
    const request = { sent: performance.now(), size, answered: null };
    log.requests.push(request);
    const response = send(url, options);
    response.then(() => { request.answered = performance.now(); }, () => {});
    return response;
  };
  const Socket = window.WebSocket;
  window.WebSocket = class extends Socket {
    #waiting = null; // a prediction socket's drawings not yet answered: its answers come in order
    constructor(...args) {
      super(...args);
      if (!String(args[0]).includes('/api/predict')) return;
      this.#waiting = [];
      // added before the page's own listener, so it sees an answer first, as a fetch's resolving
      this.addEventListener('message', () => {
        const request = this.#waiting.shift();
        if (request) request.answered = performance.now();
      });
    }
    send(data) {
      if (this.#waiting) {
        const size = data.byteLength ?? data.size ?? null;
        const request = { sent: performance.now(), size, answered: null, socket: true };
        log.requests.push(request);
        this.#waiting.push(request);
      }
      return super.send(data);
    }
  };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (!e.name.includes('/api/predict')) continue;
      log.timings.push({
        start: e.startTime, requestStart: e.requestStart, responseStart: e.responseStart, responseEnd: e.responseEnd,
        server: Object.fromEntries(e.serverTiming.map((s) => [s.name, s.duration])),
      });
    }
  }).observe({ type: 'resource' });
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) log.shifts.push(entry.value);
  }).observe({ type: 'layout-shift', buffered: true });
  document.addEventListener('DOMContentLoaded', () => {
    const results = document.querySelector('[data-testid="results"]');
    new MutationObserver(() => log.states.push([performance.now(), results.dataset.state]))
      .observe(results, { attributes: true, attributeFilter: ['data-state'] });
  });
})();
"""
# True once the results have settled (`done`, or `empty` for no digit) after the last pen-up.
SETTLED_AFTER_LAST_UP = """() => {
  const log = window.guesses, up = log.ups.at(-1);
  return up !== undefined && log.states.some(([t, state]) => t > up && (state === 'done' || state === 'empty'));
}"""


def forget_guesses(page: Page) -> None:
    """Empties the RECORD_GUESSES log, so that it holds only what happens from now on."""
    page.evaluate("() => { for (const list of Object.values(window.guesses)) list.length = 0; }")


def pen_up_to_settled_ms(page: Page, poll_ms: int = 50, timeout_ms: int = 15_000) -> float:
    """Waits, polling on a timer, for the results to settle after the last pen-up; the milliseconds between.

    Never with Playwright's default requestAnimationFrame polling: that keeps the page rendering, and a
    page that renders never shows work the browser leaves for its idle time.
    """
    page.wait_for_function(SETTLED_AFTER_LAST_UP, polling=poll_ms, timeout=timeout_ms)
    return float(
        page.evaluate(
            """() => {
              const log = window.guesses, up = log.ups.at(-1);
              return log.states.find(([t, state]) => t > up && (state === 'done' || state === 'empty'))[0] - up;
            }"""
        )
    )


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
    touch_strokes(page, [pad_points(page, stroke, **placement) for stroke in DIGIT_STROKES[digit]])


def touch_strokes(page: Page, strokes: list[list[tuple[float, float]]]) -> None:
    """Strokes in page coordinates, each drawn with one finger through the DevTools protocol."""
    cdp = page.context.new_cdp_session(page)
    try:
        for points in strokes:
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


# --- Number mode's wide pad ---

DIGIT_SIZE = 0.7  # a digit's unit square, in pad heights
PITCH = 0.62  # from one digit's square to the next, in pad heights: a small gap between their inks


def number_strokes(page: Page, text: str, start: float = 0.15) -> list[list[tuple[float, float]]]:
    """The digits of `text` written left to right on the wide pad, in page coordinates: each digit's
    unit-square strokes DIGIT_SIZE of the pad's height, `start` pad heights from its left edge."""
    box = page.get_by_test_id("number-pad").bounding_box()
    assert box is not None, "the number pad is not visible"
    top = (1 - DIGIT_SIZE) / 2
    return [
        [
            (
                box["x"] + (start + i * PITCH + x * DIGIT_SIZE) * box["height"],
                box["y"] + (top + y * DIGIT_SIZE) * box["height"],
            )
            for x, y in stroke
        ]
        for i, digit in enumerate(text)
        for stroke in DIGIT_STROKES[int(digit)]
    ]


def draw_number(page: Page, text: str, **placement: Any) -> None:
    """Writes a number on the wide pad with the mouse."""
    for points in number_strokes(page, text, **placement):
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point, steps=MOUSE_STEPS)
        page.mouse.up()


def touch_number(page: Page, text: str, **placement: Any) -> None:
    touch_strokes(page, number_strokes(page, text, **placement))


def settle_number(page: Page) -> str:
    """Waits until the reading shown belongs to the number on the pad; its text."""
    expect(page.get_by_test_id("number-results")).to_have_attribute("data-state", "done", timeout=ANSWER_TIMEOUT_MS)
    return page.get_by_test_id("number-text").text_content() or ""
