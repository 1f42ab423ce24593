"""Monthly rollups: what lab reports read instead of a year of per-minute rows.

A lab manager's monthly per-user report over a year of per-minute data from twenty servers
must take under a second on SQLite and PostgreSQL alike. Summing the series at report time
cannot (tens of millions of rows), so two small tables hold the sums by UTC month:

- ``run_months``: each run's figures split by month. A run's energy is split in proportion to
  its per-minute series, so a job that crosses midnight on the 31st lands in both months; its
  emissions, CPU/GPU-hours, duration and the ranges of its energy and emissions (bounds add:
  :mod:`impactlib.uncertainty`) follow the same shares (emissions are priced per
  minute but kept per run, so a month's share of them is proportional to its energy). A run
  without series (imported from CodeCarbon, or too short) lands in the month it started.
  Each row remembers the ``runs.updated_at`` it was computed from: a run checkpointed or
  synced since is *stale* and is rolled again, and only stale runs are.
- ``host_months``: the daemon's ``host_minutes`` summed per host and month: the machine's
  energy a meter read (``measured_j``), the machine's energy a model gave (``estimated_j``:
  a daemon that cannot read the CPU's counters models it, and that is never called
  measured) and the unattributed remainder (other users, the system, idle not held by
  anyone). The daemon writes its rows as increments, and the same transaction adds them to
  ``host_months`` (:func:`.schema.host_month_increments`, beside the statements the store
  runs), so this rollup is always current and a report never re-reads a month of minutes.
  A sync, which copies rows as values, rolls the months it touched again for those hosts
  (:func:`reroll_host`); a store filled before this rollup existed is rolled whole once, by
  the first refresh.

:func:`refresh` brings run rollups up to date and is cheap when nothing changed (one indexed
query); :func:`lab_totals` and :func:`unattributed` read them. SQL here is parameterised;
the only text put into it comes from the fixed :data:`DIMENSIONS` table, never from input.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ..footprint import Footprint, Quality
from ..units import J_PER_KWH
from . import slurmjobs

if TYPE_CHECKING:
    from .base import Store

# What a lab report can be grouped by, and the column each one is.
DIMENSIONS = {
    "user": "r.username",
    "project": "r.project",
    "experiment": "r.experiment",
    "host": "r.host",
    "month": "m.month",
}
# Read from a meter (all of a domain or a share of it); every other quality is not measured.
MEASURED_QUALITIES = tuple(q.value for q in Quality if q.metered)
_METERED_SQL = ", ".join(f"'{q}'" for q in MEASURED_QUALITIES)  # constants, never input
_CHUNK = 500  # runs rolled per transaction, and ids per IN (...) list
_BULK = 2_000  # from this many stale runs on, one pass over all series beats one per run
FIRST_MONTH, LAST_MONTH = "0000-00", "9999-99"

# A superseded SLURM accounting record (store/slurmjobs.py) has no months: it is never stale.
_SELECT_STALE = """SELECT r.id FROM runs r WHERE NOT EXISTS (SELECT 1 FROM run_months m
    WHERE m.run_id = r.id AND m.run_updated_at = r.updated_at) AND r.config NOT LIKE :marked"""
_SELECT_RUNS = """SELECT id, updated_at, started_at, duration_s, energy_kwh, emissions_kg,
    footprint FROM runs WHERE id IN ({ids})"""
_SERIES_MONTHS = """SELECT run_id, substr(minute, 1, 7), SUM(energy_j) FROM series
    WHERE run_id IN ({ids}) GROUP BY 1, 2"""
_ALL_SERIES_MONTHS = "SELECT run_id, substr(minute, 1, 7), SUM(energy_j) FROM series GROUP BY 1, 2"
_DELETE_RUN_MONTHS = "DELETE FROM run_months WHERE run_id = :run_id"
_INSERT_RUN_MONTH = """INSERT INTO run_months (run_id, month, energy_kwh, emissions_kg,
    measured_kwh, estimated_kwh, cpu_hours, gpu_hours, duration_s, run_updated_at,
    energy_low_kwh, energy_high_kwh, emissions_low_kg, emissions_high_kg)
    VALUES (:run_id, :month, :energy_kwh, :emissions_kg, :measured_kwh, :estimated_kwh,
    :cpu_hours, :gpu_hours, :duration_s, :run_updated_at, :energy_low_kwh, :energy_high_kwh,
    :emissions_low_kg, :emissions_high_kg)
    ON CONFLICT (run_id, month) DO UPDATE SET energy_kwh = excluded.energy_kwh,
    emissions_kg = excluded.emissions_kg, measured_kwh = excluded.measured_kwh,
    estimated_kwh = excluded.estimated_kwh, cpu_hours = excluded.cpu_hours,
    gpu_hours = excluded.gpu_hours, duration_s = excluded.duration_s,
    run_updated_at = excluded.run_updated_at, energy_low_kwh = excluded.energy_low_kwh,
    energy_high_kwh = excluded.energy_high_kwh, emissions_low_kg = excluded.emissions_low_kg,
    emissions_high_kg = excluded.emissions_high_kg"""
_ANY_HOST_MONTH = "SELECT 1 FROM host_months LIMIT 1"
_ANY_HOST_MINUTE = "SELECT 1 FROM host_minutes LIMIT 1"
_DELETE_HOST_MONTHS = "DELETE FROM host_months WHERE host = :host AND month >= :month"
_ROLL_ALL_HOST_MONTHS = f"""INSERT INTO host_months (host, month, measured_j, estimated_j,
    unattributed_j)
    SELECT host, substr(minute, 1, 7),
    SUM(CASE WHEN kind = 'machine' AND quality IN ({_METERED_SQL}) THEN energy_j ELSE 0 END),
    SUM(CASE WHEN kind = 'machine' AND quality NOT IN ({_METERED_SQL}) THEN energy_j
        ELSE 0 END),
    SUM(CASE WHEN kind = 'unattributed' THEN energy_j ELSE 0 END)
    FROM host_minutes WHERE {{where}} GROUP BY 1, 2
    ON CONFLICT (host, month) DO UPDATE SET measured_j = excluded.measured_j,
    estimated_j = excluded.estimated_j, unattributed_j = excluded.unattributed_j"""
_ROLL_HOST_MONTHS = _ROLL_ALL_HOST_MONTHS.format(where="host = :host AND minute >= :month")
_ROLL_ALL_HOST_MONTHS = _ROLL_ALL_HOST_MONTHS.format(where="1 = 1")


class MonthShare(NamedTuple):
    """One ``run_months`` row."""

    run_id: str
    month: str
    energy_kwh: float
    emissions_kg: float
    measured_kwh: float
    estimated_kwh: float
    cpu_hours: float
    gpu_hours: float
    duration_s: float
    run_updated_at: str
    energy_low_kwh: float
    energy_high_kwh: float
    emissions_low_kg: float
    emissions_high_kg: float


class LabTotal(NamedTuple):
    """One line of a lab report: the values of the grouping dimensions and the sums.

    ``runs`` counts distinct runs (a run that crosses a month counts in both months' lines
    and once in a line over both). Energies include PUE. ``measured_kwh`` is the energy a
    meter read (quality measured or attributed), ``estimated_kwh`` the rest (modelled,
    estimated from accounting, imported from another tool). The ``_low``/``_high`` figures
    are the ranges of energy and emissions, their runs' bounds added.
    """

    keys: dict[str, str]
    runs: int
    energy_kwh: float
    emissions_kg: float
    measured_kwh: float
    estimated_kwh: float
    cpu_hours: float
    gpu_hours: float
    duration_s: float
    energy_low_kwh: float
    energy_high_kwh: float
    emissions_low_kg: float
    emissions_high_kg: float


class Unattributed(NamedTuple):
    """A server's energy that no run was charged, per host and/or month (before PUE):
    ``measured_kwh`` of the machine a meter read, ``estimated_kwh`` a model gave."""

    keys: dict[str, str]
    measured_kwh: float
    unattributed_kwh: float
    estimated_kwh: float


class Selection(NamedTuple):
    """Which runs a lab report covers: months inclusive (``YYYY-MM``), and optional filters."""

    since: str = FIRST_MONTH
    until: str = LAST_MONTH
    project: str | None = None
    experiment: str | None = None
    user: str | None = None
    host: str | None = None


def refresh(store: Store) -> int:
    """Roll stale runs (and host months, if never rolled); returns how many runs were rolled."""
    stale = [str(row[0]) for row in store.read(_SELECT_STALE, {"marked": slurmjobs.MARKED_LIKE})]
    # New tracker runs of SLURM jobs supersede the jobs' accounting records, whose months go.
    superseded = set(slurmjobs.mark_superseded(store, stale))
    stale = [run_id for run_id in stale if run_id not in superseded]
    bulk = _all_series_months(store) if len(stale) >= _BULK else None
    for start in range(0, len(stale), _CHUNK):
        chunk = stale[start : start + _CHUNK]
        months = bulk if bulk is not None else _series_months(store, chunk)
        rows = [share._asdict() for run in _runs(store, chunk) for share in _shares(run, months)]
        statements: list[tuple[str, Any]] = [
            (_DELETE_RUN_MONTHS, [{"run_id": run_id} for run_id in chunk])
        ]
        if rows:  # none only if the runs were deleted meanwhile
            statements.append((_INSERT_RUN_MONTH, rows))
        store.write(statements)
    if not store.read(_ANY_HOST_MONTH, {}) and store.read(_ANY_HOST_MINUTE, {}):
        store.write([(_ROLL_ALL_HOST_MONTHS, {})])
    return len(stale)


def _in_list(ids: Sequence[str]) -> tuple[str, dict[str, str]]:
    """Placeholders and parameters for ``IN (...)``: generated names, values bound."""
    params = {f"id{i}": run_id for i, run_id in enumerate(ids)}
    return ", ".join(f":{name}" for name in params), params


def _runs(store: Store, ids: Sequence[str]) -> list[Sequence[Any]]:
    placeholders, params = _in_list(ids)
    return store.read(_SELECT_RUNS.format(ids=placeholders), params)


def _series_months(store: Store, ids: Sequence[str]) -> dict[str, dict[str, float]]:
    placeholders, params = _in_list(ids)
    return _by_run(store.read(_SERIES_MONTHS.format(ids=placeholders), params))


def _all_series_months(store: Store) -> dict[str, dict[str, float]]:
    return _by_run(store.read(_ALL_SERIES_MONTHS, {}))


def _by_run(rows: Iterable[Sequence[Any]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for run_id, month, joules in rows:
        out.setdefault(str(run_id), {})[str(month)] = float(joules or 0.0)
    return out


def _shares(run: Sequence[Any], months: Mapping[str, Mapping[str, float]]) -> list[MonthShare]:
    """A run's figures split over the months of its series (or its start month)."""
    run_id, updated_at, started_at, duration_s, energy_kwh, emissions_kg, footprint = run
    fp = json.loads(footprint) if footprint else {}
    measured_j = sum(
        c.get("energy_j", 0.0)
        for c in fp.get("components", ())
        if c.get("quality") in MEASURED_QUALITIES
    )
    total_j = sum(c.get("energy_j", 0.0) for c in fp.get("components", ()))
    measured_part = measured_j / total_j if total_j > 0 else 0.0
    per_month = {m: j for m, j in months.get(str(run_id), {}).items() if j > 0}
    series_j = sum(per_month.values())
    weights = (
        {m: j / series_j for m, j in per_month.items()} if series_j > 0 else {started_at[:7]: 1.0}
    )
    energy = float(energy_kwh or 0.0)
    bounds = _bounds(fp, energy, float(emissions_kg or 0.0))
    return [
        MonthShare(
            str(run_id),
            month,
            energy * weight,
            float(emissions_kg or 0.0) * weight,
            energy * weight * measured_part,
            energy * weight * (1.0 - measured_part),
            float(fp.get("cpu_hours", 0.0)) * weight,
            float(fp.get("gpu_hours", 0.0)) * weight,
            float(duration_s or 0.0) * weight,
            str(updated_at),
            *(bound * weight for bound in bounds),
        )
        for month, weight in sorted(weights.items())
    ]


