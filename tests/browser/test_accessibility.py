"""The drawing page has no axe-core violation (WCAG 2.1 A and AA, and best practice) on a desktop or a
phone, empty and with a digit read, the network view filled, its explanation shown and a unit selected
with what it learned."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.accessibility import axe_violations
from tests.browser.drawing import draw_digit, settle, touch_digit
from tests.browser.pages import Watch

pytestmark = pytest.mark.browser

SCREENS = ["desktop", "phone"]


@pytest.fixture(params=SCREENS)
def screen(request: pytest.FixtureRequest) -> tuple[str, Page]:
    """The drawing page on each screen size in turn (the `desktop` and `phone` fixtures)."""
    page, _ = request.getfixturevalue(request.param)  # tuple[Page, Watch]
    return request.param, page


def test_the_empty_page_has_no_violation(screen: tuple[str, Page]) -> None:
    _, page = screen
    expect(page.get_by_test_id("results")).to_have_attribute("data-state", "empty")
    assert axe_violations(page) == ""


def test_the_page_with_a_digit_read_and_a_unit_selected_has_no_violation(screen: tuple[str, Page]) -> None:
    name, page = screen
    page.get_by_test_id("pad").scroll_into_view_if_needed()
    if name == "phone":
        touch_digit(page, 3)
    else:
        draw_digit(page, 3)
    assert settle(page) == "3"
    unit = page.get_by_test_id("layer-output").locator('[data-unit="3"]')
    if name == "phone":
        unit.tap()
    else:
        unit.hover()
    detail = page.get_by_test_id("unit-detail")
    expect(detail).to_contain_text("digit 3")
    expect(detail.locator('[data-role="weights"] canvas')).to_have_count(1)  # the weights have arrived
    expect(page.get_by_test_id("layer-fc").locator(".mark.positive, .mark.negative")).to_have_count(8)
    expect(page.get_by_test_id("why")).to_have_attribute("data-state", "done")
    expect(page.get_by_test_id("unit-stimuli")).to_have_attribute("data-state", "done")
    assert axe_violations(page) == ""


def test_the_explanations_and_the_unit_sheet_have_no_violation(screen: tuple[str, Page]) -> None:
    """The "first rather than second" map, a feature map's stimuli with their receptive fields, and on a
    phone the collapsed sheet."""
    name, page = screen
    page.get_by_test_id("pad").scroll_into_view_if_needed()
    if name == "phone":
        touch_digit(page, 8)
    else:
        draw_digit(page, 8)
    settle(page)
    expect(page.get_by_test_id("why")).to_have_attribute("data-state", "done")
    page.get_by_test_id("why-versus").check()
    unit = page.get_by_test_id("layer-conv2").locator("canvas").nth(4)
    if name == "phone":
        unit.tap()
    else:
        unit.hover()
    expect(page.get_by_test_id("top-stimuli").locator(".stimulus-box")).to_have_count(9)
    assert axe_violations(page) == ""
    if name == "phone":
        page.get_by_test_id("unit-collapse").tap()
        expect(page.get_by_test_id("unit-stimuli")).to_be_hidden()
        assert axe_violations(page) == ""


def test_a_violation_is_reported(desktop: tuple[Page, Watch]) -> None:
    """The check itself: an image without a text alternative is a WCAG 2.1 A violation axe must name."""
    page, _ = desktop
    page.evaluate("document.querySelector('main').append(document.createElement('img'))")
    assert "image-alt" in axe_violations(page)
