"""Alembic environment: migrations run on the connection ``impactlib db upgrade`` opened.

There is no ``alembic.ini`` and no URL here: :mod:`impactlib.store.migrate` builds the
configuration in code and passes the connection, so the URL (and its password) is handled
in one place and the scripts run only through the impactlib command.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `impactlib db upgrade`, not the alembic command")
context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
with context.begin_transaction():
    context.run_migrations()
