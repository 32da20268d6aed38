"""The migrations on SQLite and PostgreSQL: an empty database and one of the first schema both end at the
schema the queries are written against, keeping every correction; workers migrating at once take turns."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, event, inspect, make_url, text

from app.core import corrections
from app.core.corrections import NewCorrection, Quota, pack
from app.core.storage.database import create_database_engine, current_revision, head_revision, upgrade
from app.core.storage.tables import metadata

FIRST = "0001"
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_database_engine(make_url(database_url), timeout=10)
    yield engine
    engine.dispose()


def schema_differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection), metadata))


def test_an_empty_database_ends_at_the_schema_the_queries_use(engine):
    assert current_revision(engine) is None
    assert upgrade(engine) == head_revision()
    assert schema_differences(engine) == []
    assert upgrade(engine) == head_revision()  # a second run has nothing to do


def test_a_database_of_the_first_schema_keeps_its_corrections_through_the_upgrade(engine):
    assert upgrade(engine, FIRST) == FIRST
    assert "correction_quotas" not in inspect(engine).get_table_names()
    rng = np.random.default_rng(4)
    old = [
        ((rng.random((28, 28)) < 0.2).astype(np.uint8), label, guess) for label, guess in [(7, 1), (3, 3), (0, None)]
    ]
    with engine.begin() as connection:
        for bits, label, guess in old:
            connection.execute(
                text(
                    "INSERT INTO corrections (created_at, label, bits, model, guess) "
                    "VALUES (:created_at, :label, :bits, 'cnn', :guess)"
                ),
                {
                    "created_at": datetime(2025, 11, 30, 12, tzinfo=UTC),
                    "label": label,
                    "bits": pack(bits),
                    "guess": guess,
                },
            )

    assert upgrade(engine) == head_revision()
    assert schema_differences(engine) == []
    kept = list(corrections.every(engine))
    assert [(c.label, c.guess, c.guesses) for c in kept] == [(7, 1, []), (3, 3, []), (0, None, [])]
    for correction, (bits, _, _) in zip(kept, old, strict=True):
        np.testing.assert_array_equal(correction.bits, bits)
        assert correction.created_at == datetime(2025, 11, 30, 12, tzinfo=UTC)
    stats = corrections.stats(engine)
    assert stats.total == 3 and stats.confirmations == 1
    newest = corrections.save(engine, NewCorrection(old[0][0], 7, "cnn", 1), Quota("127.0.0.1", 10, 60))
    assert newest > kept[-1].id


def test_workers_migrating_at_once_take_turns(database_url):
    env = {**os.environ, "DIGITPAD_DATABASE_URL": database_url, "DIGITPAD_DATABASE_TIMEOUT": "30"}
    command = [sys.executable, "-m", "app", "db", "upgrade"]
    processes = [
        subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(3)
    ]
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], outputs
    assert all(f"schema revision {head_revision()} (the latest)" in output for output in outputs), outputs
    engine = create_database_engine(make_url(database_url), timeout=10)
    try:
        assert schema_differences(engine) == []
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM secrets")).scalar_one() == 1
    finally:
        engine.dispose()


def test_every_migration_runs_in_one_transaction(engine):
    """The revision is read and every migration run under one hold of the write lock: a worker that
    committed after each migration would let another, which read the revision before its first commit,
    run the next one again."""
    commits = []
    event.listen(engine, "commit", lambda connection: commits.append(connection))
    assert upgrade(engine) == head_revision()
    assert head_revision() != FIRST  # so there is more than one migration to run
    assert len(commits) == 1


def test_every_migration_can_be_undone_and_done_again(engine):
    from alembic import command

    from app.core.storage.database import alembic_config

    upgrade(engine)
    config = alembic_config()
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert current_revision(engine) is None
    assert "corrections" not in inspect(engine).get_table_names()
    assert upgrade(engine) == head_revision()
    assert schema_differences(engine) == []
