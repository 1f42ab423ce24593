"""Copy a node's local store into the lab's central one: ``impactlib sync --to URL``.

Compute nodes are often offline, so trackers always write locally and a sync (by hand, from
cron, or on the daemon's timer) copies what the central store lacks. Three properties:

- **Idempotent.** Rows are upserted by their keys (run id; run, minute, component; host,
  minute, kind, name, domain) with the source's values, never added: syncing twice is
  syncing once.
- **Resumable.** Each run is copied in its own transaction with its series. An interrupted
  sync leaves whole runs behind; the next one compares ``updated_at`` stamps and carries on
  with what is missing or older.
- **Runs that were still running are caught up.** A run copied while running has an older
  ``updated_at`` in the central store, so the next sync copies its row again and the series
  rows from the last minute the central store holds on (that minute was still filling).

The daemon's per-minute aggregates (``host_minutes``) are copied the same way, per host from
the last minute the central store holds. The record's stored status is copied as it is: a
run left ``running`` by a killed process is shown as ``killed`` by the central store too,
from the silence of its ``updated_at``. Afterwards the central store's monthly rollups are
refreshed (:mod:`impactlib.store.rollup`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, NamedTuple

from .._time import iso_utc, now_utc
from ..masking import cleaned_config_json
from . import rollup, schema
from .base import Store, insert_params
from .records import RunRecord, SeriesRow

RUN_COLUMNS = (
    "id",
    "project",
    "experiment",
    "username",
    "host",
    "pid",
    "command",
    "git_commit",
    "started_at",
    "ended_at",
    "updated_at",
    "status",
    "save_interval",
    "duration_s",
    "energy_kwh",
    "emissions_kg",
    "config",
    "footprint",
    "model",
    "epochs",
)
_HOST_MINUTE_COLUMNS = (
    "host",
    "minute",
    "kind",
    "name",
    "domain",
    "energy_j",
    "floor_w",
    "quality",
)

_SELECT_STAMPS = "SELECT id, updated_at FROM runs"
_SELECT_FULL_RUN = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE id = :id"
_UPSERT_RUN = (
    f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in RUN_COLUMNS)}) ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in RUN_COLUMNS[1:])
)
_LAST_MINUTE = "SELECT MAX(minute) FROM series WHERE run_id = :run_id"
_DELETE_SERIES = "DELETE FROM series WHERE run_id = :run_id"
# Set-based deletes for a batch of ingested jobs: one statement per IN_CHUNK ids (SQLite
# before 3.32 allows 999 parameters per statement).
_DELETE_SERIES_OF = "DELETE FROM series WHERE run_id IN ({ids})"
_DELETE_MONTHS_OF = "DELETE FROM run_months WHERE run_id IN ({ids})"
IN_CHUNK = 900
_SELECT_SERIES_FROM = """SELECT run_id, minute, component, energy_j FROM series
    WHERE run_id = :run_id AND minute >= :minute"""
_SELECT_HOSTS = "SELECT DISTINCT host FROM host_minutes"
_LAST_HOST_MINUTE = "SELECT MAX(minute) FROM host_minutes WHERE host = :host"
_SELECT_HOST_MINUTES_FROM = f"""SELECT {", ".join(_HOST_MINUTE_COLUMNS)} FROM host_minutes
    WHERE host = :host AND minute >= :minute"""
# The source's value replaces the row (the daemon's own upsert adds increments; a copy must not).
_PUT_HOST_MINUTE = f"""INSERT INTO host_minutes ({", ".join(_HOST_MINUTE_COLUMNS)})
    VALUES ({", ".join(":" + c for c in _HOST_MINUTE_COLUMNS)})
    ON CONFLICT (host, minute, kind, name, domain) DO UPDATE SET
    energy_j = excluded.energy_j, floor_w = excluded.floor_w"""


class SyncResult(NamedTuple):
    """What one sync did."""

    copied: int  # runs the destination did not have
    updated: int  # runs it had in an older state
    unchanged: int
    series_rows: int
    host_minute_rows: int


Progress = Callable[[int, int], None]  # (runs done, runs to do)


def sync(source: Store, dest: Store, progress: Progress | None = None) -> SyncResult:
    """Copy what ``dest`` lacks from ``source`` (see the module docstring)."""
    theirs = {str(i): str(u) for i, u in dest.read(_SELECT_STAMPS, {})}
    ours = source.read(_SELECT_STAMPS, {})
    todo = [str(run_id) for run_id, stamp in ours if theirs.get(str(run_id), "") < str(stamp)]
    copied = updated = series_rows = 0
    for done, run_id in enumerate(todo, start=1):
        known = run_id in theirs
        series_rows += _copy_run(source, dest, run_id, known)
        copied += not known
        updated += known
        if progress is not None:
            progress(done, len(todo))
    host_rows = _copy_host_minutes(source, dest)
    rollup.refresh(dest)
    return SyncResult(copied, updated, len(ours) - len(todo), series_rows, host_rows)


def put_records(dest: Store, records: Sequence[RunRecord]) -> None:
    """Store finished records made elsewhere (an import) as they are, replacing any stored
    run of the same id, all in one transaction: every one of them or none."""
    rows = [_row(record) for record in records]
    if rows:
        dest.write([(_UPSERT_RUN, rows)])
        rollup.refresh(dest)


def put_runs(dest: Store, runs: Sequence[tuple[RunRecord, Sequence[SeriesRow]]]) -> None:
    """Store finished runs made from other accounting (``impactlib slurm ingest``) with
    their series, in place of any stored run of the same id and its series, all in one
    transaction: every one of them or none. Each is stamped now, so that rollups and syncs
    see the new figures."""
    stamp = iso_utc(now_utc(), timespec="microseconds")
    if not runs:
        return
    # One statement of each kind for the whole batch (an executemany, or a delete per
    # IN_CHUNK ids), not three per job: a server answers each statement, and an ingest of
    # 100,000 jobs made 300,000 of them.
    statements: list[tuple[str, Any]] = [
        (_UPSERT_RUN, [_row(replace(record, updated_at=stamp)) for record, _ in runs])
    ]
    ids = [record.id for record, _ in runs]
    for start in range(0, len(ids), IN_CHUNK):
        params = {f"id{i}": run_id for i, run_id in enumerate(ids[start : start + IN_CHUNK])}
        names = ", ".join(f":{name}" for name in params)
        statements += [
            (_DELETE_SERIES_OF.format(ids=names), params),
            (_DELETE_MONTHS_OF.format(ids=names), params),
        ]
    rows = [dict(vars(row)) for _, series in runs for row in series]  # asdict deep-copies
    if rows:
        statements.append((schema.UPSERT_SERIES, rows))
    dest.write(statements)
    rollup.refresh(dest)


def _row(record: RunRecord) -> dict[str, Any]:
    """The record's insert parameters plus what a finished run adds."""
    fp = record.footprint
    return {
        **insert_params(record, save_interval=0.0),
        "ended_at": record.ended_at,
        "status": record.status,
        "duration_s": fp.duration_s if fp else 0.0,
        "energy_kwh": fp.energy_kwh if fp else 0.0,
        "emissions_kg": fp.emissions_kg if fp else 0.0,
        "footprint": json.dumps(fp.to_dict()) if fp else None,
        "model": json.dumps(record.model) if record.model is not None else None,
        "epochs": json.dumps(list(record.epochs)),
    }


