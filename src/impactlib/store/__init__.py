"""Where runs are kept: SQLite by default, any SQLAlchemy URL for a lab's central database.

``open_store(config)`` picks the back-end from ``config.store``: nothing -> the default
SQLite file in the user data directory; a path -> SQLite there; a URL with ``://`` ->
SQLAlchemy (``postgresql://...``; needs ``pip install 'impactlib[postgres]'``). Any failure
to open is a :class:`~impactlib.errors.StoreError`.

``verify=True`` (what a tracker asks for, once, when it opens its store) also checks a SQLite
file's integrity, so that a damaged store is never written to and reported as "saved to".

A tracker whose store fails (damaged, unwritable, unreachable) keeps measuring into a
fallback store (:mod:`impactlib.store.fallback`), which ``report`` and ``sync`` read too.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import StoreError
from .base import Store
from .fallback import open_fallback_store
from .paths import default_store_path, fallback_store_paths
from .records import STATUSES, RunRecord, SeriesRow, with_liveness

if TYPE_CHECKING:
    from ..config import Config

__all__ = [
    "STATUSES",
    "RunRecord",
    "SeriesRow",
    "Store",
    "default_store_path",
    "fallback_store_paths",
    "missing_directory",
    "open_fallback_store",
    "open_store",
    "with_liveness",
]


def open_store(config: Config | str | None, *, verify: bool = False) -> Store:
    """Open (creating if needed) the store named by the configuration or a path/URL;
    ``verify``: refuse a SQLite file that fails SQLite's quick integrity check (about 10 ms
    for a 10 MB store), as a writer must."""
    target = config if isinstance(config, str) or config is None else config.store
    if target and "://" in target:
        from .sqlalchemy import SqlAlchemyStore

        return SqlAlchemyStore(target)  # opening it checks that the server answers
    from .sqlite import SqliteStore

    return SqliteStore(_sqlite_path(target) if target else default_store_path(), verify=verify)


def missing_directory(target: str) -> Path | None:
    """The directory a SQLite store path names that does not exist (None for a URL, or a
    directory that exists). A store given on the command line is never created in a new
    directory: a mistyped ``--store`` would silently start a second store there."""
    if "://" in target:
        return None
    folder = _sqlite_path(target).parent
    return None if folder.is_dir() else folder


def _sqlite_path(target: str) -> Path:
    try:
        return Path(target).expanduser()
    except RuntimeError as exc:  # "~user" of an unknown user, or no home directory
        raise StoreError(f"the store path {target} names an unknown home directory") from exc
