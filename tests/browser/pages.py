"""What the browser tests (and the canvas benchmark) share besides fixtures: the repository root, the
browser and the screens they open the page on, and the watch kept on every page."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
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
        return [url for url in self.requests if urlsplit(url).path == "/api/predict"]

    def foreign(self) -> list[str]:
        host = urlsplit(self.base).netloc
        return [
            url
            for url in self.requests
            if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).netloc != host
        ]
