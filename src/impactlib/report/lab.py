"""Lab reports: ``impactlib report --by user,month`` and friends, in every report format.

A lab manager asks how much the lab's computing used and emitted, by whom, on which project,
on which server and when. One line per combination of the ``--by`` dimensions gives the
runs, energy (PUE included), CO2e, the share a meter read ("measured": never a model's
estimate), CPU- and GPU-hours, each energy and CO2e with its range (``3.2 kWh (2.9–3.6)``,
the runs' bounds added) and BoAmps' quality class of the line's energy; a total line
follows; the servers' energy that no run was charged (the daemon's unattributed remainder:
other users' untracked work, the system, idle power held by nobody) follows in lines of its
own, because leaving it out would make the lab's computing look cheaper than the servers'
meters say. The figures come from the monthly rollups (:mod:`impactlib.store.rollup`), so a
year of per-minute data reads in well under a second.

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
from .figures import (
    Amounts,
    class_text,
    emissions_text,
    energy_text,
    lab_amounts,
    range_figures,
)
from .labunits import GroupUnit, lab_units

UNATTRIBUTED_LABEL = "(unattributed)"
TOTAL_LABEL = "all"
NOTE = (
    "Energy includes PUE; months are UTC; a run crossing months is split by its per-minute "
    "energy. (low–high): the range, the runs' bounds added; class: BoAmps' quality class of "
    "the energy. Measured: the share of the energy a meter read (the rest was estimated by a "
    "model or imported). Unattributed: the servers' energy that no run was charged (before "
    "PUE), where the impactlib daemon recorded it."
)
FIGURES = ("runs", "energy", "CO2e", "measured", "class", "CPU-h", "GPU-h", "duration")


class LabReport(NamedTuple):
    """Everything a lab report shows."""

    by: tuple[str, ...]
    selection: Selection
    lines: list[LabTotal]
    total: LabTotal | None
    unattributed: list[Unattributed]
    units: tuple[GroupUnit, ...] = ()  # per group and unit of work counted (.labunits)
    units_total: tuple[GroupUnit, ...] = ()  # the same over the whole selection


def build(
    store: Store, by: Sequence[str], selection: Selection, *, with_units: bool = False
) -> LabReport:
    """Refresh the rollups, then read the lines, the total and the unattributed energy;
    ``with_units``: and the figures per unit of work, which read the selection's run records
    (the rollups keep no counts), so only the reports that show them ask for them."""
    refresh(store)
    totals = lab_totals(store, (), selection)
    units, units_total = lab_units(store, by, selection) if with_units else ((), ())
    return LabReport(
        tuple(by),
        selection,
        lab_totals(store, by, selection),
        totals[0] if totals else None,
        unattributed(store, by, selection),
        units,
        units_total,
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
        **range_figures(amounts),
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
        energy_text(amounts),
        emissions_text(amounts),
        format_share(amounts.metered_share),
        class_text(amounts),
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


UNITS_TITLE = "Per unit of work"
UNITS_NOTE = (
    "Only the runs that counted a unit; each figure is the group's sum over them divided by "
    "the units. Energy includes PUE; CO2e is operational (E x I); SCI = (E x I + M) / R with "
    "M the embodied share (ISO/IEC 21031:2024), '-' where a run's M is unknown."
)


def unit_cells(report: LabReport) -> Cells | None:
    """Per group and unit of work: runs, units, energy, CO2e and SCI per unit (None: no run
    of the selection counted any)."""
    if not report.units:
        return None

    def row(keys: list[str], u: GroupUnit) -> list[str]:
        return [
            *keys,
            u.unit,
            str(u.runs),
            format_number(u.count, 6),
            format_energy_j(u.energy_per_unit_j),
            format_mass_kg(u.emissions_per_unit_kg),
            "-" if u.sci_kg is None else format_mass_kg(u.sci_kg),
        ]

    rows = [row(list(u.keys.values()), u) for u in report.units]
    if report.by:  # the whole selection's, one row per unit, after the groups'
        rows += [row([TOTAL_LABEL] * len(report.by), u) for u in report.units_total]
    header = [*report.by, "unit", "runs", "count", "energy/unit", "CO2e/unit", "SCI/unit"]
    return Cells(header, rows, None, len(report.by) + 1)


def raw_units(u: GroupUnit) -> dict[str, Any]:
    """A group's unit of work as raw numbers (kWh with PUE, kg)."""
    return {
        **u.keys,
        "unit": u.unit,
        "runs": u.runs,
        "count": u.count,
        "energy_kwh_per_unit": u.energy_per_unit_j / J_PER_KWH,
        "emissions_kg_per_unit": u.emissions_per_unit_kg,
        "sci_kg_per_unit": u.sci_kg,
    }


UNATTRIBUTED_TITLE = "Unattributed: the servers' energy no run was charged (before PUE)"
