"""The terminal table format: reports laid out in plain text for a given width.

A cell is a value people read whole: a run id, a user, a month, ``187 mWh``. A table that
does not fit leaves out its least needed columns (each column says how readily) rather than
cut or fold a cell; only prose (a waste line's detail) wraps, at word boundaries. A column
whose value is the same in every row moves to the title. Text is never read as markup.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..units import (
    format_duration_s,
    format_energy_j,
    format_mass_kg,
    format_number,
    format_share,
)
from . import lab
from .figures import Amounts, class_text, emissions_range_text, energy_range_text
from .methods import short_id

if TYPE_CHECKING:
    from rich.table import Table

    from .figures import ReportFigures, RunFigures
    from .runs import RunsReport
    from .waste import WasteLine

TABLE_WIDTH = 80  # what a table written to a file is laid out for
GAP = 2  # blank characters between two table columns
WRAP_MIN = 10  # the narrowest a prose column is folded to when working out what fits
NO_RUNS = "no runs in this selection"


@dataclass(frozen=True)
class Column:
    """A column of text cells. ``prose`` may wrap at words; any other cell is kept whole.
    A column with a ``drop`` rank is left out (lowest rank first) when the table would not
    fit its width."""

    header: str
    cells: Sequence[str]
    numeric: bool = False
    prose: bool = False
    drop: int = 0


def _needed(columns: Sequence[Column]) -> int:
    widths = [max(len(c.header), *(len(cell) for cell in c.cells)) for c in columns]
    folded = [min(w, WRAP_MIN) if c.prose else w for c, w in zip(columns, widths, strict=True)]
    return sum(folded) + GAP * (len(columns) - 1)


def fit(columns: Sequence[Column], width: int) -> list[Column]:
    """The columns that fit ``width``, leaving out the least needed ones first.

    When even the columns nobody may drop are too wide, text columns may fold as a last
    resort (values never do): a folded name still reads, a cut number misleads.
    """
    kept = list(columns)
    for rank in sorted({c.drop for c in columns if c.drop}):
        if _needed(kept) <= width:
            break
        kept = [c for c in kept if c.drop != rank]
    if _needed(kept) > width:
        kept = [c if c.numeric else replace(c, prose=True) for c in kept]
    return kept


def rich_table(
    title: str | None, columns: Sequence[Column], width: int, caption: str | None = None
) -> Table:
    """A rich table of the columns that fit ``width``; every cell is plain ``Text``."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=Text(title) if title else None,
        caption=Text(caption) if caption else None,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        padding=(0, GAP - 1, 0, 0),  # the box's blank vertical line is the other character
    )
    fitted = fit(columns, width)
    for column in fitted:
        table.add_column(
            column.header,
            justify="right" if column.numeric else "left",
            no_wrap=not column.prose,
            overflow="fold",
        )
    for row in range(len(columns[0].cells)):
        table.add_row(*(Text(column.cells[row]) for column in fitted))
    return table


def to_text(parts: Sequence[Any], width: int) -> str:
    """Rich renderables (or plain lines) as text ``width`` columns wide, no colour, no
    trailing blanks."""
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None)
    for part in parts:
        if isinstance(part, str):
            console.print(part, markup=False, highlight=False)
        else:
            console.print(part)
    return "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())


# --- a report of runs ------------------------------------------------------------------------


def _runs_table(figures: ReportFigures, width: int) -> Table:
    """One row per run, in the columns the width holds without cutting a value.

    A column whose value is the same for every row (one project; every run completed; one
    quality) moves to the title: it says nothing per row and costs the width the figures
    need. Start time, then duration, go when the rest would not fit (JSON has them all).
    """
    runs = figures.runs
    projects = sorted({r.project for r in runs})
    statuses = sorted({r.status for r in runs})
    qualities = [r.quality for r in runs]
    columns = [Column("run", [short_id(r.id) for r in runs])]
    title = ["Runs" + (f" of {projects[0]}" if len(projects) == 1 else "")]
    if len(projects) > 1:
        columns.append(Column("project", [r.project for r in runs]))
    if len(statuses) > 1:
        columns.append(Column("status", [r.status for r in runs]))
    else:
        title.append(f"all {statuses[0]}")
    if any(r.slurm_job for r in runs):
        columns.append(Column("job", [r.slurm_job or "-" for r in runs], drop=DROP_JOB))
    columns += [
        Column("started (UTC)", [r.started_at[:16].replace("T", " ") for r in runs], drop=1),
        Column("duration", [_or_dash(r, format_duration_s(r.amounts.duration_s)) for r in runs],
               numeric=True, drop=2),
        *_figure_columns([r.amounts for r in runs], [r.finished for r in runs]),
    ]  # fmt: skip
    if len(set(qualities)) > 1:
        columns.append(Column("quality", qualities))
    else:
        title.append(qualities[0])
    classes = [_or_dash(r, class_text(r.amounts)) for r in runs]
    if len(set(classes)) > 1:
        columns.append(Column("class", classes, drop=DROP_CLASS))
    else:
        title.append(f"class {classes[0]}")
    caption = "energy includes PUE; (low–high): ranges; embodied: see totals"
    return rich_table(", ".join(title), columns, width, caption)


