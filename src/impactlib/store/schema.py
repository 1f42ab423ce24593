"""The one schema and the SQL statements, shared by SQLite and PostgreSQL.

Statements use ``:name`` parameters, which both ``sqlite3`` and SQLAlchemy's ``text()``
understand, and the ``INSERT ... ON CONFLICT`` upsert both databases support, so the two
back-ends run literally the same SQL (always parameterised, never built from input).

:data:`VERSION` is stamped in SQLite's ``PRAGMA user_version``: a later release that changes
the layout bumps it and migrates older files, and an older release refuses a newer file
instead of misreading it.
"""

from __future__ import annotations

from typing import NamedTuple

VERSION = 2  # 2: host_minutes (the daemon's per-minute aggregates)

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
        PRIMARY KEY (run_id, month)
    )""",
    "CREATE INDEX IF NOT EXISTS run_months_month ON run_months (month)",
    # host_months: host_minutes summed per host and month (measured and unattributed, J).
    """CREATE TABLE IF NOT EXISTS host_months (
        host TEXT NOT NULL,
        month TEXT NOT NULL,
        measured_j DOUBLE PRECISION NOT NULL,
        unattributed_j DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (host, month)
    )""",
)

INSERT_RUN = """INSERT INTO runs (id, project, experiment, username, host, pid, command,
    git_commit, started_at, ended_at, updated_at, status, save_interval, config)
    VALUES (:id, :project, :experiment, :username, :host, :pid, :command, :git_commit,
    :started_at, NULL, :updated_at, 'running', :save_interval, :config)"""

# Records made from other accounting (SLURM's) have ids derived from what they describe:
# one that is already stored is left as it is.
INSERT_RUN_IF_NEW = INSERT_RUN + " ON CONFLICT (id) DO NOTHING"

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
ADD_HOST_MINUTE = """INSERT INTO host_minutes (host, minute, kind, name, domain, energy_j, floor_w)
    VALUES (:host, :minute, :kind, :name, :domain, :energy_j, :floor_w)
    ON CONFLICT (host, minute, kind, name, domain) DO UPDATE SET
    energy_j = host_minutes.energy_j + excluded.energy_j,
    floor_w = COALESCE(excluded.floor_w, host_minutes.floor_w)"""

SELECT_HOST_MINUTES = """SELECT host, minute, kind, name, domain, energy_j, floor_w
    FROM host_minutes WHERE host = :host AND (:kind IS NULL OR kind = :kind)
    ORDER BY minute, kind, name, domain"""


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
