"""Turns at the inference threads: a request whose client has gone by its turn is dropped, not run,
and a big batch takes many turns, letting other requests in between."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from app.web import predictions
from app.web.predictions import BATCH_TURN, ClientGone, InferenceTurns, answer_batch, answer_one
from tests.factories import make_settings


class FakeRequest:
    def __init__(self, gone: bool) -> None:
        self.gone = gone

    async def is_disconnected(self) -> bool:
        return self.gone


@pytest.fixture(autouse=True)
def ask_every_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests here wait microseconds for their turn: ask them all whether their client is there."""
    monkeypatch.setattr("app.web.predictions.ASK_AFTER_S", -1.0)


def run_in_turns(requests: list[FakeRequest]) -> tuple[list[Any], list[int]]:
    """Send one piece of work per request at once; the answers (or exceptions) and the order work ran in."""
    inference = InferenceTurns(1)
    ran: list[int] = []

    def work(i: int) -> bytes:
        ran.append(i)
        return f"answer {i}".encode()

    async def main() -> list[Any]:
        return await asyncio.gather(
            *(
                inference.run(request, predictions.ASK_AFTER_S, work, i)  # type: ignore[arg-type]
                for i, request in enumerate(requests)
            ),
            return_exceptions=True,
        )

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
    monkeypatch.setattr("app.web.predictions.ASK_AFTER_S", 60.0)
    answers, ran = run_in_turns([FakeRequest(gone=True)])
    assert answers == [b"answer 0"] and ran == [0]


def test_an_unknown_exception_still_propagates():
    with pytest.raises(ZeroDivisionError):
        asyncio.run(InferenceTurns(1).run(FakeRequest(gone=False), 0.0, lambda: 1 // 0))  # type: ignore[arg-type]


class RecordedWork:
    """Stands in for the inference work: records what ran, in order, and answers with JSON items."""

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, request: FakeRequest | None = None, leaves_after: int = -1
    ) -> None:
        self.ran: list[str] = []
        self.request, self.leaves_after = request, leaves_after
        monkeypatch.setattr(predictions, "_answer_one", self.one)
        monkeypatch.setattr(predictions, "_answer_turn", self.many)

    def one(self, model: Any, source: str, *args: Any) -> bytes:
        self.ran.append(source)
        return source.encode()

    def many(self, model: Any, sources: list[str], *args: Any) -> bytes:
        self.ran.append(f"batch {sources[0]}-{sources[-1]}")
        if self.request is not None and len(self.ran) == self.leaves_after:
            self.request.gone = True
        return b",".join(f'"{s}"'.encode() for s in sources)


def test_a_batch_runs_in_turns_and_answers_in_order(monkeypatch: pytest.MonkeyPatch):
    work = RecordedWork(monkeypatch)
    sources = [str(i) for i in range(2 * BATCH_TURN + 5)]
    answer = asyncio.run(
        answer_batch(
            None,
            sources,
            2,
            make_settings(),
            InferenceTurns(1),  # type: ignore[arg-type]
            FakeRequest(gone=False),
        )
    )  # type: ignore[arg-type]
    assert orjson.loads(answer) == {"results": sources}
    last = 2 * BATCH_TURN
    assert work.ran == [f"batch 0-{BATCH_TURN - 1}", f"batch {BATCH_TURN}-{last - 1}", f"batch {last}-{last + 4}"]


def test_a_request_arriving_during_a_big_batch_waits_one_turn_not_the_whole_batch(monkeypatch: pytest.MonkeyPatch):
    work = RecordedWork(monkeypatch)
    inference, settings = InferenceTurns(1), make_settings()

    async def main() -> None:
        batch = asyncio.create_task(
            answer_batch(
                None,
                [str(i) for i in range(3 * BATCH_TURN)],
                2,  # type: ignore[arg-type]
                settings,
                inference,
                FakeRequest(gone=False),
            )
        )  # type: ignore[arg-type]
        await asyncio.sleep(0)  # the batch takes its first turn
        single = answer_one(None, "single", 2, True, settings, inference, FakeRequest(gone=False))  # type: ignore[arg-type]
        await asyncio.gather(batch, single)

    asyncio.run(main())
    assert work.ran == [
        f"batch 0-{BATCH_TURN - 1}",
        "single",
        f"batch {BATCH_TURN}-{2 * BATCH_TURN - 1}",
        f"batch {2 * BATCH_TURN}-{3 * BATCH_TURN - 1}",
    ]


def test_a_batch_whose_client_leaves_stops_after_the_turn_it_is_in(monkeypatch: pytest.MonkeyPatch):
    request = FakeRequest(gone=False)
    work = RecordedWork(monkeypatch, request, leaves_after=2)
    with pytest.raises(ClientGone):
        asyncio.run(
            answer_batch(
                None,
                [str(i) for i in range(4 * BATCH_TURN)],
                2,
                make_settings(),  # type: ignore[arg-type]
                InferenceTurns(1),
                request,
            )
        )  # type: ignore[arg-type]
    assert work.ran == [f"batch 0-{BATCH_TURN - 1}", f"batch {BATCH_TURN}-{2 * BATCH_TURN - 1}"]
