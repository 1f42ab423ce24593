"""Ranges in the monthly rollups: ``run_months`` keeps each run's energy and emissions bounds.

Revision ID: 0005_ranges
Revises: 0004_budgets
Create Date: 2026-12-07

Every record now carries the range of its energy and emissions (issue 18,
:mod:`impactlib.uncertainty`); lab reports and the dashboard read the monthly rollups, so
``run_months`` keeps the bounds too, split by month like the energy (bounds add linearly).
The rollup is emptied: the next refresh rolls every run again, deriving the ranges of
records written before them from their methods.

Idempotent like the baseline: a store that trackers of this version created already has the
columns, and is left as it is. Frozen: a later change is a new revision.
"""

from __future__ import annotations

import sqlalchemy
from alembic import op

revision = "0005_ranges"
down_revision = "0004_budgets"
branch_labels = None
depends_on = None

COLUMNS = ("energy_low_kwh", "energy_high_kwh", "emissions_low_kg", "emissions_high_kg")


def upgrade() -> None:
    inspector = sqlalchemy.inspect(op.get_bind())
    present = {c["name"] for c in inspector.get_columns("run_months")}
    missing = [name for name in COLUMNS if name not in present]
    for name in missing:
        op.execute(f"ALTER TABLE run_months ADD COLUMN {name} DOUBLE PRECISION NOT NULL DEFAULT 0")
    if missing:
        op.execute("DELETE FROM run_months")  # rolled again, with ranges, on next refresh


def downgrade() -> None:
    raise NotImplementedError("a newer store's rollups cannot be narrowed safely")
