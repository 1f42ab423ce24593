"""The one way impactlib writes a whole file: atomically, with the mode the user expects.

A reader (another tracker, a report, a person's editor) must never see a half-written file,
so the text goes to a temporary file in the same directory and is renamed over the target.
``tempfile.mkstemp`` creates that file 0600; the result should get the mode any new file of
the user's gets (0644 under umask 022), so the mode is set from the umask before the rename.
The directory must exist: creating a missing one would hide a typo in an output path.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ImpactError


def _umask() -> int:
    # There is no way to read the umask without setting it; set it back at once.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, data: str | bytes, *, mode: int | None = None) -> Path:
    """Write ``data`` to ``path`` atomically; ``mode`` defaults to ``0o666 & ~umask``.

    Raises :class:`~impactlib.errors.ImpactError` naming the path when its directory is
    missing or not writable (the caller decides whether that is fatal).
    """
    import tempfile

    target = Path(path).expanduser()
    folder = target.parent
    if not folder.is_dir():
        raise ImpactError(f"{folder}: no such directory; create it first or choose another path")
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise ImpactError(
            f"{folder}: cannot write there ({exc.strerror}); choose a writable directory"
        ) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.chmod(tmp, (0o666 & ~_umask()) if mode is None else mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
