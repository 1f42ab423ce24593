"""Mask the secrets that older versions kept in clear in each run's settings.

Revision ID: 0003_mask_store_passwords
Revises: 0002_quality
Create Date: 2026-12-07

Runs recorded before settings were masked at the source keep a store URL's password
(``postgresql://alice:secret@db/impact``) in ``runs.config``, and ``sync`` copied them into
the lab's store. This rewrites those records with the password replaced by ``***`` (user and
host kept), as :func:`impactlib.masking.cleaned_config_json` does for every new record.
No schema change. There is no downgrade: a removed secret cannot be put back.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from impactlib.masking import cleaned_config_json

revision = "0003_mask_store_passwords"
down_revision = "0002_quality"
branch_labels = None
depends_on = None

# Only a URL can hold a password: "://" narrows the rows read.
_CANDIDATES = sa.text("SELECT id, config FROM runs WHERE config LIKE '%://%'")
_REWRITE = sa.text("UPDATE runs SET config = :config WHERE id = :id")


def upgrade() -> None:
    """Rewrite each run whose settings hold a secret."""
    conn = op.get_bind()
    for run_id, config in conn.execute(_CANDIDATES).fetchall():
        cleaned = cleaned_config_json(config)
        if cleaned != config:
            conn.execute(_REWRITE, {"id": run_id, "config": cleaned})


def downgrade() -> None:
    """Nothing to undo: the records stay masked."""
