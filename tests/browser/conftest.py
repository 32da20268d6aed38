"""A live DigitPad server with the shipped models, and headless Chromium pages that fail a test on any
console error or any request to another host."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import servers
from tests.browser.pages import CHROMIUM, CHROMIUM_ARGS, DESKTOP, PHONE, ROOT, Watch


def _unavailable(reason: str) -> None:
    """Under CI the browser tests must run; elsewhere a machine without Chromium skips them."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}, and under CI=true the browser tests must run (apt-get install -y chromium)")
    pytest.skip(f"{reason}: browser tests skipped")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = shutil.which(CHROMIUM)
    if path is None:
        _unavailable(f"Chromium not found at {CHROMIUM}")
    return str(path)


@pytest.fixture(scope="session")
def server(chromium_path: str) -> Iterator[str]:
    """`python -m app serve` on a free port, ready once its models are loaded."""
    try:
        live = servers.start()
    except servers.ServerDidNotStart as exc:
        pytest.fail(str(exc))
    try:
        yield live.url
    finally:
        servers.stop(live, timeout=15)


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[object]:
    """Headless Chromium, for one test module at a time: Playwright's sync API keeps an asyncio loop
    running while it is open, and later tests that call asyncio.run would find it."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def _open(browser: object, server: str, options: dict[str, object]) -> Iterator[tuple[object, Watch]]:
    context = browser.new_context(**options)  # type: ignore[attr-defined]
    page = context.new_page()
    watch = Watch(server)
    page.on("console", lambda message: message.type == "error" and watch.errors.append(message.text))
    page.on("pageerror", lambda error: watch.errors.append(str(error)))
    page.on("request", lambda request: watch.requests.append(request.url))
    page.goto(server + "/")
    page.wait_for_selector('[data-testid="layer-input"]')
    yield page, watch
    context.close()
    assert watch.errors == [], f"console errors: {watch.errors}"
    assert watch.foreign() == [], f"requests to other hosts: {watch.foreign()}"


@pytest.fixture
def desktop(browser: object, server: str) -> Iterator[tuple[object, Watch]]:
    """A 1280x900 page on the drawing page."""
    yield from _open(browser, server, DESKTOP)


@pytest.fixture
def phone(browser: object, server: str) -> Iterator[tuple[object, Watch]]:
    """A 390x844 touch screen at 3 device pixels per CSS pixel."""
    yield from _open(browser, server, PHONE)


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where screenshots go: the test's own folder, or DIGITPAD_SCREENSHOTS (docs/screenshots to
    refresh the README's pictures), so a test run leaves the working tree alone."""
    folder = ROOT / os.environ["DIGITPAD_SCREENSHOTS"] if os.environ.get("DIGITPAD_SCREENSHOTS") else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_screenshot(page: object, path: Path, element: object | None = None) -> Path:
    """The visible part of the page (or one element) as a PNG at `path`."""
    (element or page).screenshot(path=str(path))  # type: ignore[attr-defined]
    return path
