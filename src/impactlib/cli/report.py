"""``impactlib report`` and ``impactlib export``: stored runs as tables and files."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import typer

from ..errors import UsageError
from ..store import RunRecord, Store, open_store
from .common import config_from

FORMATS = ("table", "json", "csv", "markdown", "latex", "html")


def _select(
    store: Store, run: str | None, project: str | None, experiment: str | None
) -> list[RunRecord]:
    if run:
        record = store.get_run(run)
        if record is None:
            raise UsageError(
                f"no run '{run}' in {store.location}; `impactlib report` lists the runs"
            )
        return [record]
    return store.list_runs(project=project, experiment=experiment)


def _table(records: Sequence[RunRecord]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Runs")
    for column in (
        "id",
        "project",
        "status",
        "started (UTC)",
        "duration s",
        "kWh",
        "kg CO2e",
        "quality",
    ):
        table.add_column(
            column, justify="right" if column in ("duration s", "kWh", "kg CO2e") else "left"
        )
    totals: dict[str, list[float]] = {}
    for r in records:
        s = r.summary()
        quality = ", ".join(sorted({c["quality"] for c in s["components"]})) or "-"
        table.add_row(
            r.id[:12],
            r.project,
            r.status,
            r.started_at[:19],
            f"{s['duration_s']:.1f}",
            f"{s['energy_kwh']:.6f}",
            f"{s['emissions_kg']:.6f}",
            quality,
        )
        t = totals.setdefault(r.project, [0, 0.0, 0.0, 0.0])
        t[0] += 1
        t[1] += s["duration_s"]
        t[2] += s["energy_kwh"]
        t[3] += s["emissions_kg"]
    console = Console()
    if not console.is_terminal:  # piped: keep full ids and numbers
        console = Console(width=160)
    console.print(table)
    per_project = Table(title="Totals per project")
    for column in ("project", "runs", "duration s", "kWh", "kg CO2e"):
        per_project.add_column(column)
    for name, (n, dur, kwh, kg) in sorted(totals.items()):
        per_project.add_row(name, str(int(n)), f"{dur:.1f}", f"{kwh:.6f}", f"{kg:.6f}")
    console.print(per_project)


def _write(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
        return
    # Atomic: a reader never sees half a report.
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, output)
    typer.echo(f"wrote {output}", err=True)


def render(fmt: str, records: Sequence[RunRecord], store: Store, grid: Path | None) -> str:
    """Text of the report in ``fmt`` (all formats but ``table``)."""
    from ..report import csvexport

    if fmt == "json":
        return csvexport.to_json(records)
    if fmt == "csv":
        return csvexport.to_csv(records)
    series = {r.id: store.series(r.id) for r in records}
    grid_obj = None
    if grid is not None:
        from ..report.grid import load_grid

        grid_obj = load_grid(grid)
    if fmt == "markdown":
        from ..report import markdown

        return markdown.render(records, series, grid_obj)
    if fmt == "latex":
        from ..report import latex

        return latex.render(records, series, grid_obj)
    from ..report import html

    return html.render(records, series, grid_obj)


def _utc(text: str) -> datetime:
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _reprice(store: Store, records: list[RunRecord]) -> list[RunRecord]:
    from dataclasses import replace

    from ..carbon.base import EnergyBucket
    from ..carbon.select import reprice

    out = []
    for r in records:
        if r.footprint is None:
            out.append(r)
            continue
        # The run's own location and PUE; today's providers, keys and cache.
        values = r.config.get("values", {})
        config = config_from(**{k: values.get(k) for k in ("zone", "country", "region", "pue")})
        buckets = [EnergyBucket(_utc(s.minute), s.energy_j) for s in store.series(r.id)]
        fp = reprice(r.footprint, buckets, config)
        store.checkpoint(r.id, r.status, fp, [], r.epochs)
        out.append(replace(r, footprint=fp))
    return out


def report_command(
    project: str = typer.Option(None, "--project", "-p", help="Only this project."),
    experiment: str = typer.Option(None, "--experiment", "-e", help="Only this experiment."),
    run: str = typer.Option(None, "--run", help="One run (id or unique prefix)."),
    fmt: str = typer.Option(
        "table", "--format", "-f", help="table, json, csv, markdown, latex or html."
    ),
    output: Path = typer.Option(None, "--output", "-o", help="Write to this file."),
    store: str = typer.Option(None, "--store", help="SQLite path or SQLAlchemy URL."),
    reprice: bool = typer.Option(
        False, "--reprice", help="Price the runs again with the best data now."
    ),
    grid: Path = typer.Option(
        None, "--grid", help="Multi-criteria answers (TOML/YAML) to include."
    ),
) -> None:
    """Runs and totals per project, or a paper-ready report."""
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise UsageError(f"unknown format '{fmt}'; use one of: {', '.join(FORMATS)}")
    store_obj = open_store(config_from(store=store))
    records = _select(store_obj, run, project, experiment)
    if reprice:
        records = _reprice(store_obj, records)
    if fmt == "table" and output is None:
        _table(records)
        return
    _write(render("csv" if fmt == "table" else fmt, records, store_obj, grid), output)


def export_command(
    fmt: str = typer.Option("csv", "--format", "-f", help="csv or json."),
    output: Path = typer.Option(None, "--output", "-o", help="Write to this file."),
    project: str = typer.Option(None, "--project", "-p", help="Only this project."),
    store: str = typer.Option(None, "--store", help="SQLite path or SQLAlchemy URL."),
) -> None:
    """Export stored runs as CSV (CodeCarbon's columns first) or JSON."""
    if fmt not in ("csv", "json"):
        raise UsageError(f"unknown export format '{fmt}'; use csv or json")
    store_obj = open_store(config_from(store=store))
    _write(render(fmt, store_obj.list_runs(project=project), store_obj, None), output)


def register(app: typer.Typer) -> None:
    """Add ``report`` and ``export`` to the app."""
    app.command("report")(report_command)
    app.command("export")(export_command)
