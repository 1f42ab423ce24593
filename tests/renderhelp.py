"""Rendering sample records in one format, as ``impactlib report`` does, for the format tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from impactlib.report.formats import Renderer
from impactlib.report.grid import Grid
from impactlib.report.runs import runs_report
from impactlib.store.records import RunRecord, SeriesRow


def render(
    renderer: Renderer,
    records: Sequence[RunRecord],
    series: Mapping[str, Sequence[SeriesRow]],
    grid: Grid | None = None,
) -> str:
    """``records`` (with their per-minute ``series`` and a ``grid``) at 80 columns."""
    return renderer.render_runs(
        runs_report(records, lambda run_id: series.get(run_id, ()), grid), 80
    )
