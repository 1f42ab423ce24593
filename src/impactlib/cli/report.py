"""``impactlib report`` and ``impactlib export``: stored runs as tables and files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import typer

from .._time import parse_utc
from ..errors import UsageError
from ..store import RunRecord, Store, open_store
from ..store.rollup import Selection
from .common import config_from

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from ..report.waste import WasteLine

FORMATS = ("table", "json", "csv", "markdown", "latex", "html")
GROUPS = ("project", "user")  # what --by totals are per
TABLE_WIDTH = 80  # what a table written to a file is laid out for
GAP = 2  # blank characters between two table columns
WRAP_MIN = 10  # the narrowest a text column is folded to when working out what fits


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


class ProjectTotal(NamedTuple):
    """What a project's runs add up to (energy with PUE; embodied apart, None if unknown)."""

    project: str
    runs: int
    duration_s: float
    energy_kwh: float
    emissions_kg: float
    embodied_kg: float | None


def project_totals(records: Sequence[RunRecord], by: str = "project") -> list[ProjectTotal]:
    """One total per project (or per ``by``: ``user``), sorted by name (runs without a
    finished footprint count as runs with nothing measured)."""
    by_project: dict[str, list[RunRecord]] = {}
    for record in records:
        by_project.setdefault(str(getattr(record, by)), []).append(record)
    out = []
    for name, runs in sorted(by_project.items()):
        fps = [r.footprint for r in runs if r.footprint is not None]
        embodied = [fp.embodied_kg for fp in fps if fp.embodied_kg is not None]
        out.append(
            ProjectTotal(
                name,
                len(runs),
                sum(fp.duration_s for fp in fps),
                sum(fp.energy_kwh for fp in fps),
                sum(fp.emissions_kg for fp in fps),
                sum(embodied) if embodied else None,
            )
        )
    return out


class _Column(NamedTuple):
    """A terminal-table column: numbers are never wrapped or cut; text may fold; a column
    with a ``drop`` rank is left out (lowest rank first) when the table would not fit."""

    header: str
    cells: list[str]
    numeric: bool = False
    wraps: bool = False
    drop: int = 0


def _needed(columns: Sequence[_Column]) -> int:
    widths = [max(len(c.header), *(len(cell) for cell in c.cells)) for c in columns]
    folded = [min(w, WRAP_MIN) if c.wraps else w for c, w in zip(columns, widths, strict=True)]
    return sum(folded) + GAP * (len(columns) - 1)


def _fit(columns: Sequence[_Column], width: int) -> list[_Column]:
    """The columns that fit ``width``, dropping the least needed ones first."""
    kept = list(columns)
    for rank in sorted({c.drop for c in columns if c.drop}):
        if _needed(kept) <= width:
            break
        kept = [c for c in kept if c.drop != rank]
    return kept


def _rich_table(
    title: str, columns: Sequence[_Column], width: int, caption: str | None = None
) -> Table:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=Text(title),
        caption=Text(caption) if caption else None,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        padding=(0, GAP - 1, 0, 0),  # the box's blank vertical line is the other character
    )
    fitted = _fit(columns, width)
    for column in fitted:
        table.add_column(
            column.header,
            justify="right" if column.numeric else "left",
            no_wrap=not column.wraps,
            overflow="fold",
        )
    for row in range(len(columns[0].cells)):
        table.add_row(*(Text(column.cells[row]) for column in fitted))
    return table


def _runs_table(records: Sequence[RunRecord], width: int) -> Table:
    """One row per run, in the columns the terminal holds without cutting a number.

    A column whose value is the same for every row (one project; every run completed; one
    quality) moves to the title: it says nothing per row and costs the width the figures
    need. Start time, then duration, go when the rest would not fit (JSON has them all).
    """
    from ..report.methods import quality_label, short_id
    from ..units import format_duration_s, format_energy_j, format_mass_kg

    fps = [r.footprint for r in records]
    projects = sorted({r.project for r in records})
    statuses = sorted({r.status for r in records})
    qualities = [quality_label(c.quality for c in fp.components) if fp else "-" for fp in fps]
    columns = [_Column("run", [short_id(r.id) for r in records])]
    title = ["Runs" + (f" of {projects[0]}" if len(projects) == 1 else "")]
    if len(projects) > 1:
        columns.append(_Column("project", [r.project for r in records], wraps=True))
    if len(statuses) > 1:
        columns.append(_Column("status", [r.status for r in records], wraps=True))
    else:
        title.append(f"all {statuses[0]}")
    columns += [
        _Column("started (UTC)", [r.started_at[:16].replace("T", " ") for r in records], drop=1),
        _Column(
            "duration",
            [format_duration_s(fp.duration_s) if fp else "-" for fp in fps],
            numeric=True,
            drop=2,
        ),
        _Column(
            "energy",
            [format_energy_j(fp.energy_j * fp.pue) if fp else "-" for fp in fps],
            numeric=True,
        ),
        _Column(
            "CO2e", [format_mass_kg(fp.emissions_kg) if fp else "-" for fp in fps], numeric=True
        ),
    ]
    if len(set(qualities)) > 1:
        columns.append(_Column("quality", qualities, wraps=True))
    else:
        title.append(qualities[0])
    caption = "energy includes PUE; embodied CO2e: see totals"
    return _rich_table(", ".join(title), columns, width, caption)


