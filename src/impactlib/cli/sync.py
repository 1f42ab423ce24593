"""``impactlib sync --to URL``: copy this node's runs into the lab's central store.

Trackers on compute nodes write to their local store (offline or not); this copies what the
central store lacks, idempotently and resumably (see :mod:`impactlib.store.sync`). Run it by
hand, from cron or from a systemd timer; running it again only copies what changed. Runs
that a tracker kept in a fallback store, because its store failed, are copied as well.
"""

from __future__ import annotations

import typer

from ..errors import UsageError
from ..store import Store, open_store
from .common import config_from


def sync_command(
    to: str = typer.Option(
        ..., "--to", help="The central store: SQLAlchemy URL (postgresql://...) or SQLite path."
    ),
    store: str = typer.Option(None, "--store", help="The local store (default: configured)."),
) -> None:
    """Copy local runs, fallback stores' and the daemon's minutes to a central store."""
    from ..store.sync import sync

    source = open_store(config_from(store=store))
    dest = open_store(to)
    if dest.location == source.location:
        raise UsageError(f"--to {dest.location} is the local store itself; name the central one")
    result = sync(source, dest)
    typer.echo(
        f"synced to {dest.location}: {result.copied} new run(s), {result.updated} updated, "
        f"{result.unchanged} already there; {result.series_rows} series row(s), "
        f"{result.host_minute_rows} daemon row(s)"
    )
    _sync_fallbacks(dest, {source.location, dest.location})


def _sync_fallbacks(dest: Store, done: set[str]) -> None:
    """The runs kept in this user's fallback stores (their own store failed when they ran)
    are this node's runs too: copied like the others, and said in one line each."""
    from ..store.fallback import existing_fallback_stores
    from ..store.sync import sync

    for fallback in existing_fallback_stores():
        if fallback.location in done:
            fallback.close()
            continue
        result = sync(fallback, dest)
        fallback.close()
        if result.copied or result.updated or result.unchanged:
            typer.echo(
                f"also synced from the fallback store {fallback.location}: {result.copied} new "
                f"run(s), {result.updated} updated, {result.unchanged} already there"
            )


def register(app: typer.Typer) -> None:
    """Add ``sync`` to the app."""
    app.command("sync")(sync_command)
