"""Corrections kept and read back on SQLite and PostgreSQL: the network's input bit for bit, counts by label
and model, review pages, deletion, and the rate limit every worker shares."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import Engine, make_url, select, text

from app.core import corrections
from app.core.corrections import NewCorrection, Quota, TooManyCorrections, client_hash, pack, unpack
from app.core.inference import Guess
from app.core.storage.database import create_database_engine, upgrade
from app.core.storage.tables import correction_quotas


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_database_engine(make_url(database_url), timeout=5)
    upgrade(engine)
    yield engine
    engine.dispose()


def random_bits(rng: np.random.Generator) -> np.ndarray:
    return (rng.random((28, 28)) < 0.2).astype(np.uint8)


def test_pack_is_98_bytes_row_major_and_unpacks_to_the_same_bits():
    bits = np.zeros((28, 28), np.uint8)
    bits[0, 0] = bits[27, 27] = 1
    data = pack(bits)
    assert len(data) == 98 and data[0] == 0b1000_0000 and data[-1] == 0b0000_0001
    np.testing.assert_array_equal(unpack(data), bits)
    with pytest.raises(ValueError, match="97 bytes"):
        unpack(data[:-1])


def test_a_saved_correction_reads_back_bit_for_bit(engine):
    rng = np.random.default_rng(3)
    bits = random_bits(rng)
    before = datetime.now(UTC)
    correction_id = corrections.save(engine, NewCorrection(bits, 7, "mlp", 1))
    [saved] = corrections.page(engine)
    assert saved.id == correction_id and (saved.label, saved.model, saved.guess) == (7, "mlp", 1)
    np.testing.assert_array_equal(saved.bits, bits)
    assert saved.bits.dtype == np.uint8 and not saved.confirmed
    assert before - timedelta(seconds=1) <= saved.created_at <= datetime.now(UTC) + timedelta(seconds=1)
    assert saved.created_at.tzinfo is not None


def test_stats_count_by_label_and_model_and_the_misread_rate_by_digit(engine):
    bits = random_bits(np.random.default_rng(0))
    for label, model, guess in [(7, "cnn", 1), (7, "cnn", 7), (7, "mlp", 1), (3, "cnn", 5), (3, "cnn", None)]:
        corrections.save(engine, NewCorrection(bits, label, model, guess))
    stats = corrections.stats(engine)
    assert stats.total == 5 and stats.confirmations == 1
    assert stats.by_label == {**dict.fromkeys(range(10), 0), 7: 3, 3: 2}
    assert stats.by_model == {"cnn": 4, "mlp": 1}
    assert stats.misread_rate(7) == pytest.approx(2 / 3)
    assert stats.misread_rate(3) == 1.0  # the drawing without a known guess is not judged
    assert stats.misread_rate(0) is None


def test_pages_go_newest_first_by_label_and_deleted_ids_are_never_reused(engine):
    bits = random_bits(np.random.default_rng(1))
    ids = [corrections.save(engine, NewCorrection(bits, label, "cnn", 0)) for label in (1, 2, 1, 2, 1)]
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert [c.id for c in corrections.page(engine, label=1)] == [ids[4], ids[2], ids[0]]
    assert [c.id for c in corrections.page(engine, label=1, before=ids[4], limit=1)] == [ids[2]]
    assert corrections.remove(engine, ids[4]) is True
    assert corrections.remove(engine, ids[4]) is False
    newest = corrections.save(engine, NewCorrection(bits, 1, "cnn", 0))
    assert newest > ids[4]
    # the largest id the API lets through is one the column can hold, on either database
    assert corrections.remove(engine, corrections.MAX_ID) is False
    assert [c.id for c in corrections.page(engine, before=corrections.MAX_ID, limit=1)] == [newest]


def test_every_reads_all_of_them_oldest_first_in_batches(engine):
    rng = np.random.default_rng(2)
    saved = [(corrections.save(engine, NewCorrection(b := random_bits(rng), i % 10, "cnn", 0)), b) for i in range(7)]
    read = list(corrections.every(engine, batch=3))
    assert [c.id for c in read] == [i for i, _ in saved]
    for correction, (_, bits) in zip(read, saved, strict=True):
        np.testing.assert_array_equal(correction.bits, bits)


def test_the_models_guesses_are_kept_with_their_probabilities(engine):
    bits = random_bits(np.random.default_rng(5))
    guesses = [Guess(1, 0.81), Guess(7, 0.17), Guess(4, 0.01)]
    corrections.save(engine, NewCorrection(bits, 7, "cnn", 1, guesses))
    [saved] = corrections.page(engine)
    assert saved.guesses == guesses


def test_a_client_may_save_its_quota_in_a_window_and_no_more(engine, monkeypatch):
    clock = {"now": 1_000_040.0}  # 20 s into the 60 s window that starts at 1_000_020
    monkeypatch.setattr(corrections.time, "time", lambda: clock["now"])
    bits = random_bits(np.random.default_rng(6))
    quota = Quota("203.0.113.7", limit=3, window=60)
    for _ in range(3):
        corrections.save(engine, NewCorrection(bits, 7, "cnn", 1), quota)
    for _ in range(2):
        with pytest.raises(TooManyCorrections) as caught:
            corrections.save(engine, NewCorrection(bits, 7, "cnn", 1), quota)
        assert caught.value.code == "too_many_requests" and caught.value.retry_after == 40
    assert corrections.stats(engine).total == 3
    # Another client has its own count; the next window starts afresh and forgets the last one.
    corrections.save(engine, NewCorrection(bits, 7, "cnn", 1), Quota("203.0.113.8", 3, 60))
    clock["now"] += 40
    corrections.save(engine, NewCorrection(bits, 7, "cnn", 1), quota)
    assert corrections.stats(engine).total == 5
    with engine.connect() as connection:
        rows = connection.execute(select(correction_quotas)).all()
    assert [(row.window_start, row.count) for row in rows] == [(1_000_080, 1)]


def test_no_address_is_stored_only_a_keyed_hash_that_changes_every_window(engine):
    bits = random_bits(np.random.default_rng(7))
    corrections.save(engine, NewCorrection(bits, 7, "cnn", 1), Quota("198.51.100.23", 5, 60))
    with engine.connect() as connection:
        [row] = connection.execute(select(correction_quotas)).all()
        key = bytes.fromhex(connection.execute(text("SELECT value FROM secrets")).scalar_one())
    assert "198.51.100.23" not in str(tuple(row)) and len(row.client) == 32
    assert row.client == client_hash(key, "198.51.100.23", row.window_start)
    assert row.client != client_hash(key, "198.51.100.23", row.window_start + 60)
    assert row.client != client_hash(bytes(32), "198.51.100.23", row.window_start)


def test_concurrent_saves_of_one_client_are_each_counted(engine):
    bits = random_bits(np.random.default_rng(8))
    quota = Quota("192.0.2.1", limit=25, window=3600)
    outcomes: list[str] = []

    def client() -> None:
        for _ in range(10):
            try:
                corrections.save(engine, NewCorrection(bits, 7, "cnn", 1), quota)
                outcomes.append("saved")
            except TooManyCorrections:
                outcomes.append("refused")

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes).count("saved") == 25 and len(outcomes) == 40
    assert corrections.stats(engine).total == 25