def _totals_table(records: Sequence[RunRecord], width: int, by: str = "project") -> Table:
    from ..units import J_PER_KWH, format_duration_s, format_energy_j, format_mass_kg

    totals = project_totals(records, by)
    if len(totals) > 1:
        embodied = [t.embodied_kg for t in totals if t.embodied_kg is not None]
        totals.append(
            ProjectTotal(
                f"all {by}s",
                sum(t.runs for t in totals),
                sum(t.duration_s for t in totals),
                sum(t.energy_kwh for t in totals),
                sum(t.emissions_kg for t in totals),
                sum(embodied) if embodied else None,
            )
        )
    columns = [
        _Column(by, [t.project for t in totals], wraps=True),
        _Column("runs", [str(t.runs) for t in totals], numeric=True),
        _Column("duration", [format_duration_s(t.duration_s) for t in totals], numeric=True),
        _Column(
            "energy", [format_energy_j(t.energy_kwh * J_PER_KWH) for t in totals], numeric=True
        ),
        _Column("CO2e", [format_mass_kg(t.emissions_kg) for t in totals], numeric=True),
    ]
    if any(t.embodied_kg is not None for t in totals):
        embodied_cells = [
            "-" if t.embodied_kg is None else format_mass_kg(t.embodied_kg) for t in totals
        ]
        columns.append(_Column("embodied", embodied_cells, numeric=True))
    return _rich_table(f"Totals per {by}", columns, width)


def _waste_table(lines: Sequence[WasteLine], by: str, width: int) -> Table:
    """One row per wasteful run (report/waste.py says what counts), under its user or
    project; the title holds the total."""
    from ..report.methods import short_id
    from ..units import format_energy_j

    total = sum(w.energy_with_pue_j for w in lines)
    columns = [
        _Column(by, [w.group for w in lines], wraps=True),
        _Column("job", [w.job or short_id(w.run_id) for w in lines]),
        _Column("waste", [w.kind for w in lines], wraps=True),
        _Column("energy", [format_energy_j(w.energy_with_pue_j) for w in lines], numeric=True),
        _Column("detail", [w.detail for w in lines], wraps=True, drop=1),
    ]
    title = f"Waste per {by}: {format_energy_j(total)}"
    return _rich_table(title, columns, width, "energy includes PUE")


def _print_table(
    records: Sequence[RunRecord],
    console: Console,
    by: str = "project",
    waste: Sequence[WasteLine] | None = None,
) -> None:
    if not records:
        console.print("no runs in this selection", markup=False, highlight=False)
        return
    console.print(_runs_table(records, console.width))
    console.print(_totals_table(records, console.width, by))
    if waste is not None:
        if waste:
            console.print(_waste_table(waste, by, console.width))
        else:
            console.print("no waste in this selection", markup=False, highlight=False)


def _table_text(
    records: Sequence[RunRecord], by: str = "project", waste: Sequence[WasteLine] | None = None
) -> str:
    """The table as plain text for a file: 80 columns, no colour."""
    import io

    from rich.console import Console

    buffer = io.StringIO()
    _print_table(records, Console(file=buffer, width=TABLE_WIDTH, color_system=None), by, waste)
    return "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())


