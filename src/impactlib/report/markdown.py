"""Markdown report: methods text, standard figures and the optional grid, ready to paste.

Markdown is what goes into a README, a lab notebook or a paper's supplementary material, so
the output is plain pipe tables and prose, with nothing that needs a particular renderer.
The methods prose comes first, ready for a paper; the notes behind it (paths, fixes, sources)
follow under their own heading for the authors.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import lab, methods
from .runs import RunsReport
from .worktables import work_tables


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A pipe table; cells are escaped."""
    lines = ["| " + " | ".join(_cell(c) for c in columns) + " |"]
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_runs(report: RunsReport, width: int) -> str:
    """The whole report as Markdown (the per-minute series are not drawn in this format)."""
    del width  # Markdown is not laid out to a width
    records, grid = report.records, report.grid
    figs = methods.figures(records)
    text = methods.methods_text(records)
    rows = list(figs.rows) + ([figs.total] if figs.total else [])
    parts = ["# Energy and carbon report", methods.human_summary(records), "## Methods"]
    parts += text.paragraphs
    if text.notes:
        parts += ["### Notes", "\n".join(f"- {note}" for note in text.notes)]
    parts += [
        "## Figures",
        table(figs.columns, rows) if rows else "No finished runs.",
    ]
    for cells in work_tables(report.figures):
        parts += [f"## {cells.title}", table(cells.header, cells.rows), cells.note]
    if grid is not None:
        parts += ["## Multi-criteria assessment"]
        if grid.title:
            parts.append(grid.title)
        parts.append(table(*grid.table(records)))
    cites = methods.citations(records)
    if cites:
        parts += ["## Sources", "\n".join(f"- {c}" for c in cites)]
    return "\n\n".join(parts) + "\n"


def render_lab(report: lab.LabReport, width: int) -> str:
    """A Markdown section: title, table (total last), note; the unattributed energy apart."""
    del width
    c = lab.cells(report)
    rows = c.rows + ([c.total] if c.total else [])
    parts = [f"## {lab.title(report)}", table(c.header, rows), lab.NOTE]
    rest = lab.unattributed_cells(report)
    if rest is not None:
        parts += [f"### {lab.UNATTRIBUTED_TITLE}", table(rest.header, rest.rows)]
    units = lab.unit_cells(report)
    if units is not None:
        parts += [f"### {lab.UNITS_TITLE}", table(units.header, units.rows), lab.UNITS_NOTE]
    return "\n\n".join(parts) + "\n"
