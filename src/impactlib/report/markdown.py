"""Markdown report: methods text, standard figures and the optional grid, ready to paste.

Markdown is what goes into a README, a lab notebook or a paper's supplementary material, so
the output is plain pipe tables and prose, with nothing that needs a particular renderer.
The methods prose comes first, ready for a paper; the notes behind it (paths, fixes, sources)
follow under their own heading for the authors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from . import methods

if TYPE_CHECKING:
    from ..store.records import RunRecord, SeriesRow
    from .grid import Grid


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A pipe table; cells are escaped."""
    lines = ["| " + " | ".join(_cell(c) for c in columns) + " |"]
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render(
    records: Sequence[RunRecord],
    series: Mapping[str, Sequence[SeriesRow]],
    grid: Grid | None = None,
) -> str:
    """The whole report as Markdown (``series`` is not drawn in this format)."""
    del series  # plots are the HTML report's job; kept for one signature across renderers
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
    if grid is not None:
        parts += ["## Multi-criteria assessment"]
        if grid.title:
            parts.append(grid.title)
        parts.append(table(*grid.table(records)))
    cites = methods.citations(records)
    if cites:
        parts += ["## Sources", "\n".join(f"- {c}" for c in cites)]
    return "\n\n".join(parts) + "\n"
