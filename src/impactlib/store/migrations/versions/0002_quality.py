"""Quality of the daemon's energy: ``host_minutes.quality`` and ``host_months.estimated_j``.

Revision ID: 0002_quality
Revises: 0001_baseline
Create Date: 2026-12-07

A daemon that cannot read the CPU's counters models them (``cpu:model``, and memory always
is modelled: ``memory:model``); its rows were summed with metered ones as the servers'
*measured* energy. Each row now carries its domain's quality and the monthly rollup keeps
modelled energy apart. Rows stored before this revision get ``estimated`` for the two
modelled domains (the only ones earlier daemons had) and ``measured`` otherwise; the
monthly rollup is emptied, and the next refresh rolls it again from the minutes.

Idempotent like the baseline: a store that trackers of this version created already has
the columns, and is left as it is. Frozen: a later change is a new revision.
"""

from __future__ import annotations

import sqlalchemy
from alembic import op

revision = "0002_quality"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None

ADDED = (
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


def upgrade() -> None:
    inspector = sqlalchemy.inspect(op.get_bind())
    for table, column, statements in ADDED:
        if column not in {c["name"] for c in inspector.get_columns(table)}:
            for statement in statements:
                op.execute(statement)


def downgrade() -> None:
    raise NotImplementedError("the quality of stored energy cannot be forgotten safely")
