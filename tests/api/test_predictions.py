"""Turns at the inference threads: a request whose client has gone by its turn is dropped, not run."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.api.predictions import ClientGone, _in_turn
from app.api.registry import ModelRegistry


class FakeRequest:
    def __init__(self, gone: bool) -> None:
        self.gone = gone

    async def is_disconnected(self) -> bool:
        return self.gone


@pytest.fixture(autouse=True)
def ask_every_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests here wait microseconds for their turn: ask them all whether their client is there."""
    monkeypatch.setattr("app.api.predictions.ASK_AFTER_S", -1.0)


def run_in_turns(requests: list[FakeRequest]) -> tuple[list[Any], list[int]]:
    """Send one piece of work per request at once; the answers (or exceptions) and the order work ran in."""
    registry = ModelRegistry("cnn")
    ran: list[int] = []

    def work(i: int) -> bytes:
        ran.append(i)
        return f"answer {i}".encode()

    async def main() -> list[Any]:
        return await asyncio.gather(*(_in_turn(registry, request, work, i)  # type: ignore[arg-type]
                                      for i, request in enumerate(requests)), return_exceptions=True)

    return asyncio.run(main()), ran


def test_work_runs_in_arrival_order_for_clients_still_there():
    answers, ran = run_in_turns([FakeRequest(gone=False) for _ in range(20)])
    assert answers == [f"answer {i}".encode() for i in range(20)]
    assert ran == list(range(20))


def test_work_for_a_client_that_left_is_never_run():
    answers, ran = run_in_turns([FakeRequest(gone=False), FakeRequest(gone=True), FakeRequest(gone=False)])
    assert answers[0] == b"answer 0" and answers[2] == b"answer 2"
    assert isinstance(answers[1], ClientGone)
    assert ran == [0, 2]


def test_a_request_served_at_once_is_not_asked(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("app.api.predictions.ASK_AFTER_S", 60.0)
    answers, ran = run_in_turns([FakeRequest(gone=True)])
    assert answers == [b"answer 0"] and ran == [0]


def test_an_unknown_exception_still_propagates():
    with pytest.raises(ZeroDivisionError):
        asyncio.run(_in_turn(ModelRegistry("cnn"), FakeRequest(gone=False), lambda: 1 // 0))  # type: ignore[arg-type]
