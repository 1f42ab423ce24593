"""``impactlib report`` and ``impactlib export``: options read, runs selected, text written.

What the figures are and how each format lays them out live in :mod:`impactlib.report`
(:mod:`~impactlib.report.figures`, :mod:`~impactlib.report.formats`); this module parses
and prints.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import typer

from .._time import parse_utc
from ..errors import UsageError
from ..report.formats import FORMATS, PAPER_FORMATS, WASTE_FORMATS, renderer
from ..store import RunRecord, Store, open_store, with_liveness
from ..store.rollup import Selection
from .common import config_from

GROUPS = ("project", "user")  # what --by totals are per


def _open(store: str | None) -> Store:
    """The store the options name: the one place ``report`` and ``export`` open it."""
    return open_store(config_from(store=store))


def _select(
    store: Store, run: str | None, project: str | None, experiment: str | None
) -> list[RunRecord]:
    """The runs asked for, with those kept for this store in a fallback store (said in one
    line): a run its store could not take is shown all the same."""
    from ..store.fallback import kept_runs

    kept = kept_runs(store, project, experiment, run)
    _say(kept.notice(shown=True))
    if run:
        record = store.get_run(run) or next(iter(kept.records), None)
        if record is None:
            raise UsageError(
                f"no run '{run}' in {store.location}; `impactlib report` lists the runs"
            )
        return [with_liveness(record)]
    runs = [*store.list_runs(project=project, experiment=experiment), *kept.records]
    # oldest first, as the store lists them; a run whose process died is shown killed
    return [with_liveness(r) for r in sorted(runs, key=lambda r: r.started_at)]


def _say(notice: str | None) -> None:
    if notice:
        typer.echo(f"impactlib: {notice}", err=True)


def _write(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
        return
    from .._files import atomic_write

    atomic_write(output, text)  # a missing directory is a one-line error, not created
    typer.echo(f"wrote {output}", err=True)


def _width(output: Path | None) -> int:
    """The columns a table is laid out for: the terminal's (``COLUMNS``), or 80 in a file."""
    from ..report.table import TABLE_WIDTH

    return TABLE_WIDTH if output is not None else shutil.get_terminal_size().columns


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
    if grid is not None and fmt not in PAPER_FORMATS:
        raise UsageError(
            f"--grid goes into a paper report, not {fmt}; add --format markdown, latex or html"
        )


def _refuse_alongside_what_if(**given: object) -> None:
    """``--what-if`` is a report of its own: options it would ignore are an error."""
    named = [f"--{k}" for k, v in given.items() if v]
    if named:
        raise UsageError(f"{', '.join(named)} cannot be used with --what-if; leave one out")


def _what_if(
    spec: str,
    fmt: str,
    output: Path | None,
    store: str | None,
    chosen: tuple[str | None, str | None, str | None],
    months: tuple[str, str],
) -> None:
    """``report --what-if``: the selected runs priced under another choice
    (:mod:`impactlib.planning.whatif`), as a table or JSON (:mod:`impactlib.report.savings`)."""
    from ..planning.whatif import parse_what_if, what_if
    from ..report import savings
    from . import labreport

    parsed = parse_what_if(spec)
    if fmt not in savings.FORMATS:
        shown = " or ".join(savings.FORMATS)
        raise UsageError(f"--what-if is shown as {shown}, not {fmt}; use --format table")
    store_obj = _open(store)
    records = labreport.in_months(_select(store_obj, *chosen), *months)
    report = what_if(parsed, records, store_obj.series, config_from(store=store))
    if fmt == "json":
        _write(savings.render_json(report), output)
    else:
        _write(savings.render_table(report, _width(output)), output)


def _budget_report(
    store: str | None, project: str | None, fmt: str, output: Path | None, given: list[str]
) -> None:
    """``report --budget``: every budget (of ``--project`` only, when given) as ``budget
    show`` prints them (:mod:`impactlib.report.budgets`)."""
    from .._time import now_utc
    from ..report.budgets import FORMATS as BUDGET_FORMATS
    from ..report.budgets import render, statuses
    from ..store.budgets import BudgetScope, Target

    if given:
        raise UsageError(
            f"{', '.join(given)} cannot be used with --budget, which shows the budgets "
            "(of --project, when given)"
        )
    if fmt not in BUDGET_FORMATS:
        shown = " or ".join(BUDGET_FORMATS)
        raise UsageError(f"--budget is shown as {shown}, not {fmt}; use --format table")
    store_obj = _open(store)
    target = None if project is None else Target(BudgetScope.PROJECT, project)
    at = now_utc()
    found = statuses(store_obj, store_obj.budgets(target), at)
    _write(render(found, at, fmt, _width(output)), output)


