"""``impactlib slurm ingest``: a cluster's accounting as run records, energy labelled."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import typer

from ..errors import UsageError
from .common import config_from

if TYPE_CHECKING:
    from ..slurm.ingest import IngestedJob

DEFAULT_DAYS = 7
SHAPES = ("auto", "json", "parsable")

app = typer.Typer(
    name="slurm",
    help="SLURM clusters: ingest the accounting of jobs (sacct) as runs.",
    no_args_is_help=True,
)


def _moment(text: str | None, flag: str, default: datetime) -> datetime:
    """A local time for sacct from ``YYYY-MM-DD[THH:MM[:SS]]`` (an offset is converted)."""
    if text is None:
        return default
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise UsageError(
            f"{flag} {text!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM"
        ) from exc
    return value.astimezone().replace(tzinfo=None) if value.tzinfo else value


def _lines(outcomes: Sequence[IngestedJob]) -> list[str]:
    from ..units import format_energy_j

    lines = []
    for item in outcomes:
        job = item.job
        shown = item.outcome in ("added", "updated", "already stored")  # the others: no record
        energy = format_energy_j(item.energy_j) if shown else "-"
        lines.append(
            f"  {item.outcome:<22} {job.job_id:<12} {job.user:<10} {job.state:<13} "
            f"{item.label or '-':<16} {energy:>10}"
        )
    return lines


def _summary(outcomes: Sequence[IngestedJob]) -> str:
    added = Counter(o.label for o in outcomes if o.outcome == "added")
    outcome = Counter(o.outcome for o in outcomes)
    labels = ", ".join(f"{n} {label}" for label, n in sorted(added.items()))
    return (
        f"{outcome['added']} added{f' ({labels})' if labels else ''}, "
        f"{outcome['updated']} updated (sacct changed them), "
        f"{outcome['tracked by impactlib']} tracked by impactlib (their runs stand for "
        f"them), {outcome['already stored']} already stored, {outcome['not finished']} "
        "not finished (ingest again later)"
    )


@app.command("ingest")
def ingest_command(
    since: str = typer.Option(
        None,
        "--since",
        help=f"Start of the period, in local time (default: {DEFAULT_DAYS} days ago).",
    ),
    until: str = typer.Option(None, "--until", help="End of the period (default: now)."),
    sacct: str = typer.Option(
        "auto", "--sacct", help="sacct output to read: auto (JSON if available), json, parsable."
    ),
    slurm_partitions: str = typer.Option(
        None,
        "--slurm-partitions",
        help="TOML file of partition hardware for estimates (setting slurm_partitions).",
    ),
    store: str = typer.Option(None, "--store", help="SQLite path or SQLAlchemy URL."),
) -> None:
    """Read sacct for a period and store each finished job once, its energy labelled
    measured (by impactlib), slurm-exclusive (SLURM's counter) or estimated."""
    from ..slurm.ingest import ingest
    from ..slurm.sacct import SacctWindow, read_sacct
    from ..store import open_store

    shape = sacct.strip().lower()
    if shape not in SHAPES:
        raise UsageError(f"--sacct {sacct!r} is not one of: {', '.join(SHAPES)}")
    now = datetime.now().replace(microsecond=0)
    end = _moment(until, "--until", now)
    start = _moment(since, "--since", end - timedelta(days=DEFAULT_DAYS))
    if start >= end:
        raise UsageError(f"--since ({start}) must be before --until ({end})")
    config = config_from(store=store, slurm_partitions=slurm_partitions)
    read = read_sacct(SacctWindow(start, end), shape)
    store_obj = open_store(config)
    outcomes = ingest(read.jobs, store_obj, config)
    typer.echo(
        f"sacct ({read.shape}) from {start.isoformat()} to {end.isoformat()}: {len(read.jobs)} jobs"
    )
    for line in _lines(outcomes):
        typer.echo(line)
    typer.echo(_summary(outcomes))
    for note in read.notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo(f"store: {store_obj.location}", err=True)


def register(main: typer.Typer) -> None:
    """Add the ``slurm`` command group to the app."""
    main.add_typer(app, name="slurm")
