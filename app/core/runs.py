"""A training run's files in the lab's shared data folder, and reading its events: what the dispatcher, the
training process and every worker's events streams share. The layout is in app.core.training."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.nn import lab

FINAL_EVENTS = ("done", "diverged", "cancelled", "error")
MODEL_PREFIX = "lab-"
KEY_LENGTH = 16
MODEL_NAME = re.compile(rf"^{MODEL_PREFIX}[0-9a-f]{{{KEY_LENGTH}}}$")
JOB_ID = re.compile(r"^[0-9a-f]{16}$")
HEARTBEAT_S = 0.5  # how often a training process says it is alive
JOB_REREAD_S = 1.0  # how often an events reader rereads its job (for a cancel) while nothing new arrives
SERVER_STOPPED = "The server stopped while this run was training; start it again."
# Source files whose change changes what a run computes: part of every cache key.
CODE_FILES = ("lab.py", "train.py", "network.py", "layers.py", "optim.py", "augment.py", "evaluate.py")


@functools.lru_cache(maxsize=1)
def code_and_data_version() -> str:
    """A digest of the training code and the packaged data: a run trained by other code is another run."""
    digest = hashlib.sha256()
    nn = Path(lab.__file__).parent
    for name in CODE_FILES:
        digest.update((nn / name).read_bytes())
    for split in ("train", "test"):
        digest.update((nn / "bundled" / f"mnist-{split}.npz").read_bytes())
    return digest.hexdigest()


def cache_key(settings: lab.LabSettings) -> str:
    """The run's name: a digest of its normalised settings and of the code and data that train it."""
    text = json.dumps({"settings": settings.to_json(), "version": code_and_data_version()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]


def model_name(key: str) -> str:
    return MODEL_PREFIX + key


def key_of_model(name: str) -> str | None:
    return name[len(MODEL_PREFIX) :] if MODEL_NAME.match(name) else None


@dataclass(frozen=True)
class Event:
    id: int
    kind: str
    data: str  # the event's JSON text

    @property
    def final(self) -> bool:
        return self.kind in FINAL_EVENTS


# --- files ---


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def write_json(path: Path, value: dict[str, Any]) -> None:
    """Written whole or not at all: readers in other processes never see half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(value))
    tmp.replace(path)


def touch(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.touch()


def age(path: Path, now: float) -> float:
    try:
        return now - path.stat().st_mtime
    except OSError:
        return float("inf")


class RunFiles:
    """The files of one run."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.key = folder.name
        self.state_path = folder / "state.json"
        self.events_path = folder / "events.jsonl"
        self.model_path = folder / "model.npz"
        self.clients = folder / "clients"
        self.heartbeat = folder / "heartbeat"
        self.cancel_marker = folder / "cancel"
        self.used = folder / "used"
        self.log = folder / "trainer.log"

    def state(self) -> dict[str, Any] | None:
        return read_json(self.state_path)

    def write_state(self, state: dict[str, Any]) -> None:
        write_json(self.state_path, state)

    def append_event(self, kind: str, data: dict[str, Any]) -> None:
        """One event, one line, one write: a reader sees whole lines or nothing of it."""
        line = f"{kind}\t{json.dumps(data, separators=(',', ':'))}\n".encode()
        fd = os.open(self.events_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def events(self) -> list[Event]:
        return [parse_event(n, line) for n, line in enumerate(read_lines(self.events_path)[0], 1)]

    def last_event(self) -> Event | None:
        events = self.events()
        return events[-1] if events else None

    def event_count(self) -> int:
        try:
            with self.events_path.open("rb") as file:
                return sum(chunk.count(b"\n") for chunk in iter(lambda: file.read(1 << 16), b""))
        except FileNotFoundError:
            return 0

    def watched(self, now: float, grace: float, besides: str | None = None) -> bool:
        """Whether a job's client was heard from within `grace` seconds (other than job `besides`)."""
        try:
            markers = [m for m in os.scandir(self.clients) if m.name != besides]
        except FileNotFoundError:
            return False
        return any(now - m.stat().st_mtime <= grace for m in markers)

    def reset(self) -> None:
        """Empty a folder a run starts again in (after an error or a cancel)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for path in (self.events_path, self.model_path, self.heartbeat, self.cancel_marker, self.log):
            path.unlink(missing_ok=True)
        shutil.rmtree(self.clients, ignore_errors=True)
        self.clients.mkdir()

    def progress(self) -> dict[str, Any] | None:
        """What the training process last said of its progress (in its heartbeat)."""
        return read_json(self.heartbeat)


def read_lines(path: Path, offset: int = 0) -> tuple[list[bytes], int]:
    """The whole lines of a file from byte `offset` on, and the offset after the last of them."""
    try:
        with path.open("rb") as file:
            file.seek(offset)
            chunk = file.read()
    except FileNotFoundError:
        return [], offset
    end = chunk.rfind(b"\n") + 1
    return chunk[:end].splitlines(), offset + end


def parse_event(event_id: int, line: bytes) -> Event:
    kind, _, data = line.decode().partition("\t")
    return Event(event_id, kind, data)


class EventFeed:
    """A job's events for one reader, after the id it last saw: the run's events, or, for a job cancelled
    while its run goes on for others, the run's events up to then and a `cancelled` of its own."""

    def __init__(self, run: RunFiles, job_path: Path, job_id: str, after: int) -> None:
        self.run, self.job_path, self.job_id = run, job_path, job_id
        self.after = after  # the last id delivered (or seen before, by a reconnecting reader)
        self.offset = 0  # bytes of the events file read
        self.lines = 0  # whole lines read
        self.finished = False
        self.stop_at: int | None = None  # the job's `cancelled_after`, read again every JOB_REREAD_S
        self.job_read = -math.inf

    def poll(self) -> list[Event]:
        """The events that arrived since the last poll; once the job has ended, the last is final."""
        if self.finished:
            return []
        now = time.monotonic()
        try:
            grown = self.run.events_path.stat().st_size > self.offset
        except FileNotFoundError:
            grown = False
        if not grown and now - self.job_read < JOB_REREAD_S:
            return []  # nothing new, and the job was read a moment ago: no file is opened
        if now - self.job_read >= JOB_REREAD_S:
            self.job_read = now
            self.stop_at = (read_json(self.job_path) or {}).get("cancelled_after")
        stop_at = self.stop_at
        lines, self.offset = read_lines(self.run.events_path, self.offset) if grown else ([], self.offset)
        out = []
        for line in lines:
            self.lines += 1
            if stop_at is not None and self.lines > stop_at:
                break
            if self.lines <= self.after:
                continue
            event = parse_event(self.lines, line)
            out.append(event)
            self.after = event.id
            if event.final:
                self.finished = True
                return out
        if stop_at is not None and self.lines >= stop_at:
            # The job's own end. A reader that learnt of the cancel late has delivered some of the run's
            # events past its point: its `cancelled` then comes after the last of them.
            self.finished = True
            detail = "Cancelled: this job was stopped; its run goes on for the others watching it."
            out.append(Event(max(stop_at, self.after) + 1, "cancelled", json.dumps({"detail": detail})))
        return out

    def ended_before(self) -> bool:
        """Whether the reader has already seen this job's final event (a reconnect after the end)."""
        events = self.run.events()
        stop_at = (read_json(self.job_path) or {}).get("cancelled_after")
        if stop_at is not None:
            return self.after > stop_at
        return bool(events) and events[-1].final and self.after >= events[-1].id

    def touch(self) -> None:
        touch(self.run.clients / self.job_id)


def mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
