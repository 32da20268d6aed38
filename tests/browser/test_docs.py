"""/docs in headless Chromium: Swagger UI renders the OpenAPI 3.1 document from the app's own assets,
answers a request from its "Try it out" form, and passes axe-core's rules (tests/browser/accessibility.py)
along the way, with no console error and no request to another host."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.accessibility import axe_violations
from tests.browser.pages import DESKTOP, PHONE, Watch

pytestmark = pytest.mark.browser

PREDICT = "#operations-predict-predict_api_predict_post"
RENDER_TIMEOUT_MS = 15_000


def open_docs(browser: object, server: str, options: dict[str, object]) -> Iterator[tuple[Page, Watch]]:
    context = browser.new_context(**options)  # type: ignore[attr-defined]
    page = context.new_page()
    watch = Watch(server)
    page.on("console", lambda message: message.type == "error" and watch.errors.append(message.text))
    page.on("pageerror", lambda error: watch.errors.append(str(error)))
    page.on("request", lambda request: watch.requests.append(request.url))
    page.goto(server + "/docs")
    expect(page.locator(PREDICT)).to_be_visible(timeout=RENDER_TIMEOUT_MS)
    yield page, watch
    context.close()
    assert watch.errors == [], f"console errors: {watch.errors}"
    assert watch.foreign() == [], f"requests to other hosts: {watch.foreign()}"


@pytest.fixture
def docs(browser: object, server: str) -> Iterator[tuple[Page, Watch]]:
    yield from open_docs(browser, server, DESKTOP)


@pytest.fixture
def docs_phone(browser: object, server: str) -> Iterator[tuple[Page, Watch]]:
    yield from open_docs(browser, server, PHONE)


def operation(page: Page, method: str, path: str) -> Locator:
    return (
        page.locator(".opblock")
        .filter(
            has=page.locator(f'.opblock-summary-method:text-is("{method}")'),
        )
        .filter(has=page.locator(f'.opblock-summary-path[data-path="{path}"]'))
    )


def test_every_operation_of_the_3_1_document_renders(docs: tuple[Page, Watch]) -> None:
    page, watch = docs
    spec = page.request.get(watch.base + "/openapi.json").json()
    assert spec["openapi"].startswith("3.1.")
    expect(page.locator(".info .version-stamp")).to_have_text("OAS 3.1")
    for path, methods in spec["paths"].items():
        for method in methods:
            expect(operation(page, method.upper(), path)).to_have_count(1)
    assert page.locator(".opblock").count() == sum(len(methods) for methods in spec["paths"].values())
    # Swagger UI read the document the app serves, and its assets came from the app too.
    assert watch.base + "/openapi.json" in watch.requests
    assert any(url.startswith(watch.base + "/docs/assets/swagger-ui/") for url in watch.requests)
    assert axe_violations(page) == ""


def test_try_it_out_sends_the_example_and_shows_the_guess(docs: tuple[Page, Watch]) -> None:
    page, _ = docs
    predict = operation(page, "POST", "/api/predict")
    predict.locator(".opblock-summary-control").click()
    expect(predict.locator(".parameters-col_name", has_text="top_k")).to_be_visible()
    predict.get_by_role("button", name="Try it out").click()
    content_type = predict.get_by_label("Request content type")
    content_type.select_option("application/json")
    expect(predict.get_by_label("Request body", exact=True)).to_have_value(
        re.compile(r'"image": "data:image/png;base64,')
    )
    predict.get_by_role("button", name="Execute").click()
    response = predict.locator(".live-responses-table .response")
    expect(response.locator(".response-col_status")).to_have_text("200", timeout=RENDER_TIMEOUT_MS)
    expect(response.locator(".response-col_description")).to_contain_text('"prediction": 7')
    assert axe_violations(page) == ""
    for kind in ("image/png", "multipart/form-data"):
        content_type.select_option(kind)  # each body form renders controls of its own
        expect(predict.locator(".opblock-section-request-body input[type=file]")).to_have_count(1)
        assert axe_violations(page) == "", kind


def test_every_operation_opened_on_a_phone(docs_phone: tuple[Page, Watch]) -> None:
    page, _ = docs_phone
    for summary in page.locator(".opblock-summary-control").all():
        summary.click()
    expect(page.locator(".opblock.is-open")).to_have_count(page.locator(".opblock").count())
    expect(page.locator(".opblock-section-request-body").first).to_be_visible()
    assert axe_violations(page) == ""
