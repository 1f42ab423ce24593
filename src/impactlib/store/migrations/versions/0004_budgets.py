"""Budgets: ``budgets``, the lab's yearly or monthly budgets in kg CO2e or kWh.

Revision ID: 0004_budgets
Revises: 0003_mask_store_passwords
Create Date: 2026-12-07

One row per target (the lab, a project, a user or a SLURM account), period (a UTC year
``YYYY`` or month ``YYYY-MM``) and unit (``kg`` of CO2e or ``kWh``), set by ``impactlib
budget set`` and read by ``budget show``, ``report --budget``, the dashboard and trackers
(:mod:`impactlib.store.budgets`). A new table only, so idempotent like the baseline: a store
that trackers of this version created already has it, and is left as it is. Frozen: a
later change is a new revision.
"""

from __future__ import annotations

from alembic import op

revision = "0004_budgets"
down_revision = "0003_mask_store_passwords"
branch_labels = None
depends_on = None

CREATE = """CREATE TABLE IF NOT EXISTS budgets (
        scope TEXT NOT NULL,
        name TEXT NOT NULL,
        period TEXT NOT NULL,
        unit TEXT NOT NULL,
        amount DOUBLE PRECISION NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (scope, name, period, unit)
    )"""


def upgrade() -> None:
    op.execute(CREATE)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS budgets")
