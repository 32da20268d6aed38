"""Number mode in headless Chromium: a number written with the mouse is read digit by digit, each digit
boxed on the pad and chosen to show its input and its network view; each mode keeps its own drawing;
no axe-core violation on a desktop or a phone; and the README's screenshot."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.accessibility import axe_violations
from tests.browser.drawing import draw_digit, draw_number, settle, settle_number, touch_number
from tests.browser.pages import Watch

pytestmark = pytest.mark.browser


def number_mode(page: Page) -> None:
    page.get_by_test_id("mode-number").click()
    expect(page.get_by_test_id("mode-number")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("number-pad")).to_be_visible()
    expect(page.get_by_test_id("pad")).to_be_hidden()


def reads(watch: Watch) -> list[str]:
    return watch.drawings_to("/api/read")


def test_a_number_written_with_the_mouse_is_read(desktop: tuple[Page, Watch]) -> None:
    page, watch = desktop
    number_mode(page)
    expect(page.get_by_test_id("number-results")).to_have_attribute("data-state", "empty")
    draw_number(page, "2026")
    assert settle_number(page) == "2026"
    assert reads(watch) and all("activations=true" in url for url in reads(watch))
    for i, digit in enumerate("2026"):
        expect(page.get_by_test_id(f"number-digit-{i}")).to_contain_text(digit)
    expect(page.get_by_test_id("number-digit-4")).to_have_count(0)
    boxes = page.locator(".digit-box")
    expect(boxes).to_have_count(4)
    # Each box sits over its digit's ink, left to right, with its guess above it.
    pad = page.get_by_test_id("number-pad").bounding_box()
    assert pad is not None
    lefts = []
    for i, digit in enumerate("2026"):
        box = boxes.nth(i).bounding_box()
        assert box is not None
        assert pad["x"] <= box["x"] and box["x"] + box["width"] <= pad["x"] + pad["width"] + 1
        assert box["height"] > 0.4 * pad["height"]
        expect(boxes.nth(i)).to_have_text(digit)
        lefts.append(box["x"])
    assert lefts == sorted(lefts)

    # The first digit is chosen; choosing another shows its input, its guesses and its network view.
    expect(page.get_by_test_id("number-digit-0")).to_have_attribute("aria-pressed", "true")
    first_input = page.get_by_test_id("number-downsampled").evaluate("c => c.toDataURL()")
    page.get_by_test_id("number-digit-3").click()
    expect(page.get_by_test_id("number-digit-3")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("number-digit-0")).to_have_attribute("aria-pressed", "false")
    expect(page.get_by_test_id("number-results")).to_contain_text("Digit 4, downsampled")
    assert page.get_by_test_id("number-downsampled").evaluate("c => c.toDataURL()") != first_input
    six = page.get_by_test_id("layer-output").locator('[data-unit="6"]')
    six.hover()
    expect(page.get_by_test_id("unit-detail")).to_contain_text("digit 6")

    # Clear empties the number pad and its reading.
    page.get_by_test_id("clear").click()
    expect(page.get_by_test_id("number-results")).to_have_attribute("data-state", "empty")
    expect(page.get_by_test_id("number-text")).to_have_text("")
    expect(page.locator(".digit-box")).to_have_count(0)


def test_each_mode_keeps_its_own_drawing(desktop: tuple[Page, Watch]) -> None:
    page, _ = desktop
    draw_digit(page, 7)
    assert settle(page) == "7"
    number_mode(page)
    draw_number(page, "41")
    assert settle_number(page) == "41"
    page.get_by_test_id("mode-digit").click()
    expect(page.get_by_test_id("pad")).to_be_visible()
    assert settle(page) == "7"
    page.get_by_test_id("model").select_option("mlp")
    page.get_by_test_id("mode-number").click()
    assert settle_number(page) == "41"
    page.keyboard.press("Control+Z")  # undo acts on the pad in view: the 1 goes
    assert settle_number(page) == "4"


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_number_mode_has_no_violation(screen: str, request: pytest.FixtureRequest) -> None:
    page, _ = request.getfixturevalue(screen)
    number_mode(page)
    assert axe_violations(page) == ""
    page.get_by_test_id("number-pad").scroll_into_view_if_needed()
    if screen == "phone":
        pad = page.get_by_test_id("number-pad").bounding_box()
        assert pad is not None and pad["width"] >= 0.8 * page.viewport_size["width"]  # the full width
        touch_number(page, "358")
    else:
        draw_number(page, "358")
    assert settle_number(page) == "358"
    page.get_by_test_id("number-digit-1").click()
    assert axe_violations(page) == ""


def test_screenshot_number(desktop: tuple[Page, Watch], screenshots: Path) -> None:
    page, _ = desktop
    number_mode(page)
    draw_number(page, "2026")
    assert settle_number(page) == "2026"
    page.get_by_test_id("number-digit-2").click()
    page.evaluate("window.scrollTo(0, 0)")
    path = screenshots / "number.png"
    page.screenshot(path=str(path), full_page=False)
    assert path.stat().st_size > 0
