"""SQLite store: opening fails as one StoreError line and leaves nothing; schema versions."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sample_runs import make_record

from impactlib.errors import StoreError
from impactlib.store import open_store, schema
from impactlib.store.sqlite import SqliteStore


def _one_line_store_error(target: str) -> StoreError:
    with pytest.raises(StoreError) as info:
        open_store(target)
    message = str(info.value)
    assert "\n" not in message and target in message
    assert not isinstance(info.value, sqlite3.Error)
    return info.value


def test_unwritable_path_is_a_store_error_naming_path_and_fix() -> None:
    error = _one_line_store_error("/proc/x.sqlite")
    assert "IMPACTLIB_STORE" in str(error) and "writable file" in str(error)
    assert isinstance(error.__cause__, sqlite3.Error)  # the cause is kept for debugging
    assert not Path("/proc/x.sqlite").exists()


def test_directory_is_a_store_error_suggesting_a_file_in_it(tmp_path: Path) -> None:
    error = _one_line_store_error(str(tmp_path))
    assert "is a directory" in str(error) and str(tmp_path / "impactlib.db") in str(error)
    assert list(tmp_path.iterdir()) == []


def test_corrupt_file_is_a_store_error_and_is_left_untouched(tmp_path: Path) -> None:
    target = tmp_path / "runs.db"
    content = b"this is not a database, but it is somebody's file\n" * 100
    target.write_bytes(content)
    error = _one_line_store_error(str(target))
    assert "not a SQLite database" in str(error) and "move it aside" in str(error)
    assert target.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.db"]


def test_damaged_database_behind_a_valid_header_is_a_store_error(tmp_path: Path) -> None:
    target = tmp_path / "runs.db"
    open_store(str(target)).close()
    data = bytearray(target.read_bytes())
    data[16:100] = b"\xff" * 84  # page size, format numbers...: header kept, body unreadable
    target.write_bytes(bytes(data))
    _one_line_store_error(str(target))


def test_failed_creation_leaves_no_half_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(conn: sqlite3.Connection, target: str) -> None:
        raise sqlite3.OperationalError("disk I/O error")  # after SQLite created the file

    monkeypatch.setattr("impactlib.store.sqlite._prepare_schema", broken)
    with pytest.raises(StoreError, match="disk I/O error"):
        open_store(str(tmp_path / "new.db"))
    assert list(tmp_path.iterdir()) == []


def test_new_store_is_stamped_with_the_schema_version(tmp_path: Path) -> None:
    target = tmp_path / "runs.db"
    open_store(str(target)).close()
    with sqlite3.connect(target) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_unversioned_store_from_before_versions_is_opened_and_stamped(tmp_path: Path) -> None:
    target = tmp_path / "old.db"
    with sqlite3.connect(target) as conn:
        for sql in schema.CREATE:
            conn.execute(sql)
    record = make_record("run-1")
    with sqlite3.connect(target) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    store = open_store(str(target))
    store.insert_run(record, save_interval=10.0)
    assert store.get_run(record.id) is not None
    with sqlite3.connect(target) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.VERSION


def test_store_from_a_newer_release_is_refused_not_misread(tmp_path: Path) -> None:
    target = tmp_path / "new.db"
    with sqlite3.connect(target) as conn:
        conn.execute(f"PRAGMA user_version = {schema.VERSION + 1}")
        conn.execute("CREATE TABLE runs (future TEXT)")
    error = _one_line_store_error(str(target))
    assert "newer impactlib" in str(error) and "upgrade impactlib" in str(error)


def test_records_round_trip_by_column_name(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "runs.db"))
    record = make_record("run-1")
    store.insert_run(record, save_interval=10.0)
    got = store.get_run(record.id)
    assert got is not None
    assert (got.user, got.host, got.command, got.project) == (
        record.user,
        record.host,
        record.command,
        record.project,
    )
    assert schema.RUN_COLUMNS.split(", ") == list(schema.RunRow._fields)


def test_in_memory_store_works_and_says_where_it_is() -> None:
    store = SqliteStore(None)
    assert "memory" in store.location
    assert store.list_runs() == []


def test_concurrent_openers_of_a_new_file_all_succeed(tmp_path: Path) -> None:
    target = tmp_path / "shared.db"
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            open_store(str(target)).close()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(("-wal", "-shm"))) == [
        "shared.db"
    ]