def _or_dash(run: RunFigures, text: str) -> str:
    """A run's figure, or ``-`` for a run that has none (no footprint saved)."""
    return text if run.finished else "-"


# When a table would not fit: after the start time (1) and the duration (2), the quality
# class goes, then the ranges (CO2e's first), then the SLURM job.
DROP_CLASS, DROP_CO2E_RANGE, DROP_ENERGY_RANGE, DROP_JOB = 3, 4, 5, 6


def _figure_columns(
    amounts: Sequence[Amounts], shown: Sequence[bool] | None = None
) -> list[Column]:
    """Energy and CO2e, each followed by its range (``4.5 kWh  (4.27–4.73)``); a range is its
    own column so that a narrow table leaves it out rather than fold a figure. ``shown``:
    which rows have figures (``-`` for a run with no footprint)."""
    keep = list(shown) if shown is not None else [True] * len(amounts)

    def cells(texts: Sequence[str], blank: str = "-") -> list[str]:
        return [t if k else blank for t, k in zip(texts, keep, strict=True)]

    return [
        Column("energy", cells([format_energy_j(a.energy_j) for a in amounts]), numeric=True),
        Column("range", cells([energy_range_text(a) for a in amounts], ""), numeric=True,
               drop=DROP_ENERGY_RANGE),
        Column("CO2e", cells([format_mass_kg(a.emissions_kg) for a in amounts]), numeric=True),
        Column("range", cells([emissions_range_text(a) for a in amounts], ""), numeric=True,
               drop=DROP_CO2E_RANGE),
    ]  # fmt: skip


def _amount_columns(amounts: Sequence[Amounts]) -> list[Column]:
    """Runs, duration, energy, CO2e, the measured share and embodied CO2e of some totals."""
    columns = [
        Column("runs", [str(a.runs) for a in amounts], numeric=True),
        Column("duration", [format_duration_s(a.duration_s) for a in amounts], numeric=True,
               drop=2),
        *_figure_columns(amounts),
        Column("measured", [format_share(a.metered_share) for a in amounts], numeric=True,
               drop=1),
        Column("class", [class_text(a) for a in amounts], drop=DROP_CLASS),
    ]  # fmt: skip
    if any(a.embodied_kg is not None for a in amounts):
        cells = ["-" if a.embodied_kg is None else format_mass_kg(a.embodied_kg) for a in amounts]
        columns.append(Column("embodied", cells, numeric=True))
    return columns


def _totals_table(figures: ReportFigures, width: int) -> Table:
    names = [g.name for g in figures.groups]
    amounts = [g.amounts for g in figures.groups]
    if len(figures.groups) > 1:
        names.append(f"all {figures.by}s")
        amounts.append(figures.total)
    columns = [Column(figures.by, names), *_amount_columns(amounts)]
    caption = "measured: read by a meter; class: BoAmps quality class"
    return rich_table(f"Totals per {figures.by}", columns, width, caption)


def _metrics_table(figures: ReportFigures, width: int) -> Table | None:
    """The task metrics the runs logged: one column per metric where they fit, else one row
    per run and metric."""
    names = figures.metric_names
    logged = [r for r in figures.runs if r.metrics]
    if not logged:
        return None
    values = [{m.name: format_number(m.value) for m in r.metrics} for r in logged]
    wide = [Column("run", [short_id(r.id) for r in logged])]
    wide += [Column(n, [v.get(n, "-") for v in values], numeric=True) for n in names]
    if _needed(wide) <= width:
        return rich_table("Task metrics", wide, width)
    pairs = [(short_id(r.id), m.name, format_number(m.value)) for r in logged for m in r.metrics]
    long = [
        Column("run", [p[0] for p in pairs]),
        Column("metric", [p[1] for p in pairs]),
        Column("value", [p[2] for p in pairs], numeric=True),
    ]
    return rich_table("Task metrics", long, width)


