"""What the browser tests share besides their fixtures: the repository root, and the watch kept on
every page they open."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]


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