def _bounds(fp: Mapping[str, Any], energy_kwh: float, emissions_kg: float) -> tuple[float, ...]:
    """(energy low, energy high, emissions low, emissions high) of a stored footprint (kWh
    with PUE, kg): stored, or derived from its methods for a record from before ranges."""
    if not fp:
        return energy_kwh, energy_kwh, emissions_kg, emissions_kg
    stored = _stored_bounds(fp)
    if stored is not None:
        return stored
    from ..uncertainty import footprint_range

    ranges = footprint_range(Footprint.from_dict(fp))
    return (
        ranges.energy_low_kwh,
        ranges.energy_high_kwh,
        ranges.emissions_low_kg,
        ranges.emissions_high_kg,
    )


def _stored_bounds(fp: Mapping[str, Any]) -> tuple[float, ...] | None:
    """The bounds a record stored (every component's, and its emissions'), added by the
    documented rule (:func:`impactlib.uncertainty.sum_bounds`) without rebuilding the
    footprint: a rollup of 100,000 ingested jobs spent a tenth of its time doing so. None
    where any is missing (a record from before ranges: derived instead)."""
    parts = fp.get("components") or ()
    values = [
        *(c.get("low_j") for c in parts),
        *(c.get("high_j") for c in parts),
        fp.get("emissions_low_kg"),
        fp.get("emissions_high_kg"),
    ]
    numbers = [float(v) for v in values if isinstance(v, (int, float))]
    if len(numbers) != len(values):
        return None
    n, per_kwh = len(parts), float(fp.get("pue", 1.0)) / J_PER_KWH
    low, high = sum(numbers[:n]) * per_kwh, sum(numbers[n : 2 * n]) * per_kwh
    return low, high, numbers[-2], numbers[-1]


