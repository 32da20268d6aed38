"""Corrections: drawings a person labelled with the digit they really are, kept to retrain the networks.

What is kept of each is what the network saw (its 28x28 binary input, 98 bytes), the label, the model and
its guesses, and the time: never the image that was sent, nothing about who sent it. A client's address
only ever counts its saves against the rate limit, as a keyed hash kept until the window it counts in has
passed. Every function here is a query on an engine, run in a storage thread (`Storage.run`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
import weakref
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from sqlalchemy import Connection, Engine, Row, delete, exc, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from app.core.errors import DigitPadError
from app.core.inference import Guess
from app.core.storage.tables import INPUT_BYTES, MODEL_NAME_LENGTH, correction_quotas, corrections, secrets
from app.nn import extra
from app.nn.preprocess import SIZE

logger = logging.getLogger(__name__)

DIGITS = range(10)
MAX_ID = 2**31 - 1  # the largest id the column holds: INTEGER, 32 bits on PostgreSQL
# The key of each database's client hashes, read once per engine.
_client_keys: weakref.WeakKeyDictionary[Engine, bytes] = weakref.WeakKeyDictionary()
# The newest window whose older quota rows each engine has deleted.
_pruned: weakref.WeakKeyDictionary[Engine, int] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Quota:
    """At most `limit` corrections from one client in each fixed window of `window` seconds."""

    client: str  # its address; only a keyed hash of it and the window is stored
    limit: int
    window: int


class TooManyCorrections(DigitPadError):
    def __init__(self, quota: Quota, retry_after: int) -> None:
        super().__init__(
            "too_many_requests",
            f"This client has saved {quota.limit} corrections in the last {quota.window} seconds, the most it "
            f"may; try again in {retry_after} seconds.",
        )
        self.retry_after = retry_after


@dataclass(frozen=True)
class NewCorrection:
    bits: np.ndarray  # (28, 28) uint8 of 0/1: the network's input
    label: int  # the digit it really is
    model: str
    guess: int | None  # the guess the person saw
    guesses: list[Guess] = field(default_factory=list)  # the model's own best guesses, best first


@dataclass(frozen=True)
class Correction:
    id: int
    created_at: datetime
    label: int
    model: str
    guess: int | None
    bits: np.ndarray  # (28, 28) uint8 of 0/1
    guesses: list[Guess]  # empty for corrections saved before the guesses were kept

    @property
    def confirmed(self) -> bool:
        """The person said the model's guess was right."""
        return self.guess == self.label


@dataclass
class Stats:
    by_label: dict[int, int] = field(default_factory=lambda: dict.fromkeys(DIGITS, 0))
    by_model: dict[str, int] = field(default_factory=dict)
    # Per true digit: drawings whose model's guess is known, and those of them it got wrong.
    judged: dict[int, int] = field(default_factory=lambda: dict.fromkeys(DIGITS, 0))
    misread: dict[int, int] = field(default_factory=lambda: dict.fromkeys(DIGITS, 0))

    @property
    def total(self) -> int:
        return sum(self.by_label.values())

    @property
    def confirmations(self) -> int:
        return sum(self.judged.values()) - sum(self.misread.values())

    def misread_rate(self, digit: int) -> float | None:
        """The share of the drawings of `digit` the model read as another digit (None without any)."""
        return self.misread[digit] / self.judged[digit] if self.judged[digit] else None


def pack(bits: np.ndarray) -> bytes:
    """(28, 28) 0/1 -> 98 bytes, row-major, the first pixel in the high bit of the first byte."""
    return np.packbits(np.asarray(bits, np.uint8).reshape(-1)).tobytes()


def unpack(data: bytes) -> np.ndarray:
    if len(data) != INPUT_BYTES:
        raise ValueError(f"a stored input is {len(data)} bytes, not {INPUT_BYTES}")
    return np.unpackbits(np.frombuffer(data, np.uint8), count=SIZE * SIZE).reshape(SIZE, SIZE)


def save(engine: Engine, new: NewCorrection, quota: Quota | None = None) -> int:
    """Store one correction, counted against the client's `quota`; its id. Raises TooManyCorrections, and
    then stores and counts nothing."""
    with engine.begin() as connection:
        window_start = _count(engine, connection, quota) if quota is not None else None
        row = connection.execute(
            insert(corrections)
            .values(
                created_at=datetime.now(UTC),
                label=new.label,
                bits=pack(new.bits),
                model=new.model,
                guess=new.guess,
                guesses=[[g.digit, g.probability] for g in new.guesses],
            )
            .returning(corrections.c.id)
        ).one()
    if window_start is not None and _pruned.get(engine, -1) < window_start:
        _prune(engine, window_start)
    return int(row.id)


