"""``impactlib import codecarbon FILE...``: bring CodeCarbon's emissions.csv into the store."""

from __future__ import annotations

from pathlib import Path

import typer

from ..store import open_store
from .common import config_from

import_app = typer.Typer(
    name="import", help="Bring runs logged by other tools into the store.", no_args_is_help=True
)


@import_app.command("codecarbon")
def codecarbon_command(
    files: list[Path] = typer.Argument(..., help="CodeCarbon emissions.csv file(s)."),
    store: str = typer.Option(None, "--store", help="SQLite path or SQLAlchemy URL."),
    user: str = typer.Option(None, "--user", help="Whose runs these are (default: you)."),
    host: str = typer.Option(
        "unknown", "--host", help="The machine they ran on (CodeCarbon does not record it)."
    ),
    utc: bool = typer.Option(
        False, "--utc", help="The files' timestamps are UTC (default: this machine's local time)."
    ),
) -> None:
    """Import CodeCarbon runs (2.x and 3.x columns), idempotently by run_id."""
    from ..identity import current_user
    from ..store.codecarbon import read_files
    from ..store.sync import put_records

    records = read_files(files, user or current_user(), host, utc)  # every file checked first
    target = open_store(config_from(store=store))
    put_records(target, records)
    typer.echo(f"imported {len(records)} CodeCarbon run(s) into {target.location}")


def register(app: typer.Typer) -> None:
    """Add the ``import`` group to the app."""
    app.add_typer(import_app, name="import")
