"""``impactlib pepr``: PePR scores of models compared on one task, from a file or stored runs.

Stored runs are compared within each project by default (a project is one task; its runs,
labelled by experiment, are the models tried on it). Their performance is a metric attached
with ``Tracker.log_metrics`` or ``impactlib metrics``; runs without it are left out and named,
so a missing figure never passes silently.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from .._files import atomic_write
from ..errors import UsageError
from .common import config_from


def _stored_rows(
    store: str | None, project: str | None, experiment: str | None, performance: str
) -> list[dict[str, Any]]:
    """Rows of the stored runs that have ``performance``; the others are named on stderr."""
    from ..planning.pepr import rows_from_records
    from ..store import open_store

    records = open_store(config_from(store=store)).list_runs(project=project, experiment=experiment)
    if not records:
        raise UsageError(
            "no stored runs match; give a CSV/JSON file or other --project/--experiment"
        )
    stored = rows_from_records(records, performance)
    if stored.lacking:
        typer.echo(
            f"left out, without '{performance}': {', '.join(stored.lacking)} "
            f"(attach it with `impactlib metrics RUN {performance}=VALUE`)",
            err=True,
        )
    return stored.rows


def _write_plots(charts: list[str], path: Path) -> str:
    """Write one SVG, or one per group as NAME-1.svg, NAME-2.svg...; say what was written."""
    if len(charts) == 1:
        atomic_write(path, charts[0])
        return f"plot written to {path}"
    for i, chart in enumerate(charts, start=1):
        atomic_write(path.with_name(f"{path.stem}-{i}.svg"), chart)
    return f"plots written to {path.with_name(path.stem)}-1..{len(charts)}.svg"


def register(app: typer.Typer) -> None:
    """Add the ``pepr`` command."""

    @app.command()
    def pepr(
        source: Annotated[
            str | None,
            typer.Argument(help="CSV or JSON of results; omit to use stored runs."),
        ] = None,
        performance: str = typer.Option(
            ..., "--performance", help="Column (or run metric) with P in [0, 1]."
        ),
        resource: str = typer.Option("energy_kwh", "--resource", help="Resource column."),
        variant: str | None = typer.Option(
            None, "--variant", help="E, C, T or M (default: guessed from the resource name)."
        ),
        label: str | None = typer.Option(None, "--label", help="Column naming each model."),
        group_by: str | None = typer.Option(
            None,
            "--group-by",
            help="Score each group separately (default for stored runs: project).",
        ),
        project: str | None = typer.Option(None, "--project", help="Stored runs of a project."),
        experiment: str | None = typer.Option(
            None, "--experiment", help="Stored runs of one experiment."
        ),
        store: str | None = typer.Option(
            None, "--store", help="SQLite path or SQLAlchemy URL (stored runs)."
        ),
        plot: Annotated[
            str | None, typer.Option("--plot", help="Write the plot to this .svg file.")
        ] = None,
        fmt: str = typer.Option("text", "--format", help="text or json."),
    ) -> None:
        """PePR = P / (1 + R), R min-max normalised over the compared set (Selvan et al. 2025)."""
        from ..planning import pepr as scoring
        from ..report import pepr as rendering

        if fmt not in ("text", "json"):
            raise UsageError(f"--format must be text or json, got '{fmt}'")
        plot_path = Path(plot) if plot is not None else None
        if plot_path is not None and plot_path.suffix.lower() != ".svg":
            raise UsageError(f"--plot writes SVG: give a file name ending in .svg, not '{plot}'")
        if source is not None:
            rows = scoring.load_rows(source)
        else:
            rows = _stored_rows(store, project, experiment, performance)
            group_by = group_by or "project"
        alone: tuple[str, ...] = ()
        if group_by:
            results, alone = scoring.pepr_groups(
                rows, performance, resource, group_by, variant=variant, label=label
            )
        else:
            results = [
                scoring.pepr_table(rows, performance, resource, variant=variant, label=label)
            ]
        if alone:
            typer.echo(f"not scored, nothing to compare with: {', '.join(alone)}", err=True)
        written = (
            _write_plots([rendering.plot_svg(r) for r in results], plot_path)
            if plot_path is not None
            else None
        )
        if fmt == "json":
            typer.echo(json.dumps([row for r in results for row in r.json_rows()], indent=2))
            return
        from rich.console import Console

        console = Console(highlight=False)
        if not console.is_terminal:  # piped or captured: do not cut the columns to 80
            console = Console(highlight=False, width=160)
        for result in results:
            console.print(rendering.rich_table(result))
        if written:
            console.print(written, markup=False)
