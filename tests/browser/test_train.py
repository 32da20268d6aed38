"""The training lab in headless Chromium: a preset trained to the end and then drawn on, Stop, a run that
diverges, accessibility at desktop and phone sizes, and screenshots of a run and of a comparison."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.browser.accessibility import axe_violations
from tests.browser.drawing import draw_digit, settle
from tests.browser.pages import DESKTOP, PHONE, ROOT, Watch, open_page, wait_for_request

pytestmark = pytest.mark.browser

RUN_TIMEOUT_MS = 180_000  # a preset on a busy two-core machine


def _open_lab(browser: object, server: str, options: dict[str, object]) -> Iterator[tuple[Page, Watch]]:
    yield from open_page(
        browser,
        server,
        options,
        "/train",
        lambda page: expect(page.get_by_test_id("train-status")).to_have_attribute("data-state", "idle"),
    )


@pytest.fixture
def lab_desktop(browser: object, server: str) -> Iterator[tuple[Page, Watch]]:
    yield from _open_lab(browser, server, DESKTOP)


@pytest.fixture
def lab_phone(browser: object, server: str) -> Iterator[tuple[Page, Watch]]:
    yield from _open_lab(browser, server, PHONE)


def status(page: Page):
    return page.get_by_test_id("train-status")


def run_preset(page: Page, preset: str, end: str = "done") -> None:
    page.get_by_test_id("train-preset").select_option(preset)
    page.get_by_test_id("train-start").click()
    expect(status(page)).to_have_attribute("data-state", end, timeout=RUN_TIMEOUT_MS)


def assert_accessible(page: Page) -> None:
    violations = axe_violations(page)
    assert violations == "", violations


def test_a_preset_trains_to_the_end_then_the_pad_draws_with_its_model(lab_desktop):
    page, watch = lab_desktop
    page.get_by_test_id("train-preset").select_option("templates")
    expect(page.locator('[data-role="point"]')).to_contain_text("ten logistic regressions")
    expect(page.locator("#a-architecture")).to_have_value("logreg")
    page.get_by_test_id("train-start").click()
    expect(status(page)).to_have_attribute("data-state", re.compile("queued|running|done"))
    expect(status(page)).to_have_attribute("data-state", "done", timeout=RUN_TIMEOUT_MS)
    expect(status(page)).to_contain_text("of the validation digits read right")
    expect(page.get_by_test_id("train-stop")).to_be_disabled()
    expect(page.get_by_test_id("train-weights").locator("canvas")).to_have_count(10)  # the ten templates
    expect(page.get_by_test_id("train-chart").locator("canvas").first).to_have_attribute(
        "aria-label", re.compile(r"Log-likelihood per step: Run A .* -\d\.\d{3} at step \d+")
    )
    expect(page.locator(".confusion tbody tr")).to_have_count(10)
    assert page.locator(".misread li").count() > 0
    assert any(urlsplit(url).path.endswith("/events") for url in watch.requests)

    link = page.get_by_test_id("train-draw")
    name = parse_qs(urlsplit(link.get_attribute("href") or "").query)["model"][0]
    assert name.startswith("lab-")
    link.click()
    page.wait_for_url(re.compile(r"/\?model=lab-"))
    expect(page.get_by_test_id("model")).to_have_value(name)  # selected although it is no shipped model
    expect(page.get_by_test_id("layer-output")).to_be_visible()
    expect(page.get_by_test_id("layer-conv1")).to_have_count(0)  # softmax regression: input, then output
    sent = len(watch.requests)
    draw_digit(page, 0)
    wait_for_request(page, watch, sent, lambda url: url in watch.predictions() and f"model={name}" in url)
    assert re.fullmatch(r"\d", settle(page))


def test_stop_ends_a_run_and_the_page_says_so(lab_desktop):
    page, _ = lab_desktop
    page.locator("#a-architecture").select_option("mlp")
    page.locator("#a-train_size").fill("20000")
    page.locator("#a-epochs").fill("20")
    page.locator("#a-batch_size").fill("16")
    page.get_by_test_id("train-start").click()
    expect(status(page)).to_have_attribute("data-state", "running", timeout=RUN_TIMEOUT_MS)
    page.get_by_test_id("train-stop").click()
    expect(status(page)).to_have_attribute("data-state", "idle", timeout=30_000)
    expect(status(page)).to_contain_text("Stopped")
    expect(page.get_by_test_id("train-start")).to_be_enabled()


def test_a_learning_rate_too_large_diverges_and_the_page_says_so(lab_desktop):
    page, _ = lab_desktop
    run_preset(page, "learning-rate", end="diverged")
    expect(status(page)).to_contain_text("diverged")
    expect(page.locator(".result.run-b")).to_contain_text("learning rate is too large")
    expect(page.get_by_test_id("train-draw")).to_be_visible()  # run A, at a sane rate, is done and drawable


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_lab_is_accessible_before_and_after_a_run(browser, server, size):
    for page, _ in _open_lab(browser, server, DESKTOP if size == "desktop" else PHONE):
        assert_accessible(page)
        run_preset(page, "templates")  # trained before: a replay
        expect(page.locator("#results")).to_be_visible()
        assert_accessible(page)
        if size == "phone":
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, "the page is wider than the phone"


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    folder = ROOT / os.environ["DIGITPAD_SCREENSHOTS"] if os.environ.get("DIGITPAD_SCREENSHOTS") else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_screenshot_of_a_run_and_of_a_comparison(lab_desktop, screenshots):
    page, _ = lab_desktop
    page.set_viewport_size({"width": 1280, "height": 1100})
    run_preset(page, "templates")
    page.locator("#live-title").evaluate("title => title.scrollIntoView()")  # the charts and weights
    page.screenshot(path=str(screenshots / "train-run.png"))
    page.get_by_test_id("train-preset").select_option("momentum")
    page.get_by_test_id("train-start").click()
    # the status says "done" from the first run until this one starts: the two results mark the end
    expect(page.locator(".result")).to_have_count(2, timeout=RUN_TIMEOUT_MS)
    expect(status(page)).to_have_attribute("data-state", "done")
    page.locator("#live-title").evaluate("title => title.scrollIntoView()")
    page.screenshot(path=str(screenshots / "train-compare.png"))
    assert (screenshots / "train-compare.png").stat().st_size > 0
