"""Where stores live when no setting says: the user's own store and the fallback stores."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

FALLBACK_NAME = "impactlib-fallback.db"


def default_store_path() -> Path:
    """The default SQLite file (platformdirs user data directory)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("impactlib")) / "impactlib.db"


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
