"""The drawing page in headless Chromium: drawing, live guessing, tools, the network view, the model
switch, the page's weight, and screenshots at desktop and phone sizes."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from app.nn.preprocess import MIN_EXTENT, preprocess
from app.nn.strokes import PEN_WIDTH
from app.web.decoding import decode_image
from tests.browser.conftest import save_screenshot
from tests.browser.drawing import (
    RECORD_UPLOADS,
    draw_digit,
    draw_strokes,
    pad_points,
    settle,
    touch_digit,
    uploads,
)
from tests.browser.pages import DESKTOP, ROOT, Watch, wait_for_request
from tests.factories import DIGIT_STROKES, agreement

pytestmark = pytest.mark.browser

CNN_LAYERS = ["input", "conv1", "pool1", "conv2", "pool2", "fc", "output"]
PAGE_WEIGHT_LIMIT = 150_000


def results(page: Page):
    return page.get_by_test_id("results")


def expect_blank(page: Page) -> None:
    expect(results(page)).to_have_attribute("data-state", "empty")
    expect(page.get_by_test_id("first-guess")).to_have_text("")
    expect(page.get_by_test_id("second-guess")).to_have_text("")


def test_digits_drawn_with_the_mouse_are_read(desktop: tuple[Page, Watch]) -> None:
    page, watch = desktop
    misread = {}
    drawing_s = 0.0
    for digit in DIGIT_STROKES:
        page.get_by_test_id("clear").click()
        expect_blank(page)
        started = time.monotonic()
        draw_digit(page, digit)
        drawing_s += time.monotonic() - started
        guess = settle(page)
        if guess != str(digit):
            misread[digit] = guess
    assert misread == {}, f"digits read wrongly (drawn: read): {misread}"
    second = page.get_by_test_id("second-guess").text_content()
    assert second and second != page.get_by_test_id("first-guess").text_content()
    assert all(
        float(page.get_by_test_id(f"prob-{d}").get_attribute("data-probability") or "nan") >= 0 for d in range(10)
    )
    # Throttled to one guess per 200 ms while drawing, plus one at each pen-up, however long a busy machine
    # takes to draw: not one per mouse move.
    pen_ups = sum(len(strokes) for strokes in DIGIT_STROKES.values())
    assert len(watch.predictions()) <= drawing_s / 0.2 + pen_ups + len(DIGIT_STROKES)


def test_a_small_off_centre_digit_is_read(desktop: tuple[Page, Watch]) -> None:
    page, _ = desktop
    draw_digit(page, 7, scale=0.45, offset=(0.2, 0.18))
    assert settle(page) == "7"
    expect(results(page).locator('[aria-live="polite"]')).to_contain_text("First guess 7")
    page.get_by_test_id("clear").click()
    draw_digit(page, 3, scale=0.55, offset=(-0.18, -0.2))
    assert settle(page) == "3"


def test_touch_draws_and_the_page_does_not_scroll(phone: tuple[Page, Watch]) -> None:
    page, _ = phone
    page.get_by_test_id("pad").scroll_into_view_if_needed()
    before = page.evaluate("window.scrollY")
    touch_digit(page, 4)
    assert settle(page) == "4"
    assert page.evaluate("window.scrollY") == before
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "the page is wider than the phone"


def test_a_stroke_keeps_to_the_pointer_when_the_page_scrolls_under_it(desktop: tuple[Page, Watch]) -> None:
    """The pad's place on screen is taken once a stroke, and again once the page scrolls mid-stroke."""
    page, _ = desktop
    page.evaluate("window.scrollTo(0, 0)")
    page.mouse.move(*pad_points(page, [(0.3, 0.3)])[0])
    page.mouse.down()
    page.mouse.move(*pad_points(page, [(0.35, 0.35)])[0])
    page.mouse.wheel(0, 120)
    page.wait_for_function("() => window.scrollY > 0", polling=50)
    page.wait_for_timeout(200)  # the scroll at rest
    page.mouse.move(*pad_points(page, [(0.7, 0.6)])[0], steps=4)
    page.mouse.up()
    settle(page)
    ink = page.evaluate(
        """() => {
          const pad = document.querySelector('[data-testid="pad"]');
          const alpha = (x, y) => pad.getContext('2d').getImageData(
            Math.round(x * pad.width), Math.round(y * pad.height), 1, 1).data[3];
          const drift = window.scrollY / pad.getBoundingClientRect().height; // where a stale place puts the pen
          return { end: alpha(0.7, 0.6), drifted: alpha(0.7, 0.6 + drift) };
        }"""
    )
    assert ink["end"] > 0, "no ink under the pointer where the stroke ended"
    assert ink["drifted"] == 0, "the stroke went where the pad was before the page scrolled"


