"""Corrections: drawings a person labelled with the digit they really are, kept to retrain the networks.

What is kept of each is what the network saw (its 28x28 binary input, 98 bytes), the label, the model and
its first guess, and the time: never the image that was sent, nothing about who sent it. Every function
here is a query on an engine, run in a storage thread (`Storage.run`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Engine, Row, delete, func, insert, select

from app.core.storage.tables import INPUT_BYTES, corrections
from app.nn.preprocess import SIZE

DIGITS = range(10)


@dataclass(frozen=True)
class NewCorrection:
    bits: np.ndarray  # (28, 28) uint8 of 0/1: the network's input
    label: int  # the digit it really is
    model: str
    guess: int | None  # the model's first guess, the one the person saw


@dataclass(frozen=True)
class Correction:
    id: int
    created_at: datetime
    label: int
    model: str
    guess: int | None
    bits: np.ndarray  # (28, 28) uint8 of 0/1

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


def save(engine: Engine, new: NewCorrection) -> int:
    """Store one correction; its id."""
    with engine.begin() as connection:
        row = connection.execute(
            insert(corrections)
            .values(
                created_at=datetime.now(UTC),
                label=new.label,
                bits=pack(new.bits),
                model=new.model,
                guess=new.guess,
            )
            .returning(corrections.c.id)
        ).one()
    return int(row.id)


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
    )
