"""LaTeX report: a fragment to ``\\input`` into a paper (methods text and tables).

A fragment rather than a document, because the figures belong in the author's own paper
with its own preamble; it needs only ``booktabs`` and ``graphicx`` (for the wide table).
The notes behind the methods text (paths, fixes, sources) are LaTeX comments: the authors
read them in the source, the paper does not print them.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import lab, methods
from .runs import RunsReport
from .worktables import work_tables

_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "\u2013": "--",  # the en dash of a range, "2.9--3.6", typeset by any engine
}


def escape(text: str) -> str:
    """Escape LaTeX's special characters; ``CO2`` becomes ``CO\\textsubscript{2}``."""
    out = "".join(_SPECIAL.get(ch, ch) for ch in text)
    return out.replace("CO2", r"CO\textsubscript{2}")


def tabular(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    total: Sequence[str] | None,
    align: str | None = None,
) -> str:
    """A booktabs tabular; first column left-aligned, the rest right-aligned by default."""
    spec = align or ("l" + "r" * (len(columns) - 1))
    lines = [rf"\begin{{tabular}}{{{spec}}}", r"\toprule"]
    lines.append(" & ".join(escape(c) for c in columns) + r" \\")
    lines.append(r"\midrule")
    lines += [" & ".join(escape(c) for c in row) + r" \\" for row in rows]
    if total:
        lines.append(r"\midrule")
        lines.append(" & ".join(escape(c) for c in total) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines)


def render_runs(report: RunsReport, width: int) -> str:
    """The report as a LaTeX fragment (the per-minute series are not drawn in this format)."""
    del width  # LaTeX lays itself out
    records, grid = report.records, report.grid
    figs = methods.figures(records)
    text = methods.methods_text(records)
    parts = [
        "% impactlib energy and carbon report; needs \\usepackage{booktabs,graphicx}",
        r"\paragraph{Energy and carbon.}",
        "\n\n".join(escape(p) for p in text.paragraphs),
    ]
    if text.notes:
        parts.append("% Notes behind these figures (for the authors, not typeset):")
        parts += [f"% - {note}".replace("\n", " ") for note in text.notes]
    if figs.rows:
        parts += [
            r"\begin{table}[t]",
            r"\centering",
            r"\caption{Energy and carbon of the experiments (energy includes PUE; embodied "
            r"emissions are not included in CO\textsubscript{2}e).}",
            r"\resizebox{\linewidth}{!}{%",
            tabular(figs.columns, figs.rows, figs.total) + "}",
            r"\end{table}",
        ]
    for cells in work_tables(report.figures):
        parts += [
            r"\begin{table}[t]",
            r"\centering",
            rf"\caption{{{escape(cells.title)} ({escape(cells.note)}).}}",
            r"\resizebox{\linewidth}{!}{%",
            tabular(cells.header, cells.rows, None, "ll" + "r" * (len(cells.header) - 2)) + "}",
            r"\end{table}",
        ]
    if grid is not None:
        caption = "Multi-criteria assessment" + (f": {grid.title}" if grid.title else "")
        grid_table = grid.table(records)
        methods_n = len(grid_table.columns) - 1
        parts += [
            r"\begin{table}[t]",
            r"\centering",
            rf"\caption{{{escape(caption)}.}}",
            tabular(
                grid_table.columns,
                grid_table.rows,
                None,
                align=r"p{0.16\linewidth}" + rf"p{{{0.8 / methods_n:.2f}\linewidth}}" * methods_n,
            ),
            r"\end{table}",
        ]
    cites = methods.citations(records)
    if cites:
        parts.append("% Sources: " + " | ".join(c.replace("\n", " ") for c in cites))
    return "\n".join(parts) + "\n"


def render_lab(report: lab.LabReport, width: int) -> str:
    """A booktabs table with its caption; the unattributed energy in a table of its own."""
    del width
    c = lab.cells(report)
    keys = max(c.keys, 1)
    spec = "l" * keys + "r" * (len(c.header) - keys)
    out = (
        "\\begin{table}[h]\n\\centering\n"
        f"{tabular(c.header, c.rows, c.total, spec)}\n"
        f"\\caption{{{escape(lab.title(report))}. {escape(lab.NOTE)}}}\n\\end{{table}}\n"
    )
    rest = lab.unattributed_cells(report)
    if rest is not None:
        out += (
            "\\begin{table}[h]\n\\centering\n"
            f"{tabular(rest.header, rest.rows, None, 'l' * rest.keys + 'r')}\n"
            f"\\caption{{{escape(lab.UNATTRIBUTED_TITLE)}.}}\n\\end{{table}}\n"
        )
    units = lab.unit_cells(report)
    if units is not None:
        spec = "l" * units.keys + "r" * (len(units.header) - units.keys)
        out += (
            "\\begin{table}[h]\n\\centering\n"
            f"{tabular(units.header, units.rows, None, spec)}\n"
            f"\\caption{{{escape(lab.UNITS_TITLE)}. {escape(lab.UNITS_NOTE)}}}\n\\end{{table}}\n"
        )
    return out
