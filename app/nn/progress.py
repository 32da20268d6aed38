"""A small progress bar on stderr: redrawn in place on a terminal, a few lines in a log."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int | None, label: str, unit: str = "", width: int = 28) -> None:
        self.total, self.label, self.unit, self.width = total, label, unit, width
        self.done = 0
        self.status = ""
        self.start = self.last = time.monotonic()
        self.tty = sys.stderr.isatty()

    def advance(self, n: int = 1, status: str | None = None) -> None:
        self.done += n
        if status is not None:
            self.status = status
        now = time.monotonic()
        # a terminal gets ten redraws a second; a log file a line every ten seconds
        if now - self.last >= (0.1 if self.tty else 10.0):
            self.last = now
            self._draw(end="" if self.tty else "\n")

    def close(self, status: str | None = None) -> None:
        if status is not None:
            self.status = status
        self._draw(end="\n")

    def _draw(self, end: str) -> None:
        elapsed = time.monotonic() - self.start
        if self.total:
            filled = int(self.width * min(self.done / self.total, 1.0))
            counts = f"{_count(self.done, self.unit)}/{_count(self.total, self.unit)}"
            bar = f"[{'#' * filled}{'.' * (self.width - filled)}] {counts}"
        else:
            bar = _count(self.done, self.unit)
        line = f"{self.label} {bar} {elapsed:5.0f}s {self.status}".rstrip()
        sys.stderr.write(("\r\x1b[K" if self.tty else "") + line + end)
        sys.stderr.flush()


def _count(n: int, unit: str) -> str:
    if unit == "B":
        return f"{n / 1e6:.1f} MB"
    return str(n)