def _count(engine: Engine, connection: Connection, quota: Quota) -> int:
    """One more save in the client's current window, in the transaction of the save itself (an upsert: the
    row of a client's window is locked until it commits, so concurrent saves are all counted)."""
    now = time.time()
    window_start = int(now // quota.window) * quota.window
    client = client_hash(_client_key(engine, connection), quota.client, window_start)
    upsert = (postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert)(correction_quotas)
    count = connection.execute(
        upsert.values(client=client, window_start=window_start, count=1)
        .on_conflict_do_update(
            index_elements=[correction_quotas.c.client, correction_quotas.c.window_start],
            set_={"count": correction_quotas.c.count + 1},
        )
        .returning(correction_quotas.c.count)
    ).scalar_one()
    if count > quota.limit:  # leaving the block rolls the count back: a refused save is not counted
        raise TooManyCorrections(quota, max(1, math.ceil(window_start + quota.window - now)))
    return window_start


def _prune(engine: Engine, window_start: int) -> None:
    """Delete the counts of windows that have passed, once per window and engine, in a transaction of its
    own: two workers pruning at once may get in each other's way, and a count left over is harmless."""
    try:
        with engine.begin() as connection:
            connection.execute(delete(correction_quotas).where(correction_quotas.c.window_start < window_start))
    except exc.DBAPIError as error:
        logger.info("Old rate-limit counts not deleted this time: %s", error.orig)
        return
    _pruned[engine] = window_start


def client_hash(key: bytes, address: str, window_start: int) -> str:
    """What is stored for a client: HMAC-SHA256 of its address and the window, under the database's key,
    so the same address in another window, or another database, gives an unrelated value."""
    return hmac.new(key, f"{window_start} {address}".encode(), hashlib.sha256).hexdigest()[:32]


def _client_key(engine: Engine, connection: Connection) -> bytes:
    key = _client_keys.get(engine)
    if key is None:
        value = connection.execute(select(secrets.c.value).where(secrets.c.name == "client_key")).scalar_one()
        _client_keys[engine] = key = bytes.fromhex(value)
    return key


def stats(engine: Engine) -> Stats:
    """Counts by label and by model, and how often the model misread each digit."""
    query = select(corrections.c.label, corrections.c.model, corrections.c.guess, func.count().label("n")).group_by(
        corrections.c.label, corrections.c.model, corrections.c.guess
    )
    result = Stats()
    by_model: Counter[str] = Counter()
    with engine.begin() as connection:
        for label, model, guess, n in connection.execute(query):
            result.by_label[label] += n
            by_model[model] += n
            if guess is not None:
                result.judged[label] += n
                result.misread[label] += n if guess != label else 0
    result.by_model = dict(sorted(by_model.items()))
    return result


def page(engine: Engine, label: int | None = None, before: int | None = None, limit: int = 100) -> list[Correction]:
    """The newest `limit` corrections (of one label), with ids below `before` when given."""
    query = select(corrections).order_by(corrections.c.id.desc()).limit(limit)
    if label is not None:
        query = query.where(corrections.c.label == label)
    if before is not None:
        query = query.where(corrections.c.id < before)
    with engine.begin() as connection:
        return [_correction(row) for row in connection.execute(query)]


def every(engine: Engine, batch: int = 5000) -> Iterator[Correction]:
    """All corrections, oldest first, read `batch` at a time."""
    after = 0
    while True:
        query = select(corrections).where(corrections.c.id > after).order_by(corrections.c.id).limit(batch)
        with engine.begin() as connection:
            rows = [_correction(row) for row in connection.execute(query)]
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].id


def remove(engine: Engine, correction_id: int) -> bool:
    """Delete one correction; whether there was one with that id."""
    with engine.begin() as connection:
        return connection.execute(delete(corrections).where(corrections.c.id == correction_id)).rowcount > 0


def _correction(row: Row[Any]) -> Correction:
    mapping = row._mapping
    created = mapping["created_at"]
    if created.tzinfo is None:  # SQLite keeps no zone: every time is written in UTC
        created = created.replace(tzinfo=UTC)
    return Correction(
        id=mapping["id"],
        created_at=created,
        label=mapping["label"],
        model=mapping["model"],
        guess=mapping["guess"],
        bits=unpack(mapping["bits"]),
        guesses=[Guess(int(digit), float(p)) for digit, p in mapping["guesses"] or []],
    )


def export(engine: Engine, path: Path, fmt: Literal["npz", "idx"] = "npz") -> tuple[int, list[Path]]:
    """Every correction, oldest first, to a file `digitpad train --extra` reads (app/nn/extra.py): an .npz at
    `path`, or IDX files with `path` as their prefix. How many, and the files written."""
    rows = list(every(engine))
    bits = np.stack([c.bits for c in rows]) if rows else np.zeros((0, SIZE, SIZE), np.uint8)
    labels = np.array([c.label for c in rows], np.uint8)
    if fmt == "idx":
        return len(rows), list(extra.write_idx(path, bits, labels))
    columns = {
        "ids": np.array([c.id for c in rows], np.int64),
        "models": np.array([c.model for c in rows], dtype=f"<U{MODEL_NAME_LENGTH}"),
        "guesses": np.array([-1 if c.guess is None else c.guess for c in rows], np.int8),
        "created": np.array([int(c.created_at.timestamp()) for c in rows], np.int64),
    }
    return len(rows), [extra.write_npz(path, bits, labels, columns)]