def test_a_blank_pad_shows_no_guess_and_sends_nothing(desktop: tuple[Page, Watch]) -> None:
    page, watch = desktop
    expect_blank(page)
    expect(results(page).locator('[data-role="status"]')).to_have_text("Draw a digit")
    box = page.get_by_test_id("pad").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # a dot is not a digit
    page.get_by_test_id("clear").click()
    page.keyboard.press("c")
    page.wait_for_timeout(600)
    expect_blank(page)
    assert watch.predictions() == []


def test_the_page_sends_the_least_ink_the_server_reads(desktop: tuple[Page, Watch]) -> None:
    """The page and the server agree on a speck: a dot is one (and is not sent), a stroke spanning a
    little more than the server's least extent is read."""
    page, watch = desktop
    assert PEN_WIDTH < MIN_EXTENT, "a dot of the pen must be a speck for this test"
    length = MIN_EXTENT + 0.01 - PEN_WIDTH  # the round pen adds its width to a stroke's extent
    draw_strokes(page, [[(0.5 - length / 2, 0.5), (0.5 + length / 2, 0.5)]])
    assert re.fullmatch(r"\d", settle(page))
    assert watch.predictions(), "the page kept a drawing to itself that the server reads"


def test_eraser_undo_and_clear(desktop: tuple[Page, Watch]) -> None:
    page, watch = desktop
    draw_digit(page, 1)
    assert settle(page) == "1"

    page.get_by_test_id("eraser").click()
    expect(page.get_by_test_id("eraser")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("pencil")).to_have_attribute("aria-pressed", "false")
    sent = len(watch.predictions())
    draw_strokes(page, DIGIT_STROKES[1])  # rubbing out the whole stroke leaves no ink at all
    expect_blank(page)

    page.get_by_test_id("undo").click()  # the ink comes back
    assert settle(page) == "1"
    assert len(watch.predictions()) > sent

    page.keyboard.press("p")
    expect(page.get_by_test_id("pencil")).to_have_attribute("aria-pressed", "true")
    page.get_by_test_id("clear").click()
    expect_blank(page)
    page.keyboard.press("Control+z")  # clearing can be undone too
    assert settle(page) == "1"
    page.keyboard.press("Delete")
    expect_blank(page)


def test_layer_toggles_hide_and_show_panels(desktop: tuple[Page, Watch]) -> None:
    page, _ = desktop
    for name in CNN_LAYERS:
        toggle, panel = page.get_by_test_id(f"toggle-{name}"), page.get_by_test_id(f"layer-{name}")
        expect(panel).to_be_visible()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        toggle.click()
        expect(panel).to_be_hidden()
        expect(toggle).to_have_attribute("aria-expanded", "false")
        toggle.press("Enter")  # a toggle works from the keyboard as well
        expect(panel).to_be_visible()
        expect(toggle).to_have_attribute("aria-expanded", "true")


def test_hovering_a_unit_shows_what_feeds_it(desktop: tuple[Page, Watch]) -> None:
    page, _ = desktop
    draw_digit(page, 2)
    settle(page)
    detail = page.get_by_test_id("unit-detail")

    page.get_by_test_id("layer-conv1").locator("canvas").nth(3).hover()
    expect(detail).to_contain_text("Convolution 1")
    expect(detail.locator('[data-role="bias"]')).not_to_have_text("–")
    expect(detail.locator('[data-role="value"]')).to_have_text(re.compile(r"^-?\d+\.\d{3}$"))
    expect(detail.locator('[data-role="weights"] canvas')).to_have_count(1)  # one 5x5 kernel on the input
    expect(page.get_by_test_id("layer-input").locator(".mark.field")).to_have_count(1)

    page.get_by_test_id("layer-pool1").locator("canvas").first.hover()
    expect(detail).to_contain_text("2×2")
    expect(page.get_by_test_id("layer-conv1").locator(".mark.field")).to_have_count(1)

    page.get_by_test_id("layer-conv2").locator("canvas").first.hover()
    expect(detail.locator('[data-role="weights"] canvas')).to_have_count(16)  # a kernel per map below

    page.get_by_test_id("layer-output").locator('[data-unit="2"]').hover()
    expect(detail).to_contain_text("digit 2")
    expect(detail.locator('[data-role="weights"] canvas')).to_have_count(1)
    expect(page.get_by_test_id("layer-fc").locator(".mark.positive, .mark.negative")).to_have_count(8)

    page.get_by_test_id("layer-pool2").focus()  # units can be reached without a pointer too
    page.keyboard.press("ArrowRight")
    expect(detail).to_contain_text("Downsampling 2: map 1, row 1, column 1")
    page.keyboard.press("ArrowRight")
    expect(detail).to_contain_text("map 1, row 1, column 2")


