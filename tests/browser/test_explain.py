"""Explanations on the page in headless Chromium: the attribution overlay and its target, a unit's top
and optimal stimuli, the unit panel as a bottom sheet on a phone, and screenshots of both."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import save_screenshot
from tests.browser.drawing import draw_digit, touch_digit
from tests.browser.pages import Watch

pytestmark = pytest.mark.browser

ANSWER_TIMEOUT_MS = 15_000


def explained(page: Page) -> None:
    """Waits until the explanation shown belongs to the drawing on the pad."""
    expect(page.get_by_test_id("results")).to_have_attribute("data-state", "done", timeout=ANSWER_TIMEOUT_MS)
    expect(page.get_by_test_id("why")).to_have_attribute("data-state", "done", timeout=ANSWER_TIMEOUT_MS)


def painted_pixels(page: Page, testid: str) -> int:
    """How many pixels of a 28x28 canvas are not transparent."""
    return int(
        page.evaluate(
            """(id) => {
              const canvas = document.querySelector(`[data-testid="${id}"]`);
              const data = canvas.getContext('2d').getImageData(0, 0, 28, 28).data;
              let n = 0;
              for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
              return n;
            }""",
            testid,
        )
    )


def explain_requests(watch: Watch) -> list[str]:
    return [url for url in watch.requests if urlsplit(url).path == "/api/explain"]


def test_drawing_a_digit_shows_why_and_the_target_can_be_switched(desktop: tuple[Page, Watch]) -> None:
    page, watch = desktop
    draw_digit(page, 3)
    explained(page)
    first = page.get_by_test_id("first-guess").text_content()
    second = page.get_by_test_id("second-guess").text_content()
    why = page.get_by_test_id("why")
    assert painted_pixels(page, "why-overlay") > 40  # the 3's ink, coloured over the downsampled drawing
    expect(page.get_by_test_id("why-map")).to_have_attribute("aria-label", re.compile(f"Evidence for the {first}"))
    expect(why).to_contain_text(f"{first}: first guess")
    expect(why).to_contain_text("occlusion")
    # one explanation per settled drawing, for the first and the second guess, never one per mouse move
    (url,) = explain_requests(watch)
    assert parse_qs(urlsplit(url).query)["digits"] == [f"{first},{second}"]

    page.get_by_test_id("why-first").focus()  # the choice works from the keyboard
    page.keyboard.press("ArrowRight")
    expect(page.get_by_test_id("why-second")).to_be_checked()
    expect(why).to_have_attribute("data-target", "second")
    expect(page.get_by_test_id("why-map")).to_have_attribute("aria-label", re.compile(f"Evidence for the {second}"))
    page.keyboard.press("ArrowRight")
    expect(page.get_by_test_id("why-versus")).to_be_checked()
    expect(why.locator('[data-role="summary"]')).to_contain_text(f"{first} rather than {second}")
    expect(why.locator('[data-role="high"]')).to_have_text(f"favours {first}")
    page.get_by_test_id("why-first").click()
    expect(why).to_have_attribute("data-target", "first")

    page.get_by_test_id("clear").click()
    expect(why).to_have_attribute("data-state", "empty")
    assert painted_pixels(page, "why-overlay") == 0


def test_a_new_drawing_gets_a_new_explanation(desktop: tuple[Page, Watch]) -> None:
    page, watch = desktop
    draw_digit(page, 1)
    explained(page)
    page.get_by_test_id("clear").click()
    draw_digit(page, 7)
    explained(page)
    expect(page.get_by_test_id("why-map")).to_have_attribute("aria-label", re.compile("Evidence for the 7"))
    assert len(explain_requests(watch)) == 2


def test_a_unit_shows_its_top_stimuli_and_optimal_stimulus(desktop: tuple[Page, Watch]) -> None:
    page, _ = desktop
    draw_digit(page, 2)
    explained(page)
    detail = page.get_by_test_id("unit-detail")
    stimuli = page.get_by_test_id("unit-stimuli")

    page.get_by_test_id("layer-conv2").locator("canvas").nth(5).hover()
    expect(stimuli).to_have_attribute("data-state", "done", timeout=ANSWER_TIMEOUT_MS)
    expect(page.get_by_test_id("top-stimuli").locator("canvas")).to_have_count(9)
    expect(page.get_by_test_id("top-stimuli").locator(".stimulus-box")).to_have_count(9)  # receptive fields
    expect(page.get_by_test_id("optimal-stimulus").locator("canvas")).to_have_count(1)
    expect(stimuli).to_contain_text("Top stimuli in the test set")
    expect(stimuli).to_contain_text("Optimal stimulus")
    expect(detail.locator('[data-role="weights"] canvas')).to_have_count(16)  # the weights are still there

    page.get_by_test_id("layer-output").locator('[data-unit="3"]').hover()
    expect(stimuli).to_contain_text("The network's ideal 3", timeout=ANSWER_TIMEOUT_MS)
    expect(page.get_by_test_id("top-stimuli").locator("canvas")).to_have_count(9)
    expect(page.get_by_test_id("top-stimuli").locator(".stimulus-box")).to_have_count(0)
    labels = page.get_by_test_id("top-stimuli").locator("canvas").evaluate_all("cs => cs.map(c => c.ariaLabel)")
    assert all(", a 3:" in label for label in labels), labels

    page.get_by_test_id("layer-input").focus()  # a pixel of the input learned nothing: no stimuli
    page.keyboard.press("ArrowRight")
    expect(stimuli).to_be_hidden()


def test_the_unit_sheet_on_a_phone_can_be_closed_and_collapsed_and_never_hides_its_unit(
    phone: tuple[Page, Watch],
) -> None:
    page, _ = phone
    page.get_by_test_id("pad").scroll_into_view_if_needed()
    touch_digit(page, 4)
    explained(page)
    sheet = page.get_by_test_id("unit-detail")
    for layer, index in (("conv2", 20), ("fc", 100), ("pool1", 3)):
        page.get_by_test_id(f"layer-{layer}").locator("canvas").nth(0 if layer == "fc" else index).tap()
        expect(page.get_by_test_id("unit-stimuli")).to_have_attribute("data-state", "done", timeout=ANSWER_TIMEOUT_MS)
        unit = page.get_by_test_id(f"layer-{layer}").locator(".mark.selected").bounding_box()
        box = sheet.bounding_box()
        assert unit is not None and box is not None
        assert box["height"] <= 0.45 * 844, "the sheet covers more than about 40 % of the screen"
        assert unit["y"] >= 0 and unit["y"] + unit["height"] <= box["y"], f"the sheet hides the {layer} unit"

    page.get_by_test_id("unit-collapse").tap()
    expect(page.get_by_test_id("unit-collapse")).to_have_attribute("aria-expanded", "false")
    expect(page.get_by_test_id("unit-stimuli")).to_be_hidden()
    collapsed = sheet.bounding_box()
    assert collapsed is not None and collapsed["height"] < 120
    page.get_by_test_id("unit-collapse").tap()
    expect(page.get_by_test_id("unit-stimuli")).to_be_visible()

    page.get_by_test_id("unit-close").tap()
    expect(sheet).to_be_hidden()
    page.get_by_test_id("layer-conv2").locator("canvas").nth(1).tap()  # choosing a unit opens it again
    expect(sheet).to_be_visible()
    page.keyboard.press("Escape")
    expect(sheet).to_be_hidden()


def test_escape_closes_the_unit_details_on_a_desktop_too(desktop: tuple[Page, Watch]) -> None:
    page, _ = desktop
    page.get_by_test_id("layer-fc").focus()
    page.keyboard.press("ArrowRight")
    detail = page.get_by_test_id("unit-detail")
    expect(detail).to_have_attribute("data-filled", "true")
    page.keyboard.press("Escape")
    expect(detail).to_have_attribute("data-filled", "false")
    expect(page.get_by_test_id("layer-fc")).to_be_focused()  # the keyboard stays where it was
    page.keyboard.press("ArrowRight")
    page.get_by_test_id("unit-close").focus()
    page.keyboard.press("Enter")  # closing from inside the panel moves focus to a place that remains
    expect(detail).to_have_attribute("data-filled", "false")
    expect(page.locator("#network-title")).to_be_focused()


def test_screenshot_explanation_desktop(desktop: tuple[Page, Watch], screenshots: Path) -> None:
    page, _ = desktop
    draw_digit(page, 3)
    explained(page)
    results = page.get_by_test_id("results")
    results.scroll_into_view_if_needed()
    assert save_screenshot(page, screenshots / "explain-desktop.png", results).stat().st_size > 0


def test_screenshot_stimuli_desktop(desktop: tuple[Page, Watch], screenshots: Path) -> None:
    page, _ = desktop
    draw_digit(page, 3)
    explained(page)
    page.get_by_test_id("layer-conv2").locator("canvas").nth(5).hover()
    expect(page.get_by_test_id("unit-stimuli")).to_have_attribute("data-state", "done", timeout=ANSWER_TIMEOUT_MS)
    assert save_screenshot(page, screenshots / "stimuli-desktop.png").stat().st_size > 0


def test_screenshot_stimuli_phone(phone: tuple[Page, Watch], screenshots: Path) -> None:
    page, _ = phone
    page.get_by_test_id("pad").scroll_into_view_if_needed()
    touch_digit(page, 5)
    explained(page)
    page.get_by_test_id("layer-output").locator('[data-unit="5"]').tap()
    expect(page.get_by_test_id("unit-stimuli")).to_contain_text("ideal 5", timeout=ANSWER_TIMEOUT_MS)
    page.get_by_test_id("unit-stimuli").scroll_into_view_if_needed()
    assert save_screenshot(page, screenshots / "stimuli-phone.png").stat().st_size > 0
