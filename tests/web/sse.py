"""Reading Server-Sent Events as a test client sees them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SSE:
    id: int | None
    event: str
    data: Any


def parse(lines: Iterable[str]) -> list[SSE]:
    """The events of an event stream, line by line (comments and `retry` skipped)."""
    events: list[SSE] = []
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "data" in fields:
                event_id = fields.get("id")
                events.append(
                    SSE(int(event_id) if event_id else None, fields.get("event", "message"), json.loads(fields["data"]))
                )
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
    return events
