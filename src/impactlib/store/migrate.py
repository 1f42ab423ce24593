"""Versioned schema migrations with Alembic: ``impactlib db upgrade``.

Trackers create the tables they need themselves (``CREATE ... IF NOT EXISTS``), so a store
works without this; what Alembic adds is a recorded revision and ordered, reviewed changes
for a lab's long-lived central database, where an ``ALTER`` must run once, in order, by the
admin, not by whichever tracker happens to start first. The scripts live in
``store/migrations/versions``; this module runs them on the configured store (SQLite file or
SQLAlchemy URL) and turns every failure into one :class:`~impactlib.errors.StoreError` line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from ..errors import StoreError

MIGRATIONS = Path(__file__).with_name("migrations")
_FIX = "pip install 'impactlib[lab]'"


class Revisions(NamedTuple):
    """Where a store stands: its recorded revision (None before any) and the newest."""

    current: str | None
    head: str


def _url(target: str) -> str:
    """An SQLAlchemy URL for a store setting (a SQLite path becomes ``sqlite:///path``)."""
    if "://" in target:
        return target
    return f"sqlite:///{Path(target).expanduser().resolve()}"


def _alembic() -> Any:
    try:
        import alembic.command
        import alembic.config
    except ImportError as exc:
        raise StoreError(f"schema migrations need Alembic and SQLAlchemy; fix: {_FIX}") from exc
    return alembic


def _config(connection: Any) -> Any:
    alembic = _alembic()
    cfg = alembic.config.Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _head() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None  # the baseline at least
    return head


def _engine(target: str, location: str) -> Any:
    import sqlalchemy

    try:
        return sqlalchemy.create_engine(_url(target))
    except (sqlalchemy.exc.SQLAlchemyError, ImportError) as exc:
        raise StoreError(f"cannot open the store {location} ({exc}); fix: {_FIX}") from exc


def upgrade(target: str, location: str, revision: str = "head") -> Revisions:
    """Bring the store named by ``target`` to ``revision``; the store must already open
    (callers open it first, which checks the path or URL and the server)."""
    alembic = _alembic()
    import sqlalchemy

    engine = _engine(target, location)
    try:
        with engine.begin() as conn:
            alembic.command.upgrade(_config(conn), revision)
        return revisions(target, location)
    except (sqlalchemy.exc.SQLAlchemyError, alembic.util.CommandError) as exc:
        message = str(exc).splitlines()[0][:200]
        raise StoreError(f"cannot migrate the store {location} ({message})") from exc
    finally:
        engine.dispose()


def revisions(target: str, location: str) -> Revisions:
    """The store's recorded revision and the newest one this impactlib ships."""
    _alembic()
    import sqlalchemy
    from alembic.runtime.migration import MigrationContext

    engine = _engine(target, location)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except sqlalchemy.exc.SQLAlchemyError as exc:
        message = str(exc).splitlines()[0][:200]
        raise StoreError(f"cannot read the store {location} ({message})") from exc
    finally:
        engine.dispose()
    return Revisions(current, _head())