# Which columns of the work tables go first when they would not fit (lowest rank first).
_WORK_DROP = {"duration": 1, "dynamic/unit": 2, "idle/unit": 2, "count": 3, "energy": 4}


def _work_tables(figures: ReportFigures, width: int) -> list[Table]:
    """Figures per unit of work and the steady-state windows, where runs have them."""
    from .worktables import work_tables

    tables = []
    for cells in work_tables(figures):
        columns = [
            Column(name, [row[i] for row in cells.rows], numeric=i >= 2 and name != "unit",
                   drop=_WORK_DROP.get(name, 0))
            for i, name in enumerate(cells.header)
        ]  # fmt: skip
        tables.append(rich_table(cells.title, columns, width, cells.note))
    return tables


def _waste_table(lines: Sequence[WasteLine], by: str, width: int) -> Table:
    """One row per wasteful run (report/waste.py says what counts), under its user or
    project; the title holds the total."""
    total = sum(w.energy_with_pue_j for w in lines)
    columns = [
        Column(by, [w.group for w in lines]),
        Column("job", [w.job or short_id(w.run_id) for w in lines]),
        Column("waste", [w.kind for w in lines]),
        Column("energy", [format_energy_j(w.energy_with_pue_j) for w in lines], numeric=True),
        Column("detail", [w.detail for w in lines], prose=True, drop=1),
    ]
    title = f"Waste per {by}: {format_energy_j(total)}"
    return rich_table(title, columns, width, "energy includes PUE")


def render_runs(report: RunsReport, width: int = TABLE_WIDTH) -> str:
    """Runs, totals, task metrics (and waste, when asked) as tables ``width`` wide. A waste
    report leaves out the table of runs: on a cluster that is every job, before the totals
    and the waste that were asked for."""
    figures = report.figures
    if not figures.runs:
        return NO_RUNS + "\n"
    runs = [] if report.waste is not None else [_runs_table(figures, width)]
    parts: list[Any] = [*runs, _totals_table(figures, width)]
    metrics = _metrics_table(figures, width)
    if metrics is not None:
        parts.append(metrics)
    if report.waste is None:
        parts += _work_tables(figures, width)
    if report.waste is not None:
        waste = report.waste
        parts.append(
            _waste_table(waste, figures.by, width) if waste else "no waste in this selection"
        )
    return to_text(parts, width)


# --- a lab report ----------------------------------------------------------------------------

# Which lab figures go first when a table would not fit: the least needed has the lowest rank.
_LAB_DROP = {"duration": 1, "GPU-h": 2, "class": 3, "CPU-h": 4, "measured": 5, "runs": 6}


def _cell_columns(cells: lab.Cells) -> list[Column]:
    rows = cells.rows + ([cells.total] if cells.total else [])
    return [
        Column(
            name,
            [row[i] for row in rows],
            numeric=i >= cells.keys,
            drop=_LAB_DROP.get(name, 0) if i >= cells.keys else 0,
        )
        for i, name in enumerate(cells.header)
    ]


def render_lab(report: lab.LabReport, width: int = TABLE_WIDTH) -> str:
    """The lab report: its groups and total, then the unattributed energy in a table of its
    own (its cells are not those of a group)."""
    groups = lab.cells(report)
    rest = lab.unattributed_cells(report)
    if groups.total is None and not groups.rows and rest is None:
        return NO_RUNS + "\n"
    parts: list[Any] = []
    if groups.rows or groups.total:
        parts.append(rich_table(lab.title(report), _cell_columns(groups), width, lab.NOTE))
    else:
        parts.append(f"{lab.title(report)}: {NO_RUNS}")
    if rest is not None:  # a heading line: a title would fold to the narrow table's width
        parts += ["", lab.UNATTRIBUTED_TITLE, rich_table(None, _cell_columns(rest), width)]
    units = lab.unit_cells(report)
    if units is not None:
        parts += ["", rich_table(lab.UNITS_TITLE, _cell_columns(units), width, lab.UNITS_NOTE)]
    return to_text(parts, width)