def report_command(
    project: str = typer.Option(None, "--project", "-p", help="Only this project."),
    experiment: str = typer.Option(None, "--experiment", "-e", help="Only this experiment."),
    run: str = typer.Option(None, "--run", help="One run (id or unique prefix)."),
    fmt: str = typer.Option(
        "table", "--format", "-f", help=f"{', '.join(list(FORMATS)[:-1])} or {list(FORMATS)[-1]}."
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
    what_if: str = typer.Option(
        None,
        "--what-if",
        help="Savings had runs started later (shift=24h), another PUE (pue=1.2) or zone (zone=SE).",
    ),
    budget: bool = typer.Option(
        False, "--budget", help="Budgets: used, projection, when passed (table or json)."
    ),
) -> None:
    """Runs and totals per project, a paper-ready report, or lab totals (--by)."""
    from ..report import lab
    from ..report.runs import runs_report
    from . import labreport

    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise UsageError(f"unknown format '{fmt}'; use one of: {', '.join(FORMATS)}")
    if budget:
        others = {"--by": by, "--waste": waste, "--run": run, "--reprice": reprice}
        others |= {"--grid": grid, "--since": since, "--until": until, "--experiment": experiment}
        others |= {"--what-if": what_if}
        _budget_report(store, project, fmt, output, [f for f, v in others.items() if v])
        return
    output_format = renderer(fmt)
    months = labreport.month_range(since, until)
    if what_if is not None:
        _refuse_alongside_what_if(by=by, waste=waste, reprice=reprice, grid=grid)
        _what_if(what_if, fmt, output, store, (run, project, experiment), months)
        return
    _refuse_ignored(by is not None and not waste, run, reprice, grid, fmt)
    if by is not None and not waste:  # the lab report
        dims = labreport.parse_by(by)
        selection = Selection(*months, project=project, experiment=experiment)
        from ..store.fallback import kept_runs

        store_obj = _open(store)
        _say(kept_runs(store_obj, project, experiment).notice(shown=False))
        report = lab.build(store_obj, dims, selection, with_units=True)
        _write(output_format.render_lab(report, _width(output)), output)
        return
    by = (by or "project").lower()
    if by not in GROUPS:
        raise UsageError(f"--by {by!r}: use one of: {', '.join(GROUPS)}")
    if waste and fmt not in WASTE_FORMATS:
        shown = " or ".join(WASTE_FORMATS)
        raise UsageError(f"--waste is shown as {shown}, not {fmt}; use --format table")
    grid_obj = None
    if grid is not None:
        from ..report.grid import load_grid

        grid_obj = load_grid(grid)
    store_obj = _open(store)
    records = labreport.in_months(_select(store_obj, run, project, experiment), *months)
    if reprice:
        records = _reprice(store_obj, records)
    waste_found = None
    if waste:
        from ..report.waste import waste_lines
        from ..store.slurmjobs import accounting_of

        # SLURM's view of tracked jobs too: their accounting records, superseded by the runs
        accounting = accounting_of(store_obj.list_runs(superseded=True))
        waste_found = waste_lines(records, by, accounting)
    runs = runs_report(records, store_obj.series, grid_obj, by, waste_found)
    _write(output_format.render_runs(runs, _width(output)), output)


EXPORT_FORMATS = ("csv", "json", "boamps", "sci", "ges1point5-equipment", "lab-summary")
# the formats of runs, which --run/--experiment select
RUN_EXPORTS = ("csv", "json", "boamps", "sci")


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
    run: str = typer.Option(None, "--run", help="One run (id or unique prefix)."),
    experiment: str = typer.Option(None, "--experiment", "-e", help="Only this experiment."),
    task_stage: str = typer.Option(
        None, "--task-stage", help="boamps: training, inference... (default: from the runs)."
    ),
    task_family: str = typer.Option(
        None, "--task-family", help="boamps: the kind of task, e.g. image classification."
    ),
    boamps_publisher: str = typer.Option(
        None, "--boamps-publisher", help="boamps: the organisation publishing the report."
    ),
) -> None:
    """Export runs: CSV (CodeCarbon's columns first), JSON, BoAmps, SCI or GES 1point5 files."""
    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"unknown export format '{fmt}'; use one of: {', '.join(EXPORT_FORMATS)}")
    boamps_only: dict[str, str | None] = {
        "--task-stage": task_stage,
        "--task-family": task_family,
        "--boamps-publisher": boamps_publisher,
    }
    _refuse_unused_export_options(fmt, run, experiment, boamps_only)
    if fmt == "boamps":
        from ..report.boamps import Task, to_boamps

        config = config_from(store=store, boamps_publisher=boamps_publisher)
        records = _select(open_store(config), run, project, experiment)
        if not records:
            raise UsageError(f"no runs in experiment '{experiment}'; `impactlib report` lists them")
        task = Task(task_stage, task_family)
        _write(to_boamps(records, task, publisher=config.boamps_publisher), output)
        return
    if fmt == "sci":  # E, I, M and R apart, per run and functional unit
        from ..report.sci import to_sci

        _write(to_sci(_select(_open(store), run, project, experiment)), output)
        return
    if run is not None or experiment is not None:
        from ..report import csvexport, jsonexport

        runs = _select(_open(store), run, project, experiment)
        _write(csvexport.to_csv(runs) if fmt == "csv" else jsonexport.to_json(runs), output)
        return
    if fmt in ("ges1point5-equipment", "lab-summary"):
        from .labreport import ges1point5_text

        _write(ges1point5_text(fmt, config_from(store=store), project, inventory, sites), output)
        return
    from ..report import csvexport, jsonexport

    runs = [with_liveness(r) for r in _open(store).list_runs(project=project)]
    _write(csvexport.to_csv(runs) if fmt == "csv" else jsonexport.to_json(runs), output)


def _refuse_unused_export_options(
    fmt: str, run: str | None, experiment: str | None, boamps_only: dict[str, str | None]
) -> None:
    """Options the format would not use are an error; a BoAmps report is of one task."""
    given = [f for f, v in (("--run", run), ("--experiment", experiment)) if v is not None]
    if given and fmt not in RUN_EXPORTS:
        raise UsageError(f"{', '.join(given)} select runs for csv, json, boamps or sci, not {fmt}")
    given = [flag for flag, value in boamps_only.items() if value is not None]
    if given and fmt != "boamps":
        raise UsageError(f"{', '.join(given)} describe a BoAmps report; add --format boamps")
    if fmt == "boamps" and run is None and experiment is None:
        raise UsageError(
            "a BoAmps report is of one task: add --run ID or --experiment NAME "
            "(`impactlib report` lists them)"
        )


def register(app: typer.Typer) -> None:
    """Add ``report`` and ``export`` to the app."""
    app.command("report")(report_command)
    app.command("export")(export_command)
