"""SQLite back-end with the standard library (no SQLAlchemy import on the hot path).

WAL mode lets readers run beside the writer; every write is one short ``BEGIN IMMEDIATE``
transaction (taking the write lock up front avoids the read-to-write upgrade deadlock that
surfaces as "database is locked"), and a generous busy timeout queues concurrent trackers.
``synchronous=NORMAL`` in WAL keeps commits durable against a process kill (only an OS crash
can lose the last transactions).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import StoreError
from . import schema
from .base import Row, Store

BUSY_TIMEOUT_MS = 60_000


class SqliteStore(Store):
    """A SQLite file shared by every tracker of a user (or of a lab on one machine)."""

    def __init__(self, path: Path) -> None:
        self.location = str(path)
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                str(path),
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._retry(lambda: self._conn.execute("PRAGMA journal_mode = WAL"))
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._write([(sql, {}) for sql in schema.CREATE])
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"cannot open the store at {path} ({exc}); choose a writable path with "
                "--store/IMPACTLIB_STORE or fix the directory's permissions"
            ) from None

    @staticmethod
    def _retry(action: Any) -> Any:
        # The busy handler covers ordinary contention; a few retries also cover the brief
        # exclusive lock taken while another process switches a new file to WAL.
        for attempt in range(50):
            try:
                return action()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or attempt == 49:
                    raise
                time.sleep(0.05 + 0.01 * attempt)
        return None

    def _write(
        self, statements: Iterable[tuple[str, Mapping[str, Any] | Sequence[Mapping[str, Any]]]]
    ) -> None:
        batch = list(statements)

        def transaction() -> None:
            with self._lock:
                cur = self._conn.cursor()
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

        try:
            self._retry(transaction)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write the store at {self.location} ({exc})") from None

    def _query(self, sql: str, params: Mapping[str, Any]) -> list[Row]:
        with self._lock:
            try:
                return list(self._conn.execute(sql, dict(params)).fetchall())
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read the store at {self.location} ({exc})") from None

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()
