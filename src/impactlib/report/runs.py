"""What a renderer draws a report of runs from: the records, their figures and the options.

It sits above :mod:`.figures` and the options' modules (:mod:`.grid`, :mod:`.waste`), which
compute from records through :mod:`.figures` themselves: kept in the figures module, it would
make the figures depend on the grid that depends on them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .figures import ReportFigures, report_figures

if TYPE_CHECKING:
    from ..store.records import RunRecord, SeriesRow
    from .grid import Grid
    from .waste import WasteLine


def _no_series(run_id: str) -> Sequence[SeriesRow]:
    del run_id
    return ()


@dataclass(frozen=True)
class RunsReport:
    """What a renderer draws a report of runs from: the records, their figures, the
    per-minute series (read only by the formats that draw them), and the options."""

    records: Sequence[RunRecord]
    figures: ReportFigures
    series: Callable[[str], Sequence[SeriesRow]]  # a run's per-minute energy, by run id
    grid: Grid | None = None
    waste: Sequence[WasteLine] | None = None  # set: a waste report (table or JSON)


def runs_report(
    records: Sequence[RunRecord],
    series: Callable[[str], Sequence[SeriesRow]] = _no_series,
    grid: Grid | None = None,
    by: str = "project",
    waste: Sequence[WasteLine] | None = None,
) -> RunsReport:
    """A report of ``records``, its figures computed once (:func:`.figures.report_figures`)."""
    return RunsReport(records, report_figures(records, by), series, grid, waste)
