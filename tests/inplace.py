"""A file rewritten in place, as the kernel shows a new value in sysfs or ``/proc``: the same
inode, so a reader that keeps its descriptor open (``pread`` at offset 0) sees it."""

from __future__ import annotations

import os
from pathlib import Path


def rewrite(path: Path, text: str, width: int = 0) -> None:
    """Replace the content of ``path`` (made if missing), padded to ``width`` with spaces."""
    data = text.ljust(width).encode() if width else text.encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)
