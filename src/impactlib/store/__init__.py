"""Where runs are kept: SQLite by default, any SQLAlchemy URL for a lab's central database.

``open_store(config)`` picks the back-end from ``config.store``: nothing -> the default
SQLite file in the user data directory; a path -> SQLite there; a URL with ``://`` ->
SQLAlchemy (``postgresql://...``; needs ``pip install 'impactlib[postgres]'``). Any failure
to open is a :class:`~impactlib.errors.StoreError`.

``open_fallback_store()`` is for the library, which must keep measuring when the configured
store cannot be opened: it returns a store that works, a SQLite file in a fixed place
(:func:`fallback_store_paths`) or else memory, whose ``location`` the warning can name.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import StoreError
from .base import Store
from .records import STATUSES, RunRecord, SeriesRow

if TYPE_CHECKING:
    from ..config import Config

__all__ = [
    "STATUSES",
    "RunRecord",
    "SeriesRow",
    "Store",
    "default_store_path",
    "fallback_store_paths",
    "open_fallback_store",
    "open_store",
]

FALLBACK_NAME = "impactlib-fallback.db"


def default_store_path() -> Path:
    """The default SQLite file (platformdirs user data directory)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("impactlib")) / "impactlib.db"


def open_store(config: Config | str | None) -> Store:
    """Open (creating if needed) the store named by the configuration or a path/URL."""
    target = config if isinstance(config, str) or config is None else config.store
    if target and "://" in target:
        from .sqlalchemy import SqlAlchemyStore

        return SqlAlchemyStore(target)
    from .sqlite import SqliteStore

    return SqliteStore(_sqlite_path(target) if target else default_store_path())


def _sqlite_path(target: str) -> Path:
    try:
        return Path(target).expanduser()
    except RuntimeError as exc:  # "~user" of an unknown user, or no home directory
        raise StoreError(f"the store path {target} names an unknown home directory") from exc


def fallback_store_paths() -> list[Path]:
    """Where a fallback store is tried, in order: the user data directory, then a
    per-user directory under the system temp dir (for a read-only or full home)."""
    import tempfile

    import platformdirs

    paths = [Path(platformdirs.user_data_dir("impactlib")) / FALLBACK_NAME]
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    with contextlib.suppress(OSError):  # no usable temp dir at all: memory is what is left
        paths.append(Path(tempfile.gettempdir()) / f"impactlib-{uid}" / FALLBACK_NAME)
    return paths


def _ensure_own_dir(folder: Path) -> None:
    """Create ``folder`` private to this user, or refuse one somebody else owns: in a shared
    temp dir anyone could have made the name first, to read or replace our records."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.lstat()
    except OSError as exc:
        raise StoreError(f"cannot create {folder} ({exc.strerror})") from exc
    foreign = hasattr(os, "getuid") and info.st_uid != os.getuid()
    if not stat.S_ISDIR(info.st_mode) or foreign:
        raise StoreError(f"{folder} is not a directory of this user's")


def open_fallback_store() -> Store:
    """A working store for when the configured one cannot be opened; never raises.

    Tries :func:`fallback_store_paths` in order; if none can be opened, an in-memory SQLite
    store, whose records live only as long as the process (the figures stay on the tracker
    object). Either way ``location`` says where, in words a warning can quote.
    """
    from .sqlite import SqliteStore

    failures = []
    for path in fallback_store_paths():
        try:
            _ensure_own_dir(path.parent)
            return SqliteStore(path)
        except StoreError as exc:
            failures.append(str(exc))
    store = SqliteStore(None)
    store.location = f"memory only (no fallback file could be opened: {'; '.join(failures)})"
    return store