def reroll_host(store: Store, host: str, month: str) -> None:
    """Roll ``host``'s months from ``month`` (``YYYY-MM``) on again from its minutes."""
    # A month's stamps start with "YYYY-MM", so every stamp of that month sorts at or after it.
    params = {"host": host, "month": month}
    store.write([(_DELETE_HOST_MONTHS, params), (_ROLL_HOST_MONTHS, params)])


def _dims(by: Sequence[str]) -> list[str]:
    unknown = [d for d in by if d not in DIMENSIONS]
    if unknown:  # the CLI checks first; this guards the SQL text
        raise ValueError(f"unknown dimension(s) {', '.join(unknown)}")
    return [DIMENSIONS[d] for d in by]


def lab_totals(store: Store, by: Sequence[str], selection: Selection) -> list[LabTotal]:
    """Sums per combination of ``by`` (none: one overall line), from the rollups."""
    columns = _dims(by)
    select = ", ".join([*columns, ""]) if columns else ""
    group = f"GROUP BY {', '.join(columns)} ORDER BY {', '.join(columns)}" if columns else ""
    sql = f"""SELECT {select} COUNT(DISTINCT m.run_id), COALESCE(SUM(m.energy_kwh), 0),
        COALESCE(SUM(m.emissions_kg), 0), COALESCE(SUM(m.measured_kwh), 0),
        COALESCE(SUM(m.estimated_kwh), 0), COALESCE(SUM(m.cpu_hours), 0),
        COALESCE(SUM(m.gpu_hours), 0), COALESCE(SUM(m.duration_s), 0),
        COALESCE(SUM(m.energy_low_kwh), 0), COALESCE(SUM(m.energy_high_kwh), 0),
        COALESCE(SUM(m.emissions_low_kg), 0), COALESCE(SUM(m.emissions_high_kg), 0)
        FROM run_months m JOIN runs r ON r.id = m.run_id
        WHERE m.month >= :since AND m.month <= :until
        AND (:project IS NULL OR r.project = :project)
        AND (:experiment IS NULL OR r.experiment = :experiment)
        AND (:user IS NULL OR r.username = :user)
        AND (:host IS NULL OR r.host = :host) {group}"""
    rows = store.read(sql, selection._asdict())
    out = []
    for row in rows:
        keys = {d: str(v) for d, v in zip(by, row[: len(by)], strict=True)}
        figures = row[len(by) :]
        if int(figures[0]) == 0 and not by:
            continue  # nothing selected: no overall line of zeros
        out.append(LabTotal(keys, int(figures[0]), *(float(v) for v in figures[1:])))
    return out


