"""SQLite back-end with the standard library (no SQLAlchemy import on the hot path).

WAL mode lets readers run beside the writer; every write is one short ``BEGIN IMMEDIATE``
transaction (taking the write lock up front avoids the read-to-write upgrade deadlock that
surfaces as "database is locked"), and a generous busy timeout queues concurrent trackers.
``synchronous=NORMAL`` in WAL keeps commits durable against a process kill (only an OS crash
can lose the last transactions).

Opening never half-succeeds. A new store file is built complete (WAL mode, schema, version)
under a temporary name and then hard-linked into place, so other processes see either no
file or a usable one, and a failed creation leaves nothing behind; if another tracker
links its file first, that one is used. A path that is a directory, a file that is not a
SQLite database, one written by a newer impactlib, or any ``sqlite3``/``OSError`` failure
becomes one :class:`~impactlib.errors.StoreError` line naming the path and the fix.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..errors import StoreError
from . import schema
from .base import Row, Store

BUSY_TIMEOUT_MS = 60_000
_ATTEMPTS = 50
MEMORY = "memory (kept only until the process ends)"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_SIDE_FILES = ("-wal", "-shm", "-journal")
_FIX = "set the store setting (IMPACTLIB_STORE, or store in impactlib.toml) to a writable file"

Statements = Iterable[tuple[str, Mapping[str, Any] | Sequence[Mapping[str, Any]]]]
T = TypeVar("T")


class SqliteStore(Store):
    """A SQLite file shared by every tracker of a user (or of a lab on one machine).

    ``path=None`` keeps the store in memory: the last resort when no file can be written,
    so that a run's figures still exist while its process lives.
    """

    def __init__(self, path: Path | None, *, verify: bool = False) -> None:
        """``verify``: refuse a file that fails ``PRAGMA quick_check`` (a writer's check:
        SQLite writes into a damaged file without complaint, and its runs are lost)."""
        super().__init__()
        self.location = MEMORY if path is None else str(path)
        self._lock = threading.Lock()
        self._conn = _connect(":memory:") if path is None else _open(path, verify)

    def write(self, statements: Statements) -> None:
        batch = list(statements)

        def locked() -> None:
            with self._lock:
                _transaction(self._conn, batch)

        try:
            _retry(locked)
        except sqlite3.Error as exc:
            if _is_damage(exc):
                raise StoreError(_damaged(self.location, exc)) from exc
            raise StoreError(f"cannot write the store at {self.location} ({exc})") from exc

    def read(self, sql: str, params: Mapping[str, Any]) -> list[Row]:
        with self._lock:
            try:
                return list(self._conn.execute(sql, dict(params)).fetchall())
            except sqlite3.Error as exc:
                if _is_damage(exc):
                    raise StoreError(_damaged(self.location, exc)) from exc
                raise StoreError(f"cannot read the store at {self.location} ({exc})") from exc

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()


def _retry(action: Callable[[], T]) -> T:
    # The busy handler covers ordinary contention; a few retries also cover the brief
    # exclusive lock taken while another process switches a new file to WAL.
    for attempt in range(_ATTEMPTS - 1):
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
        time.sleep(0.05 + 0.01 * attempt)
    return action()  # the last attempt's error, if any, is the one reported


def _transaction(conn: sqlite3.Connection, batch: Sequence[Any]) -> None:
    """Run ``(sql, params)`` pairs in one write transaction (a list of params = executemany)."""
    cur = conn.cursor()
    cur.execute("BEGIN IMMEDIATE")
    try:
        for sql, params in batch:
            if isinstance(params, Mapping):
                cur.execute(sql, dict(params))
            else:
                cur.executemany(sql, [dict(p) for p in params])
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise


def _connect(target: str) -> sqlite3.Connection:
    """A configured connection to ``target`` whose schema is current (closed on failure)."""
    conn = sqlite3.connect(
        target, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _retry(lambda: conn.execute("PRAGMA journal_mode = WAL"))
        conn.execute("PRAGMA synchronous = NORMAL")
        _prepare_schema(conn, target)
    except BaseException:
        conn.close()
        raise
    return conn


def _prepare_schema(conn: sqlite3.Connection, target: str) -> None:
    """Create missing tables and stamp the schema version; refuse a newer schema.

    Version 0 is a file made before versions were stamped: the same layout as version 1.
    Version 2 only adds a table, which the ``CREATE ... IF NOT EXISTS`` statements add;
    version 3 adds columns to tables an older file may hold (:data:`schema.ADDED_COLUMNS`);
    version 4 only adds a table (budgets).
    """
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > schema.VERSION:
        raise StoreError(
            f"the store at {target} was written by a newer impactlib (schema {version}; this "
            f"one knows up to {schema.VERSION}); upgrade impactlib or {_FIX}"
        )
    batch: list[tuple[str, Mapping[str, Any]]] = []
    for table, column, statements in schema.ADDED_COLUMNS:
        # Table names from a constant, never input: PRAGMA takes no parameters.
        held = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if held and column not in held:
            batch += [(sql, {}) for sql in statements]
    batch += [(sql, {}) for sql in schema.CREATE]
    if version < schema.VERSION:  # an int constant, never input: PRAGMA takes no parameters
        batch.append((f"PRAGMA user_version = {schema.VERSION}", {}))
    _retry(lambda: _transaction(conn, batch))


def _open(path: Path, verify: bool = False) -> sqlite3.Connection:
    """Connect to the store file at ``path``, creating it complete if it does not exist."""
    try:
        _refuse_unusable(path)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            _create(path)
        conn = _connect(str(path))
    except sqlite3.Error as exc:
        if _is_damage(exc):
            raise StoreError(_damaged(path, exc)) from exc
        raise StoreError(f"cannot open the store at {path} ({_reason(exc)}); {_FIX}") from exc
    except OSError as exc:
        raise StoreError(f"cannot open the store at {path} ({_reason(exc)}); {_FIX}") from exc
    if verify:
        _check_integrity(conn, path)
    return conn


def _check_integrity(conn: sqlite3.Connection, path: Path) -> None:
    """``PRAGMA quick_check`` (every page and b-tree, no index cross-check: about 10 ms for
    a 10 MB store); a damaged file closes the connection and is one line."""
    try:
        found = [str(row[0]) for row in conn.execute("PRAGMA quick_check(1)").fetchall()]
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StoreError(_damaged(path, exc)) from exc
    if found != ["ok"]:
        conn.close()
        raise StoreError(_damaged(path, found[0] if found else "no answer"))


def _is_damage(exc: sqlite3.Error) -> bool:
    return isinstance(exc, sqlite3.DatabaseError) and (
        "malformed" in str(exc) or "not a database" in str(exc)
    )


def _damaged(path: Path | str, problem: object) -> str:
    """The line for a store file SQLite finds damaged: what to do with it (SQLite's own
    report spans lines; a message is one)."""
    found = " ".join(str(problem).replace("*** in database main ***", "").split())
    return (
        f"the store at {path} is damaged ({found}); move it aside "
        f"(mv {path} {path}.damaged) and a new one is made"
    )


def _refuse_unusable(path: Path) -> None:
    """Clear errors for the two mistakes SQLite would report obscurely."""
    if path.is_dir():
        raise StoreError(
            f"the store {path} is a directory; set the store setting to a file in it, "
            f"such as {path / 'impactlib.db'}"
        )
    if path.is_file() and path.stat().st_size > 0:
        with path.open("rb") as fh:
            header = fh.read(len(_SQLITE_MAGIC))
        if header != _SQLITE_MAGIC:
            raise StoreError(
                f"the store {path} is not a SQLite database (another file, or a damaged "
                "one); move it aside or set the store setting to another file"
            )


def _create(path: Path) -> None:
    """Build a complete store under a temporary name and link it to ``path`` (or lose the
    race to another process that created it first, and use theirs)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.new")
    try:
        _connect(str(tmp)).close()  # the last close checkpoints and removes -wal/-shm
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links: a rename is the next best
            if not path.exists():
                os.replace(tmp, path)
    finally:
        for leftover in (tmp, *(Path(f"{tmp}{suffix}") for suffix in _SIDE_FILES)):
            leftover.unlink(missing_ok=True)


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
