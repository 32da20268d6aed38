"""The corrections database: where it is, its schema made on first use, and every way it can fail turned into
`storage_unavailable`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import event, text

from app.core import corrections
from app.core.corrections import NewCorrection
from app.core.storage import database
from app.core.storage.database import Storage, StorageUnavailable, current_revision, head_revision, upgrade
from tests.factories import make_settings

SEVEN = np.zeros((28, 28), np.uint8)
SEVEN[6, 8:20] = 1
SEVEN[6:24, 18] = 1


def a_correction(label: int = 7) -> NewCorrection:
    return NewCorrection(SEVEN, label, "cnn", 1)


def test_the_default_database_is_a_sqlite_file_in_the_data_folder(tmp_path):
    url = database.database_url(make_settings(data_dir=tmp_path / "data"))
    assert url.get_backend_name() == "sqlite"
    assert url.database == str((tmp_path / "data" / "digitpad.db").absolute())


def test_a_postgresql_url_uses_psycopg_and_its_password_is_never_shown():
    url = database.database_url(make_settings(database_url="postgresql://digitpad:s3cret@db.example/digitpad"))
    assert url.drivername == "postgresql+psycopg"
    assert "s3cret" not in database.shown(url) and "db.example" in database.shown(url)


def test_first_use_makes_the_folder_and_migrates_to_the_latest_schema(tmp_path):
    storage = Storage(make_settings(data_dir=tmp_path / "new" / "folder"))
    try:
        first = storage.call(lambda engine: corrections.save(engine, a_correction()))
        assert (tmp_path / "new" / "folder" / "digitpad.db").is_file()
        assert storage.engine is not None and current_revision(storage.engine) == head_revision()
        assert [c.id for c in storage.call(corrections.every)] == [first]
    finally:
        storage.close()


def test_without_start_up_migrations_an_old_schema_is_refused_until_upgraded(tmp_path):
    settings = make_settings(data_dir=tmp_path, database_migrate=False)
    storage = Storage(settings)
    try:
        with pytest.raises(StorageUnavailable) as caught:
            storage.call(corrections.stats)
        assert caught.value.code == "storage_unavailable" and "digitpad db upgrade" in caught.value.detail
        engine = database.create_database_engine(database.database_url(settings), 5)
        assert upgrade(engine) == head_revision()
        engine.dispose()
        storage._down_until = 0  # no waiting out the back-off in a test
        assert storage.call(corrections.stats).total == 0
    finally:
        storage.close()


def test_a_data_folder_that_cannot_be_made_is_unavailable_storage(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    storage = Storage(make_settings(data_dir=tmp_path / "a-file" / "data"))
    try:
        with pytest.raises(StorageUnavailable, match="data folder cannot be created"):
            storage.call(corrections.stats)
    finally:
        storage.close()


def test_a_full_disk_is_unavailable_storage_and_nothing_half_written_remains(tmp_path):
    storage = Storage(make_settings(data_dir=tmp_path))
    try:
        storage.call(lambda engine: corrections.save(engine, a_correction(1)))
        engine = storage.engine
        assert engine is not None
        with engine.connect() as connection:
            pages = connection.execute(text("PRAGMA page_count")).scalar_one()

        # SQLite reports a database that may not grow exactly as it reports a full disk (SQLITE_FULL).
        @event.listens_for(engine, "connect")
        def _no_room(dbapi_connection, record):
            dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")

        engine.dispose()
        saved = 1
        with pytest.raises(StorageUnavailable, match="full"):
            for _ in range(500):
                storage.call(lambda engine: corrections.save(engine, a_correction(2)))
                saved += 1
        # Calls fail at once for a moment, without touching the database again.
        with pytest.raises(StorageUnavailable, match="full"):
            storage.call(corrections.stats)
        storage._down_until = 0
        assert storage.call(corrections.stats).total == saved
    finally:
        storage.close()


def test_a_read_only_database_is_unavailable_for_writes_but_still_read(tmp_path):
    path = tmp_path / "digitpad.db"
    writable = Storage(make_settings(database_url=f"sqlite:///{path}"))
    writable.call(lambda engine: corrections.save(engine, a_correction()))
    writable.close()
    storage = Storage(make_settings(database_url=f"sqlite:///file:{path}?mode=ro&uri=true", database_migrate=False))
    try:
        assert storage.call(corrections.stats).total == 1
        with pytest.raises(StorageUnavailable, match="readonly"):
            storage.call(lambda engine: corrections.save(engine, a_correction()))
    finally:
        storage.close()


def test_a_server_that_is_not_there_is_unavailable_storage_quickly():
    from tests.servers import free_port

    storage = Storage(
        make_settings(database_url=f"postgresql://nobody@127.0.0.1:{free_port()}/none", database_timeout=2)
    )
    try:
        with pytest.raises(StorageUnavailable, match=r"127\.0\.0\.1"):
            storage.call(corrections.stats)
    finally:
        storage.close()


def test_a_broken_query_is_a_bug_not_unavailable_storage(tmp_path):
    storage = Storage(make_settings(data_dir=tmp_path))
    try:
        with pytest.raises(Exception) as caught:
            storage.call(lambda engine: engine.connect().execute(text("SELECT nothing FROM nowhere")))
        assert not isinstance(caught.value, StorageUnavailable)
    finally:
        storage.close()


def test_the_migrations_ship_inside_the_package():
    assert database.MIGRATIONS_DIR.is_relative_to(Path(database.__file__).parent)
    assert (database.MIGRATIONS_DIR / "env.py").is_file() and (database.MIGRATIONS_DIR / "script.py.mako").is_file()