def _probabilities(page: Page) -> list[str]:
    return [page.get_by_test_id(f"prob-{d}").get_attribute("data-probability") or "" for d in range(10)]


def test_the_model_switch_predicts_again(desktop: tuple[Page, Watch]) -> None:
    page, watch = desktop
    draw_digit(page, 7)
    assert settle(page) == "7"
    shown = _probabilities(page)
    sent = len(watch.requests)
    page.get_by_test_id("model").select_option("mlp")
    wait_for_request(page, watch, sent, lambda url: url in watch.predictions() and "model=mlp" in url)
    expect(page.get_by_test_id("layer-hidden")).to_be_visible()
    expect(page.get_by_test_id("layer-conv1")).to_have_count(0)
    assert settle(page) == "7"
    assert _probabilities(page) != shown, "the results still show the convolutional network's answer"

    shown = _probabilities(page)
    page.get_by_test_id("model").select_option("logreg")
    assert re.fullmatch(r"\d", settle(page))
    assert _probabilities(page) != shown
    expect(page.get_by_test_id("layer-hidden")).to_have_count(0)
    assert any("model=logreg" in url for url in watch.predictions())


def test_the_page_posts_its_ink_like_the_committed_upload(desktop: tuple[Page, Watch]) -> None:
    """The server reads the page's grey + alpha PNG by its alpha, and the API tests and the HTTP
    benchmark post tests/data/ink-7.png as the page's upload: both rest on what the page sends."""
    page, _ = desktop
    page.add_init_script(RECORD_UPLOADS)
    page.reload()
    draw_digit(page, 7)
    assert settle(page) == "7"
    image = Image.open(io.BytesIO(uploads(page)[-1]))
    assert (image.format, image.mode, image.size) == ("PNG", "LA", (280, 280))
    pixels = np.asarray(image)
    assert (pixels[[0, 0, -1, -1], [0, -1, 0, -1], 1] == 0).all()  # transparent where nothing is drawn
    committed = decode_image((ROOT / "tests" / "data" / "ink-7.png").read_bytes())
    assert agreement(preprocess(pixels).bits, preprocess(committed).bits) >= 0.95


def test_the_page_is_light(browser: Browser, server: str) -> None:
    """The HTML, CSS and JavaScript a first visit loads, uncompressed, stay under PAGE_WEIGHT_LIMIT bytes."""
    context = browser.new_context(**DESKTOP)
    try:
        page = context.new_page()
        loaded = []
        page.on("response", lambda response: loaded.append(response))
        page.goto(server + "/")
        page.wait_for_selector('[data-testid="layer-input"]')
        sizes = {
            r.url: len(r.body()) for r in loaded if r.request.resource_type in ("document", "stylesheet", "script")
        }
    finally:
        context.close()
    assert sum(url.endswith(".js") for url in sizes) >= 5, f"the page's modules were not all seen: {sorted(sizes)}"
    assert sum(sizes.values()) < PAGE_WEIGHT_LIMIT, f"{sum(sizes.values())} bytes: {sizes}"


def test_screenshot_desktop(desktop: tuple[Page, Watch], screenshots: Path) -> None:
    page, _ = desktop
    draw_digit(page, 3)
    assert settle(page) == "3"
    page.get_by_test_id("layer-output").locator('[data-unit="3"]').hover()
    expect(page.get_by_test_id("unit-detail").locator('[data-role="bias"]')).not_to_have_text("–")
    page.evaluate("window.scrollTo(0, 0)")
    assert save_screenshot(page, screenshots / "desktop.png").stat().st_size > 0


def test_screenshot_phone(phone: tuple[Page, Watch], screenshots: Path) -> None:
    page, _ = phone
    page.get_by_test_id("pad").scroll_into_view_if_needed()
    touch_digit(page, 5)
    assert settle(page) == "5"
    page.evaluate("window.scrollTo(0, 0)")
    assert save_screenshot(page, screenshots / "phone.png").stat().st_size > 0
