"""What the browser tests (and the canvas benchmark) share besides fixtures: the repository root, the
browser and the screens they open the page on, and the watch kept on every page."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("DIGITPAD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True}


@dataclass
class Watch:
    """What a page did that a test may assert on: console errors, and every request it made."""

    base: str
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def predictions(self) -> list[str]:
        """Every drawing the page asked the API to guess: POSTed, or sent on the live socket (its URL)."""
        return self.drawings_to("/api/predict")

    def drawings_to(self, route: str) -> list[str]:
        """The URLs of the requests to `route` and of the live socket's messages (`route` + `/live`)."""
        return [url for url in self.requests if urlsplit(url).path in (route, route + "/live")]

    def foreign(self) -> list[str]:
        host = urlsplit(self.base).netloc
        return [
            url
            for url in self.requests
            if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).netloc != host
        ]


def open_page(
    browser: Any, server: str, options: dict[str, object], path: str, ready: Callable[[Any], object]
) -> Iterator[tuple[Any, Watch]]:
    """A fresh context on `server + path` with `options`, watched, once `ready(page)` holds; for a fixture
    to yield from. Afterwards the page must have logged no console error and asked no other host."""
    context = browser.new_context(**options)
    page = context.new_page()
    watch = Watch(server)
    page.on("console", lambda message: message.type == "error" and watch.errors.append(message.text))
    page.on("pageerror", lambda error: watch.errors.append(str(error)))
    page.on("request", lambda request: watch.requests.append(request.url))
    page.on("websocket", lambda socket: _watch_socket(socket, watch))
    page.goto(server + path)
    ready(page)
    yield page, watch
    context.close()
    assert watch.errors == [], f"console errors: {watch.errors}"
    assert watch.foreign() == [], f"requests to other hosts: {watch.foreign()}"


def _watch_socket(socket: Any, watch: Watch) -> None:
    """Each message the page sends on a socket counts as a request to its URL."""
    socket.on("framesent", lambda _payload: watch.requests.append(socket.url))


def wait_for_request(
    page: Any, watch: Watch, since: int, matches: Callable[[str], bool], timeout_ms: int = 15_000
) -> str:
    """Waits, polling on a timer, for a request or live socket message whose URL `matches`, among those
    made after the first `since`; that URL."""
    seen = since
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        found = next((url for url in watch.requests[seen:] if matches(url)), None)
        if found is not None:
            return found
        assert time.monotonic() < deadline, f"no such request within {timeout_ms} ms: {watch.requests[seen:]}"
        page.wait_for_timeout(20)
