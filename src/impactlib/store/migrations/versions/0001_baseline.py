"""Baseline: every table of the store as it stood when migrations began.

Revision ID: 0001_baseline
Revises:
Create Date: 2026-12-02

Idempotent, so that it also adopts a store that trackers created before Alembic managed it
(their ``CREATE ... IF NOT EXISTS`` made the same tables): on such a PostgreSQL store it
widens the ``REAL`` (4-byte, about 7 digits) columns of that time to ``DOUBLE PRECISION``.
Frozen: a later schema change is a new revision, never an edit of this file.
"""

from __future__ import annotations

from alembic import op

revision = "0001_baseline"
down_revision = None
branch_labels = None
depends_on = None

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
    """CREATE TABLE IF NOT EXISTS host_months (
        host TEXT NOT NULL,
        month TEXT NOT NULL,
        measured_j DOUBLE PRECISION NOT NULL,
        unattributed_j DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (host, month)
    )""",
)

# (table, column) of every floating-point column, widened on PostgreSQL where still REAL.
DOUBLE_COLUMNS = (
    ("runs", "save_interval"),
    ("runs", "duration_s"),
    ("runs", "energy_kwh"),
    ("runs", "emissions_kg"),
    ("series", "energy_j"),
    ("floors", "watts"),
    ("host_minutes", "energy_j"),
    ("host_minutes", "floor_w"),
    ("run_months", "energy_kwh"),
    ("run_months", "emissions_kg"),
    ("run_months", "measured_kwh"),
    ("run_months", "estimated_kwh"),
    ("run_months", "cpu_hours"),
    ("run_months", "gpu_hours"),
    ("run_months", "duration_s"),
    ("host_months", "measured_j"),
    ("host_months", "unattributed_j"),
)


def upgrade() -> None:
    for statement in CREATE:
        op.execute(statement)
    if op.get_bind().dialect.name == "postgresql":
        for table, column in DOUBLE_COLUMNS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE DOUBLE PRECISION")


def downgrade() -> None:
    raise NotImplementedError("the baseline cannot be undone: it holds the lab's runs")
