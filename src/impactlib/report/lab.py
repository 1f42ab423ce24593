"""Lab reports: ``impactlib report --by user,month`` and friends, in every report format.

A lab manager asks how much the lab's computing used and emitted, by whom, on which project,
on which server and when. One line per combination of the ``--by`` dimensions gives the runs,
energy (PUE included), CO2e, the share a meter read ("measured": never a model's estimate),
CPU- and GPU-hours; a total line follows; the servers' energy that no run was charged (the
daemon's unattributed remainder: other users' untracked work, the system, idle power held by
nobody) follows in lines of its own, because leaving it out would make the lab's computing
look cheaper than the servers' meters say. The figures come from the monthly rollups
(:mod:`impactlib.store.rollup`), so a year of per-minute data reads in well under a second.

This module builds the report and its cells; each format's module (:mod:`.formats`) lays
them out. JSON and CSV carry raw numbers in fixed units (kWh, kg, hours, seconds); the table,
Markdown, LaTeX and HTML show people's units through :mod:`impactlib.units`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from ..store.base import Store
from ..store.rollup import LabTotal, Selection, Unattributed, lab_totals, refresh, unattributed
from ..units import (
    J_PER_KWH,
    format_duration_s,
    format_energy_j,
    format_mass_kg,
    format_number,
    format_share,
)
from .figures import Amounts, lab_amounts

UNATTRIBUTED_LABEL = "(unattributed)"
TOTAL_LABEL = "all"
NOTE = (
    "Energy includes PUE; months are UTC; a run crossing months is split by its per-minute "
    "energy. Measured: the share of the energy a meter read (the rest was estimated by a "
    "model or imported). Unattributed: the servers' energy that no run was charged (before "
    "PUE), where the impactlib daemon recorded it."
)
FIGURES = ("runs", "energy", "CO2e", "measured", "CPU-h", "GPU-h", "duration")


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


def raw_figures(line: LabTotal) -> dict[str, Any]:
    """A line's figures as raw numbers in fixed units (kWh, kg, hours, seconds)."""
    amounts = lab_amounts(line)
    return {
        "runs": line.runs,
        "energy_kwh": line.energy_kwh,
        "emissions_kg": line.emissions_kg,
        "measured_kwh": line.measured_kwh,
        "estimated_kwh": line.estimated_kwh,
        "measured_share": amounts.metered_share,
        "cpu_hours": line.cpu_hours,
        "gpu_hours": line.gpu_hours,
        "duration_s": line.duration_s,
    }


def raw_unattributed(line: Unattributed) -> dict[str, Any]:
    """An unattributed line's keys and figures as raw numbers (kWh, before PUE)."""
    return {**line.keys, **{k: v for k, v in line._asdict().items() if k != "keys"}}


def month_or_none(month: str) -> str | None:
    """A selection bound as given, or None where the selection is open on that side."""
    return None if month in ("0000-00", "9999-99") else month


class Cells(NamedTuple):
    """A table as text cells for people: header, rows, total row (None if none); the first
    ``keys`` columns name the row, the others are figures."""

    header: list[str]
    rows: list[list[str]]
    total: list[str] | None
    keys: int


def cells(report: LabReport) -> Cells:
    """The groups and their total, in people's units (the table, Markdown, LaTeX, HTML)."""
    rows = [[*line.keys.values(), *_human(lab_amounts(line))] for line in report.lines]
    total = None
    if report.total is not None:
        total = [*([TOTAL_LABEL] * len(report.by)), *_human(lab_amounts(report.total))]
    return Cells([*report.by, *FIGURES], rows, total, len(report.by))


def unattributed_cells(report: LabReport) -> Cells | None:
    """The servers' energy no run was charged, in its own table: per host and/or month where
    the report is by them, else one line for all servers (None: the daemon recorded none)."""
    if not report.unattributed:
        return None
    kept = [d for d in report.by if d in ("host", "month")] or ["servers"]
    rows = [
        [
            *(u.keys.get(d, TOTAL_LABEL) for d in kept),
            format_energy_j(u.unattributed_kwh * J_PER_KWH),
            format_share(metered_share(u)),
        ]
        for u in report.unattributed
    ]
    return Cells([*kept, "energy", "measured"], rows, None, len(kept))


def metered_share(line: Unattributed) -> float | None:
    """The share of the servers' energy a meter read (the daemon models a CPU it cannot
    read); None when the daemon recorded no energy."""
    machine = line.measured_kwh + line.estimated_kwh
    return line.measured_kwh / machine if machine > 0 else None


def _human(amounts: Amounts) -> list[str]:
    return [
        str(amounts.runs),
        format_energy_j(amounts.energy_j),
        format_mass_kg(amounts.emissions_kg),
        format_share(amounts.metered_share),
        format_number(amounts.cpu_hours),
        format_number(amounts.gpu_hours),
        format_duration_s(amounts.duration_s),
    ]


def title(report: LabReport) -> str:
    """What the report covers, in words."""
    parts = ["Lab report"]
    if report.by:
        parts.append("by " + ", ".join(report.by))
    since, until = (month_or_none(m) for m in (report.selection.since, report.selection.until))
    if since or until:
        parts.append(f"{since or 'start'} to {until or 'now'}")
    for name in ("project", "experiment"):
        value = getattr(report.selection, name)
        if value:
            parts.append(f"{name} {value}")
    return ", ".join(parts)


UNATTRIBUTED_TITLE = "Unattributed: the servers' energy no run was charged (before PUE)"
