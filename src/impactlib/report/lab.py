"""Lab reports: ``impactlib report --by user,month`` and friends, in every report format.

A lab manager asks how much the lab's computing used and emitted, by whom, on which project,
on which server and when. One line per combination of the ``--by`` dimensions gives the runs,
energy (PUE included), CO2e, the measured and estimated shares, CPU- and GPU-hours; a total
line follows; the servers' energy that no run was charged (the daemon's unattributed
remainder: other users' untracked work, the system, idle power held by nobody) is its own
line, because leaving it out would make the lab's computing look cheaper than the meter says.
The figures come from the monthly rollups (:mod:`impactlib.store.rollup`), so a year of
per-minute data reads in well under a second.

JSON and CSV carry raw numbers in fixed units (kWh, kg, hours, seconds); the table, Markdown,
LaTeX and HTML show people's units through :mod:`impactlib.units`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any, NamedTuple

from ..store.base import Store
from ..store.rollup import LabTotal, Selection, Unattributed, lab_totals, refresh, unattributed
from ..units import J_PER_KWH, format_duration_s, format_energy_j, format_mass_kg, format_number

UNATTRIBUTED_LABEL = "(unattributed)"
TOTAL_LABEL = "all"
NOTE = (
    "Energy includes PUE; months are UTC; a run crossing months is split by its per-minute "
    "energy. The unattributed line is the servers' measured energy that no run was charged "
    "(before PUE), where the impactlib daemon recorded it."
)


class LabReport(NamedTuple):
    """Everything a lab report shows."""

    by: tuple[str, ...]
    selection: Selection
    lines: list[LabTotal]
    total: LabTotal | None
    unattributed: list[Unattributed]


def build(store: Store, by: Sequence[str], selection: Selection) -> LabReport:
    """Refresh the rollups, then read the lines, the total and the unattributed energy."""
    refresh(store)
    totals = lab_totals(store, (), selection)
    return LabReport(
        tuple(by),
        selection,
        lab_totals(store, by, selection),
        totals[0] if totals else None,
        unattributed(store, by, selection),
    )


def _figures(line: LabTotal) -> dict[str, Any]:
    measured = line.measured_kwh / line.energy_kwh if line.energy_kwh > 0 else None
    return {
        "runs": line.runs,
        "energy_kwh": line.energy_kwh,
        "emissions_kg": line.emissions_kg,
        "measured_kwh": line.measured_kwh,
        "estimated_kwh": line.estimated_kwh,
        "measured_share": measured,
        "cpu_hours": line.cpu_hours,
        "gpu_hours": line.gpu_hours,
        "duration_s": line.duration_s,
    }


def to_json(report: LabReport) -> str:
    """Groups, total and unattributed lines with raw numbers."""
    data = {
        "by": list(report.by),
        "since": _month_or_none(report.selection.since),
        "until": _month_or_none(report.selection.until),
        "project": report.selection.project,
        "experiment": report.selection.experiment,
        "groups": [{**line.keys, **_figures(line)} for line in report.lines],
        "total": _figures(report.total) if report.total else None,
        "unattributed": [
            {**u.keys, "measured_kwh": u.measured_kwh, "unattributed_kwh": u.unattributed_kwh}
            for u in report.unattributed
        ],
        "note": NOTE,
    }
    return json.dumps(data, indent=2)


def _month_or_none(month: str) -> str | None:
    return None if month in ("0000-00", "9999-99") else month


CSV_FIGURES = (
    "runs",
    "energy_kwh",
    "emissions_kg",
    "measured_kwh",
    "estimated_kwh",
    "cpu_hours",
    "gpu_hours",
    "duration_s",
    "unattributed_kwh",
)


def to_csv(report: LabReport) -> str:
    """One row per group, then the total (dimensions ``all``) and the unattributed rows."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[*report.by, *CSV_FIGURES], extrasaction="ignore")
    writer.writeheader()
    for line in report.lines:
        writer.writerow({**line.keys, **_figures(line)})
    if report.total is not None:
        writer.writerow({**dict.fromkeys(report.by, TOTAL_LABEL), **_figures(report.total)})
    for u in report.unattributed:
        keys = {d: u.keys.get(d, UNATTRIBUTED_LABEL) for d in report.by}
        writer.writerow({**keys, "runs": 0, "unattributed_kwh": u.unattributed_kwh})
    return out.getvalue()


class Cells(NamedTuple):
    """The report as text cells for people: header, rows, total row (None if empty)."""

    header: list[str]
    rows: list[list[str]]
    total: list[str] | None


def cells(report: LabReport) -> Cells:
    """Human-formatted cells shared by the table, Markdown, LaTeX and HTML outputs."""
    header = [*report.by, "runs", "energy", "CO2e", "measured", "CPU-h", "GPU-h", "duration"]
    rows = [[*line.keys.values(), *_human(line)] for line in report.lines]
    for u in report.unattributed:
        keys = [u.keys.get(d, UNATTRIBUTED_LABEL) for d in report.by]
        energy = format_energy_j(u.unattributed_kwh * J_PER_KWH)
        rows.append([*keys, "-", f"{energy} (unattributed)", "-", "100 %", "-", "-", "-"])
    total = None
    if report.total is not None:
        total = [*([TOTAL_LABEL] * len(report.by)), *_human(report.total)]
    return Cells(header, rows, total)


def _human(line: LabTotal) -> list[str]:
    share = f"{line.measured_kwh / line.energy_kwh:.0%}" if line.energy_kwh > 0 else "-"
    return [
        str(line.runs),
        format_energy_j(line.energy_kwh * J_PER_KWH),
        format_mass_kg(line.emissions_kg),
        share.replace("%", " %"),
        format_number(line.cpu_hours),
        format_number(line.gpu_hours),
        format_duration_s(line.duration_s),
    ]


def title(report: LabReport) -> str:
    """What the report covers, in words."""
    parts = ["Lab report"]
    if report.by:
        parts.append("by " + ", ".join(report.by))
    since, until = (_month_or_none(m) for m in (report.selection.since, report.selection.until))
    if since or until:
        parts.append(f"{since or 'start'} to {until or 'now'}")
    for name in ("project", "experiment"):
        value = getattr(report.selection, name)
        if value:
            parts.append(f"{name} {value}")
    return ", ".join(parts)


def to_markdown(report: LabReport) -> str:
    """A Markdown section: title, table (total last), note."""
    from .markdown import table

    c = cells(report)
    rows = c.rows + ([c.total] if c.total else [])
    return f"## {title(report)}\n\n{table(c.header, rows)}\n\n{NOTE}\n"


def to_latex(report: LabReport) -> str:
    """A booktabs table with its caption."""
    from .latex import escape, tabular

    c = cells(report)
    spec = "l" * max(len(report.by), 1) + "r" * (len(c.header) - max(len(report.by), 1))
    return (
        "\\begin{table}[h]\n\\centering\n"
        f"{tabular(c.header, c.rows, c.total, spec)}\n"
        f"\\caption{{{escape(title(report))}. {escape(NOTE)}}}\n\\end{{table}}\n"
    )


def to_html(report: LabReport) -> str:
    """One self-contained page (no scripts), styled like the run reports."""
    from html import escape

    from .html import _STYLE, _table

    c = cells(report)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title(report))}"
        f"</title><style>{_STYLE}</style></head><body><h1>{escape(title(report))}</h1>"
        f"<div class='wide'>{_table(c.header, c.rows, c.total)}</div>"
        f"<p class='notes'>{escape(NOTE)}</p></body></html>\n"
    )
