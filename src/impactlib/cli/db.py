"""``impactlib db upgrade`` and ``impactlib db current``: the store's schema revision."""

from __future__ import annotations

import typer

from ..store import open_store
from .common import config_from

db_app = typer.Typer(
    name="db", help="The store's schema: upgrade it, or show its revision.", no_args_is_help=True
)


def _target(store: str | None) -> tuple[str, str]:
    """The store setting and its printable location, after checking that it opens."""
    from ..store import default_store_path

    config = config_from(store=store)
    opened = open_store(config)  # a bad path or an unreachable server fails here, in one line
    location = opened.location
    opened.close()
    return config.store or str(default_store_path()), location


@db_app.command("upgrade")
def upgrade_command(
    store: str = typer.Option(None, "--store", help="SQLite path or SQLAlchemy URL."),
    revision: str = typer.Option("head", "--revision", help="Target revision (default: newest)."),
) -> None:
    """Apply the schema migrations the store lacks (Alembic)."""
    from ..store.migrate import upgrade

    target, location = _target(store)
    result = upgrade(target, location, revision)
    typer.echo(f"{location}: schema at revision {result.current} (newest {result.head})")


@db_app.command("current")
def current_command(
    store: str = typer.Option(None, "--store", help="SQLite path or SQLAlchemy URL."),
) -> None:
    """Show the store's schema revision and the newest one."""
    from ..store.migrate import revisions

    target, location = _target(store)
    result = revisions(target, location)
    state = "up to date" if result.current == result.head else "run `impactlib db upgrade`"
    typer.echo(f"{location}: revision {result.current or 'none'}, newest {result.head} ({state})")


def register(app: typer.Typer) -> None:
    """Add the ``db`` group to the app."""
    app.add_typer(db_app, name="db")
