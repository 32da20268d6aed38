"""The drawing page has no axe-core violation (WCAG 2.1 A and AA, and best practice) on a desktop or a
phone, empty and with a digit read, the network view filled and a unit selected."""

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
    assert axe_violations(page) == ""


def test_a_violation_is_reported(desktop: tuple[Page, Watch]) -> None:
    """The check itself: an image without a text alternative is a WCAG 2.1 A violation axe must name."""
    page, _ = desktop
    page.evaluate("document.querySelector('main').append(document.createElement('img'))")
    assert "image-alt" in axe_violations(page)