def _copy_run(source: Store, dest: Store, run_id: str, known: bool) -> int:
    """One run and its series (all of it, or from the last minute ``dest`` holds) in one
    transaction; returns the number of series rows copied."""
    row = dict(zip(RUN_COLUMNS, source.read(_SELECT_FULL_RUN, {"id": run_id})[0], strict=True))
    row["config"] = cleaned_config_json(row["config"])  # a run kept by an older version
    since = dest.read(_LAST_MINUTE, {"run_id": run_id})[0][0] if known else None
    series = source.read(_SELECT_SERIES_FROM, {"run_id": run_id, "minute": since or ""})
    statements: list[tuple[str, Any]] = [(_UPSERT_RUN, row)]
    if series:
        statements.append((schema.UPSERT_SERIES, [_series_params(r) for r in series]))
    dest.write(statements)
    return len(series)


def _series_params(row: Sequence[Any]) -> dict[str, Any]:
    return {"run_id": row[0], "minute": row[1], "component": row[2], "energy_j": row[3]}


def _copy_host_minutes(source: Store, dest: Store) -> int:
    """The daemon's rows, per host from the last minute ``dest`` holds, then that host's
    monthly rollup from the oldest month copied; returns the number of rows copied."""
    count = 0
    for (host,) in source.read(_SELECT_HOSTS, {}):
        since = dest.read(_LAST_HOST_MINUTE, {"host": host})[0][0] or ""
        rows = source.read(_SELECT_HOST_MINUTES_FROM, {"host": host, "minute": since})
        if not rows:
            continue
        dest.write(
            [(_PUT_HOST_MINUTE, [dict(zip(_HOST_MINUTE_COLUMNS, r, strict=True)) for r in rows])]
        )
        count += len(rows)
        rollup.reroll_host(dest, str(host), min(str(r[1])[:7] for r in rows))
    return count
