"""The training lab as the web serves it: each worker's dispatcher loop, a job as JSON, its events as
Server-Sent Events, and ending those streams when the server stops.

Every file access of the lab's service runs off the event loop, except an events stream's polls: they
stat one file and read what it gained, a few microseconds each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from types import FrameType
from typing import Any

import anyio.to_thread

from app.core.runs import EventFeed
from app.core.training import BUSY_TICK_S, IDLE_TICK_S, JobView, TrainingService

logger = logging.getLogger(__name__)

POLL_S = 0.2  # how often an events stream looks for new events: progress comes at most ten times a second
HEARD_EVERY_S = 1.0  # how often an open stream tells the run its client is still there
KEEP_ALIVE_S = 15.0  # a comment line this often keeps proxies from closing a quiet stream
RETRY_MS = 1000  # how long a disconnected EventSource waits before it reconnects


class Dispatcher:
    """This worker's round of the lab's dispatcher, a few times a second while runs are queued or
    training, once a second otherwise, and at once when this worker has queued one."""

    def __init__(self, service: TrainingService) -> None:
        self.service = service
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.run(), name="training-dispatcher")

    async def run(self) -> None:
        while True:
            busy = False
            try:
                busy = await anyio.to_thread.run_sync(self.service.tick)
            except Exception:  # a bad round must not end the loop: the next one tries again
                logger.exception("The training dispatcher's round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), BUSY_TICK_S if busy else IDLE_TICK_S)
            self.wake.clear()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await anyio.to_thread.run_sync(self.service.close)


class Stopping:
    """Set when the server is asked to stop (SIGTERM, SIGINT), so open events streams end at once instead of
    holding the graceful shutdown open. The signal still goes on to uvicorn's own handler."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may set handlers: a test client's app never gets signals
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.event.set()
        previous = self.previous.get(signum)
        if callable(previous):
            previous(signum, frame)

    def is_set(self) -> bool:
        return self.event.is_set()


def job_json(view: JobView) -> dict[str, Any]:
    """A job as the API answers it."""
    out = asdict(view)
    out.pop("key")
    out["events"] = f"/api/training/{view.id}/events"
    out["model_file"] = f"/api/training/{view.id}/model" if view.status == "done" else None
    return out


async def event_stream(feed: EventFeed, stopping: Stopping) -> AsyncIterator[str]:
    """The job's events as SSE: `id`, `event` and `data` lines each, until its final event. A client that
    reconnects with Last-Event-ID gets what came after that id."""
    yield f"retry: {RETRY_MS}\n\n"
    events = await anyio.to_thread.run_sync(feed.poll)  # a replay may be a few hundred KB: off the loop
    heard = 0.0
    sent = time.monotonic()
    while True:
        for event in events:
            yield f"id: {event.id}\nevent: {event.kind}\ndata: {event.data}\n\n"
            sent = time.monotonic()
        if feed.finished or stopping.is_set():
            return
        now = time.monotonic()
        if now - heard >= HEARD_EVERY_S:
            feed.touch()
            heard = now
        if now - sent >= KEEP_ALIVE_S:
            yield ": still training\n\n"
            sent = now
        await asyncio.sleep(POLL_S)
        events = feed.poll()