def _write(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
        return
    from .._files import atomic_write

    atomic_write(output, text)  # a missing directory is a one-line error, not created
    typer.echo(f"wrote {output}", err=True)


def render(
    fmt: str,
    records: Sequence[RunRecord],
    store: Store,
    grid: Path | None,
    by: str = "project",
    waste: Sequence[WasteLine] | None = None,
) -> str:
    """Text of the report in ``fmt`` (a table as it would print at 80 columns); with
    ``waste``, JSON is the waste lines."""
    from ..report import csvexport

    if fmt == "json" and waste is not None:
        import json

        from ..report.waste import waste_json

        return json.dumps(waste_json(waste), indent=2) + "\n"
    if fmt == "json":
        return csvexport.to_json(records)
    if fmt == "table":
        return _table_text(records, by, waste)
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


def _reprice(store: Store, records: list[RunRecord]) -> list[RunRecord]:
    from dataclasses import replace

    from ..carbon.base import EnergyBucket
    from ..carbon.pricing import reprice

    out = []
    for r in records:
        if r.footprint is None:
            out.append(r)
            continue
        # The run's own location and PUE; today's providers, keys and cache.
        values = r.config.get("values", {})
        config = config_from(**{k: values.get(k) for k in ("zone", "country", "region", "pue")})
        buckets = [EnergyBucket(parse_utc(s.minute), s.energy_j) for s in store.series(r.id)]
        fp = reprice(r.footprint, buckets, config)
        store.checkpoint(r.id, r.status, fp, [], r.epochs)
        out.append(replace(r, footprint=fp))
    return out


def _refuse_ignored(lab: bool, run: str | None, reprice: bool, grid: Path | None, fmt: str) -> None:
    """Options that would have no effect are an error, not silently dropped."""
    if lab:
        given = [f for f, v in (("--run", run), ("--reprice", reprice), ("--grid", grid)) if v]
        if given:
            raise UsageError(
                f"{', '.join(given)} cannot be used with lab totals (--by); leave out --by "
                "for a report of runs"
            )
    if grid is not None and fmt not in ("markdown", "latex", "html"):
        raise UsageError(
            f"--grid goes into a paper report, not {fmt}; add --format markdown, latex or html"
        )


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
    by: str = typer.Option(
        None,
        "--by",
        help="Lab totals by user, project, experiment, host and/or month (comma-separated); "
        "with --waste: project or user.",
    ),
    waste: bool = typer.Option(
        False, "--waste", help="Failed jobs, unused memory and idle GPUs (table or json)."
    ),
    since: str = typer.Option(None, "--since", help="From this month (YYYY-MM), inclusive."),
    until: str = typer.Option(None, "--until", help="To this month (YYYY-MM), inclusive."),
) -> None:
    """Runs and totals per project, a paper-ready report, or lab totals (--by)."""
    from . import labreport

    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise UsageError(f"unknown format '{fmt}'; use one of: {', '.join(FORMATS)}")
    months = labreport.month_range(since, until)
    _refuse_ignored(by is not None and not waste, run, reprice, grid, fmt)
    if by is not None and not waste:  # the lab report
        dims = labreport.parse_by(by)
        selection = Selection(*months, project=project, experiment=experiment)
        text = labreport.lab_report(open_store(config_from(store=store)), dims, selection, fmt)
        _write(text, output)
        return
    by = (by or "project").lower()
    if by not in GROUPS:
        raise UsageError(f"--by {by!r}: use one of: {', '.join(GROUPS)}")
    if waste and fmt not in ("table", "json"):
        raise UsageError(f"--waste is shown as a table or json, not {fmt}; use --format table")
    store_obj = open_store(config_from(store=store))
    records = labreport.in_months(_select(store_obj, run, project, experiment), *months)
    if reprice:
        records = _reprice(store_obj, records)
    waste_found = None
    if waste:
        from ..report.waste import waste_lines

        waste_found = waste_lines(records, by)
    if fmt == "table" and output is None:
        from rich.console import Console

        _print_table(records, Console(), by, waste_found)
        return
    _write(render(fmt, records, store_obj, grid, by, waste_found), output)


EXPORT_FORMATS = ("csv", "json", "ges1point5-equipment", "lab-summary")


def export_command(
    fmt: str = typer.Option("csv", "--format", "-f", help=", ".join(EXPORT_FORMATS) + "."),
    output: Path = typer.Option(None, "--output", "-o", help="Write to this file."),
    project: str = typer.Option(None, "--project", "-p", help="Only this project."),
    store: str = typer.Option(None, "--store", help="SQLite path or SQLAlchemy URL."),
    inventory: Path = typer.Option(
        None, "--inventory", help="ges1point5-equipment: your equipment TSV to merge in."
    ),
    sites: Path = typer.Option(
        None, "--sites", help="lab-summary: TOML of sites (on_site, host patterns)."
    ),
) -> None:
    """Export runs (CSV with CodeCarbon's columns first, JSON) or GES 1point5 files."""
    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"unknown export format '{fmt}'; use one of: {', '.join(EXPORT_FORMATS)}")
    if fmt in ("ges1point5-equipment", "lab-summary"):
        from .labreport import ges1point5_text

        _write(ges1point5_text(fmt, config_from(store=store), project, inventory, sites), output)
        return
    store_obj = open_store(config_from(store=store))
    from ..report import csvexport

    runs = store_obj.list_runs(project=project)
    _write(csvexport.to_csv(runs) if fmt == "csv" else csvexport.to_json(runs), output)


def register(app: typer.Typer) -> None:
    """Add ``report`` and ``export`` to the app."""
    app.command("report")(report_command)
    app.command("export")(export_command)
