"""Fallback stores: where a run goes when its store fails, and how it is found again.

A tracker whose configured store is damaged, unwritable or unreachable must keep measuring
(the library never kills the training it watches) and must not report the run as saved
where it is not. :func:`open_fallback_store` gives it a store that works: a SQLite file in
a fixed per-user place (:func:`fallback_store_paths`), or else memory. Each record keeps the
store it was meant for (``config["values"]["store"]``), so ``report`` shows a fallback's
runs beside the runs of the store they were meant for (:func:`kept_runs`), and ``sync``
copies every fallback run to the lab's store (:func:`existing_fallback_stores`); each says
so in one line.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ..errors import StoreError
from ..masking import masked_url
from .paths import default_store_path, fallback_store_paths

if TYPE_CHECKING:
    from .base import Store
    from .records import RunRecord


def _ensure_own_dir(folder: Path) -> None:
    """Create ``folder`` private to this user, or refuse one somebody else owns: in a shared
    temp dir anyone could have made the name first, to read or replace our records."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.lstat()
    except OSError as exc:
        raise StoreError(f"cannot create {folder} ({exc.strerror})") from exc
    _refuse_foreign(folder, info)


def _refuse_foreign(folder: Path, info: os.stat_result) -> None:
    foreign = hasattr(os, "getuid") and info.st_uid != os.getuid()
    if not stat.S_ISDIR(info.st_mode) or foreign:
        raise StoreError(f"{folder} is not a directory of this user's")


def open_fallback_store() -> Store:
    """A working store for when the configured one cannot be used; never raises.

    Tries :func:`fallback_store_paths` in order; if none can be opened, an in-memory SQLite
    store, whose records live only as long as the process (the figures stay on the tracker
    object). Either way ``location`` says where, in words a warning can quote.
    """
    from .sqlite import SqliteStore

    failures = []
    for path in fallback_store_paths():
        try:
            _ensure_own_dir(path.parent)
            return SqliteStore(path, verify=True)
        except StoreError as exc:
            failures.append(str(exc))
    store = SqliteStore(None)
    store.location = f"memory only (no fallback file could be opened: {'; '.join(failures)})"
    return store


def existing_fallback_stores() -> list[Store]:
    """The fallback stores that exist and open, in this user's own directories (looking
    creates nothing; one that cannot be read is left out: it holds nothing to show)."""
    from .sqlite import SqliteStore

    stores: list[Store] = []
    for path in fallback_store_paths():
        try:
            _refuse_foreign(path.parent, path.parent.lstat())
            if path.is_file():
                stores.append(SqliteStore(path))
        except (OSError, StoreError):
            continue
    return stores


def store_key(setting: str | None) -> str:
    """The store a setting names, in one spelling: the default file for none, a URL without
    its password, an absolute path."""
    if not setting:
        return str(default_store_path())
    if "://" in setting:
        return masked_url(setting)
    return str(Path(setting).expanduser().absolute())


class KeptRuns(NamedTuple):
    """Runs kept in fallback stores for a store that lacks them, and where they are."""

    records: list[RunRecord]
    store: str  # the store they were meant for
    fallbacks: list[str]  # the fallback stores that hold them

    def notice(self, shown: bool) -> str | None:
        """The one line that says so: they are shown (``shown``) or they are not counted,
        and how to copy them where they belong; None when there are none."""
        if not self.records:
            return None
        how = f"`impactlib sync --store {self.fallbacks[0]} --to STORE` copies them there"
        where = ", ".join(self.fallbacks)
        if shown:
            return (
                f"also showing {len(self.records)} run(s) meant for {self.store}, kept in the "
                f"fallback store {where} when it could not take them; {how}"
            )
        return (
            f"{len(self.records)} run(s) meant for {self.store} are kept in the fallback store "
            f"{where} and not counted here; {how}"
        )


def kept_runs(
    store: Store,
    project: str | None = None,
    experiment: str | None = None,
    run: str | None = None,
) -> KeptRuns:
    """The fallback stores' runs that were meant for ``store`` and that it lacks (a run
    copied back is not counted twice), of one project, experiment or run (id or prefix)."""
    wanted = store_key(store.location)
    found: list[RunRecord] = []
    where: list[str] = []
    for fallback in existing_fallback_stores():
        if store_key(fallback.location) == wanted:
            fallback.close()
            continue
        try:
            candidates = fallback.list_runs(project=project, experiment=experiment)
        except StoreError:
            continue
        finally:
            fallback.close()
        mine = [
            r
            for r in candidates
            if (run is None or r.id.startswith(run))
            and _meant_for(r) == wanted
            and store.get_run(r.id) is None
        ]
        if mine:
            found += mine
            where.append(fallback.location)
    return KeptRuns(found, store.location, where)


def _meant_for(record: RunRecord) -> str:
    values = record.config.get("values") if isinstance(record.config, dict) else None
    setting = values.get("store") if isinstance(values, dict) else None
    return store_key(setting if isinstance(setting, str) else None)