def unattributed(store: Store, by: Sequence[str], selection: Selection) -> list[Unattributed]:
    """The servers' energy no run was charged, grouped by the ``host``/``month`` of ``by``.

    Only what the daemon recorded (``host_minutes``) is known; none when a report is
    restricted to a project, experiment or user, which that energy does not belong to.
    """
    if any(v is not None for v in (selection.project, selection.experiment, selection.user)):
        return []
    kept = [d for d in by if d in ("host", "month")]
    columns = [f"h.{d}" for d in kept]
    group = f"GROUP BY {', '.join(columns)} ORDER BY {', '.join(columns)}" if columns else ""
    select = ", ".join([*columns, ""]) if columns else ""
    sql = f"""SELECT {select} COUNT(*), COALESCE(SUM(h.measured_j), 0),
        COALESCE(SUM(h.unattributed_j), 0), COALESCE(SUM(h.estimated_j), 0) FROM host_months h
        WHERE h.month >= :since AND h.month <= :until
        AND (:host IS NULL OR h.host = :host) {group}"""
    params = {"since": selection.since, "until": selection.until, "host": selection.host}
    out = []
    for row in store.read(sql, params):
        count, measured_j, unattributed_j, estimated_j = row[len(kept) :]
        if int(count) == 0:
            continue
        keys = {d: str(v) for d, v in zip(kept, row[: len(kept)], strict=True)}
        out.append(
            Unattributed(
                keys,
                float(measured_j) / J_PER_KWH,
                float(unattributed_j) / J_PER_KWH,
                float(estimated_j) / J_PER_KWH,
            )
        )
    return out


def dimension_values(store: Store, dimension: str) -> list[str]:
    """Every value of one dimension in the store (the dashboard's filter choices)."""
    column = _dims([dimension])[0].replace("r.", "").replace("m.", "")
    table = "run_months" if dimension == "month" else "runs"
    sql = f"SELECT DISTINCT {column} FROM {table} ORDER BY {column}"
    return [str(row[0]) for row in store.read(sql, {})]


def daemon_hosts(store: Store) -> list[str]:
    """The hosts the daemon measured (from the rollup: a year of minutes is not scanned)."""
    refresh(store)
    return [str(row[0]) for row in store.read(_DAEMON_HOSTS, {})]


_DAEMON_HOSTS = "SELECT DISTINCT host FROM host_months ORDER BY host"
