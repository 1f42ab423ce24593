"""``impactlib pepr``: PePR scores of models compared on one task, from a file or stored runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import UsageError


def _stored_rows(project: str | None, experiment: str | None) -> list[dict[str, Any]]:
    """Rows from the run store (needs ``impactlib.store.open_store``)."""
    from ..config import load_config
    from ..planning.pepr import rows_from_records
    from ..store import open_store

    records = open_store(load_config()).list_runs(project=project, experiment=experiment)
    if not records:
        raise UsageError(
            "no stored runs match; give a CSV/JSON file or other --project/--experiment"
        )
    return rows_from_records(records)


def register(app: typer.Typer) -> None:
    """Add the ``pepr`` command."""

    @app.command()
    def pepr(
        source: Annotated[
            str | None,
            typer.Argument(help="CSV or JSON of results; omit to use stored runs by experiment."),
        ] = None,
        performance: str = typer.Option(..., "--performance", help="Column with P in [0, 1]."),
        resource: str = typer.Option("energy_kwh", "--resource", help="Resource column."),
        variant: str | None = typer.Option(
            None, "--variant", help="E, C, T or M (default: guessed from the resource name)."
        ),
        label: str | None = typer.Option(None, "--label", help="Column naming each model."),
        group_by: str | None = typer.Option(
            None,
            "--group-by",
            help="Score each group separately (default for stored runs: experiment).",
        ),
        project: str | None = typer.Option(None, "--project", help="Stored runs of a project."),
        experiment: str | None = typer.Option(
            None, "--experiment", help="Stored runs of one experiment."
        ),
        plot: Annotated[
            str | None, typer.Option("--plot", help="Write the plot to this .svg file.")
        ] = None,
        fmt: str = typer.Option("text", "--format", help="text or json."),
    ) -> None:
        """PePR = P / (1 + R), R min-max normalised over the compared set (Selvan et al. 2025)."""
        from ..planning import pepr as scoring

        if fmt not in ("text", "json"):
            raise UsageError(f"--format must be text or json, got '{fmt}'")
        plot_path = Path(plot) if plot is not None else None
        if plot_path is not None and plot_path.suffix.lower() != ".svg":
            raise UsageError(f"--plot writes SVG: give a file name ending in .svg, not '{plot}'")
        if source is not None:
            rows = scoring.load_rows(source)
        else:
            rows = _stored_rows(project, experiment)
            group_by = group_by or "experiment"
        if group_by:
            results = scoring.pepr_groups(
                rows, performance, resource, group_by, variant=variant, label=label
            )
        else:
            results = [
                scoring.pepr_table(rows, performance, resource, variant=variant, label=label)
            ]
        if plot_path is not None:
            charts = [scoring.plot_svg(r) for r in results]
            if len(charts) == 1:
                plot_path.write_text(charts[0], encoding="utf-8")
            else:
                for i, chart in enumerate(charts, start=1):
                    plot_path.with_name(f"{plot_path.stem}-{i}.svg").write_text(
                        chart, encoding="utf-8"
                    )
        if fmt == "json":
            typer.echo(json.dumps([row for r in results for row in r.json_rows()], indent=2))
            return
        from rich.console import Console

        console = Console(highlight=False)
        for result in results:
            console.print(scoring.rich_table(result))
        if plot_path is not None:
            console.print(
                f"plot written to {plot}"
                if len(results) == 1
                else f"plots written to {plot_path.stem}-1..{len(results)}.svg"
            )
