"""Where runs are kept: SQLite by default, any SQLAlchemy URL for a lab's central database.

``open_store(config)`` picks the back-end from ``config.store``: nothing -> the default
SQLite file in the user data directory; a path -> SQLite there; a URL with ``://`` ->
SQLAlchemy (``postgresql://...``; needs ``pip install 'impactlib[postgres]'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .base import Store
from .records import STATUSES, RunRecord, SeriesRow

if TYPE_CHECKING:
    from ..config import Config

__all__ = ["STATUSES", "RunRecord", "SeriesRow", "Store", "default_store_path", "open_store"]


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

    return SqliteStore(Path(target).expanduser() if target else default_store_path())
