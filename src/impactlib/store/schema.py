"""The one schema and the SQL statements, shared by SQLite and PostgreSQL.

Statements use ``:name`` parameters, which both ``sqlite3`` and SQLAlchemy's ``text()``
understand, and the ``INSERT ... ON CONFLICT`` upsert both databases support, so the two
back-ends run literally the same SQL (always parameterised, never built from input).

:data:`VERSION` is stamped in SQLite's ``PRAGMA user_version``: a later release that changes
the layout bumps it and migrates older files, and an older release refuses a newer file
instead of misreading it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from ..footprint import Quality

# 2: host_minutes (the daemon's per-minute aggregates); 3: their quality (ADDED_COLUMNS);
# 4: budgets (a table only)
VERSION = 4

CREATE = (
    """CREATE TABLE IF NOT EXISTS runs (
        id TEXT PRIMARY KEY,
        project TEXT NOT NULL,
        experiment TEXT NOT NULL,
        username TEXT NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        command TEXT NOT NULL,
        git_commit TEXT,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        updated_at TEXT NOT NULL,
        status TEXT NOT NULL,
        save_interval DOUBLE PRECISION NOT NULL,
        duration_s DOUBLE PRECISION NOT NULL DEFAULT 0,
        energy_kwh DOUBLE PRECISION NOT NULL DEFAULT 0,
        emissions_kg DOUBLE PRECISION NOT NULL DEFAULT 0,
        config TEXT NOT NULL,
        footprint TEXT,
        model TEXT,
        epochs TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS runs_project ON runs (project, started_at)",
    """CREATE TABLE IF NOT EXISTS series (
        run_id TEXT NOT NULL,
        minute TEXT NOT NULL,
        component TEXT NOT NULL,
        energy_j DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (run_id, minute, component)
    )""",
    """CREATE TABLE IF NOT EXISTS floors (
        host TEXT NOT NULL,
        domain TEXT NOT NULL,
        watts DOUBLE PRECISION NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (host, domain)
    )""",
    """CREATE TABLE IF NOT EXISTS host_minutes (
        host TEXT NOT NULL,
        minute TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        domain TEXT NOT NULL,
        energy_j DOUBLE PRECISION NOT NULL,
        floor_w DOUBLE PRECISION,
        quality TEXT NOT NULL DEFAULT 'measured',
        PRIMARY KEY (host, minute, kind, name, domain)
    )""",
    # Lab reports' rollups (store/rollup.py). run_months: each run's figures split by UTC month
    # ("YYYY-MM"), PUE included, computed from runs.updated_at = run_updated_at (stale if not).
    """CREATE TABLE IF NOT EXISTS run_months (
        run_id TEXT NOT NULL,
        month TEXT NOT NULL,
        energy_kwh DOUBLE PRECISION NOT NULL,
        emissions_kg DOUBLE PRECISION NOT NULL,
        measured_kwh DOUBLE PRECISION NOT NULL,
        estimated_kwh DOUBLE PRECISION NOT NULL,
        cpu_hours DOUBLE PRECISION NOT NULL,
        gpu_hours DOUBLE PRECISION NOT NULL,
        duration_s DOUBLE PRECISION NOT NULL,
        run_updated_at TEXT NOT NULL,
        energy_low_kwh DOUBLE PRECISION NOT NULL DEFAULT 0,
        energy_high_kwh DOUBLE PRECISION NOT NULL DEFAULT 0,
        emissions_low_kg DOUBLE PRECISION NOT NULL DEFAULT 0,
        emissions_high_kg DOUBLE PRECISION NOT NULL DEFAULT 0,
        PRIMARY KEY (run_id, month)
    )""",
    "CREATE INDEX IF NOT EXISTS run_months_month ON run_months (month)",
    # host_months: host_minutes summed per host and month (J): the machine's energy a meter
    # read (measured_j) or a model gave (estimated_j), and the unattributed remainder.
    """CREATE TABLE IF NOT EXISTS host_months (
        host TEXT NOT NULL,
        month TEXT NOT NULL,
        measured_j DOUBLE PRECISION NOT NULL,
        unattributed_j DOUBLE PRECISION NOT NULL,
        estimated_j DOUBLE PRECISION NOT NULL DEFAULT 0,
        PRIMARY KEY (host, month)
    )""",
    # budgets (store/budgets.py): at most one per target, period and unit. scope is lab,
    # project, user or account (a SLURM account), name '' for the lab; period is a UTC year
    # "YYYY" or month "YYYY-MM"; unit "kg" (CO2e) or "kWh".
    """CREATE TABLE IF NOT EXISTS budgets (
        scope TEXT NOT NULL,
        name TEXT NOT NULL,
        period TEXT NOT NULL,
        unit TEXT NOT NULL,
        amount DOUBLE PRECISION NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (scope, name, period, unit)
    )""",
)

# Columns added to tables that stores of an earlier schema already hold (schema 3), each with
# the statements that add and fill it there: daemons before schema 3 stored no quality, and
# their only modelled domains were the estimation models' ``cpu:model`` and ``memory:model``;
# host_months is emptied so that the next refresh rolls it again, split by quality.
ADDED_COLUMNS = (
    (
        "host_minutes",
        "quality",
        (
            "ALTER TABLE host_minutes ADD COLUMN quality TEXT NOT NULL DEFAULT 'measured'",
            "UPDATE host_minutes SET quality = 'estimated' "
            "WHERE domain IN ('cpu:model', 'memory:model')",
        ),
    ),
    (
        "host_months",
        "estimated_j",
        (
            "ALTER TABLE host_months ADD COLUMN estimated_j DOUBLE PRECISION NOT NULL DEFAULT 0",
            "DELETE FROM host_months",
        ),
    ),
)

INSERT_RUN = """INSERT INTO runs (id, project, experiment, username, host, pid, command,
    git_commit, started_at, ended_at, updated_at, status, save_interval, config)
    VALUES (:id, :project, :experiment, :username, :host, :pid, :command, :git_commit,
    :started_at, NULL, :updated_at, 'running', :save_interval, :config)"""

UPDATE_RUN = """UPDATE runs SET updated_at = :updated_at, status = :status,
    ended_at = :ended_at, duration_s = :duration_s, energy_kwh = :energy_kwh,
    emissions_kg = :emissions_kg, footprint = :footprint, epochs = :epochs
    WHERE id = :id"""

UPDATE_MODEL = "UPDATE runs SET model = :model WHERE id = :id"

UPSERT_SERIES = """INSERT INTO series (run_id, minute, component, energy_j)
    VALUES (:run_id, :minute, :component, :energy_j)
    ON CONFLICT (run_id, minute, component) DO UPDATE SET energy_j = excluded.energy_j"""

UPSERT_FLOOR = """INSERT INTO floors (host, domain, watts, updated_at)
    VALUES (:host, :domain, :watts, :updated_at)
    ON CONFLICT (host, domain) DO UPDATE SET watts = excluded.watts,
    updated_at = excluded.updated_at"""

SELECT_FLOORS = "SELECT domain, watts FROM floors WHERE host = :host"

# The daemon sends each row's energy once, as an increment: see server/minutes.py.
ADD_HOST_MINUTE = """INSERT INTO host_minutes (host, minute, kind, name, domain, energy_j, floor_w,
    quality) VALUES (:host, :minute, :kind, :name, :domain, :energy_j, :floor_w, :quality)
    ON CONFLICT (host, minute, kind, name, domain) DO UPDATE SET
    energy_j = host_minutes.energy_j + excluded.energy_j,
    floor_w = COALESCE(excluded.floor_w, host_minutes.floor_w)"""

SELECT_HOST_MINUTES = """SELECT host, minute, kind, name, domain, energy_j, floor_w, quality
    FROM host_minutes WHERE host = :host AND (:kind IS NULL OR kind = :kind)
    ORDER BY minute, kind, name, domain"""


UPSERT_BUDGET = """INSERT INTO budgets (scope, name, period, unit, amount, updated_at)
    VALUES (:scope, :name, :period, :unit, :amount, :updated_at)
    ON CONFLICT (scope, name, period, unit) DO UPDATE SET amount = excluded.amount,
    updated_at = excluded.updated_at"""

SELECT_BUDGETS = """SELECT scope, name, period, unit, amount FROM budgets
    WHERE (:scope IS NULL OR scope = :scope) AND (:name IS NULL OR name = :name)
    AND (:period IS NULL OR period = :period)"""

DELETE_BUDGET = """DELETE FROM budgets WHERE scope = :scope AND name = :name
    AND period = :period AND unit = :unit"""


class RunRow(NamedTuple):
    """One row of ``runs`` as the SELECT statements below return it, by column name."""

    id: str
    project: str
    experiment: str
    username: str
    host: str
    pid: int
    command: str
    git_commit: str | None
    started_at: str
    ended_at: str | None
    updated_at: str
    status: str
    save_interval: float
    config: str
    footprint: str | None
    model: str | None
    epochs: str | None


# Derived from RunRow so that the selected columns and the names they are read by cannot drift.
RUN_COLUMNS = ", ".join(RunRow._fields)

SELECT_RUN = f"SELECT {RUN_COLUMNS} FROM runs WHERE id = :id"

SELECT_RUN_PREFIX = f"SELECT {RUN_COLUMNS} FROM runs WHERE id LIKE :prefix ORDER BY started_at"

SELECT_RUNS = f"""SELECT {RUN_COLUMNS} FROM runs
    WHERE (:project IS NULL OR project = :project)
    AND (:experiment IS NULL OR experiment = :experiment)
    ORDER BY started_at"""

SELECT_SERIES = """SELECT run_id, minute, component, energy_j FROM series
    WHERE run_id = :run_id ORDER BY minute, component"""

ADD_HOST_MONTH = """INSERT INTO host_months (host, month, measured_j, estimated_j,
    unattributed_j) VALUES (:host, :month, :measured_j, :estimated_j, :unattributed_j)
    ON CONFLICT (host, month) DO UPDATE SET
    measured_j = host_months.measured_j + excluded.measured_j,
    estimated_j = host_months.estimated_j + excluded.estimated_j,
    unattributed_j = host_months.unattributed_j + excluded.unattributed_j"""


def host_month_increments(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The daemon's per-minute increments summed per host and month, for ``ADD_HOST_MONTH``
    in the transaction that adds them to ``host_minutes`` (:meth:`.base.Store.add_host_minutes`;
    here, beside the statements, so that the store does not import the rollups that read it)."""
    sums: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        if row["kind"] == "machine":
            metered = Quality(row["quality"]).metered
            column = "measured_j" if metered else "estimated_j"
        elif row["kind"] == "unattributed":
            column = "unattributed_j"
        else:
            continue
        key = (str(row["host"]), str(row["minute"])[:7])
        entry = sums.setdefault(
            key,
            {
                "host": key[0],
                "month": key[1],
                "measured_j": 0.0,
                "estimated_j": 0.0,
                "unattributed_j": 0.0,
            },
        )
        entry[column] += float(row["energy_j"])
    return list(sums.values())
