"""The tables of work every report format lays out: figures per unit, and windows.

The figures are :mod:`.perunit`'s, held in every run's figures (``RunFigures.work``); this
module only puts them in cells, once, so the terminal table, Markdown, LaTeX and HTML show
the same text.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..units import (
    format_duration_s,
    format_energy_j,
    format_mass_kg,
    format_number,
    format_share,
)
from .figures import ReportFigures
from .methods import short_id
from .perunit import WorkFigures, sci_text


@dataclass(frozen=True)
class Cells:
    """A table of text cells: the per-unit or windows table every report format lays out."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str  # what the figures include, under the table


UNITS_TITLE = "Per unit of work"
WINDOWS_TITLE = "Steady-state windows"
UNITS_NOTE = (
    "energy includes PUE; CO2e is operational (E x I); SCI = (E x I + M) / R with M the "
    "embodied share (ISO/IEC 21031:2024), '-' where M is unknown"
)
WINDOWS_NOTE = "energy includes PUE, split into dynamic and idle; CO2e at the run's intensity"


def unit_cells(figures: ReportFigures) -> Cells | None:
    """One row per run and unit counted; None when no run counted any."""
    works = _works(figures)
    rows = tuple(
        (
            run,
            u.unit,
            format_number(u.count, 6),
            format_energy_j(u.energy_j),
            format_mass_kg(u.emissions_kg),
            sci_text(u, co2e=False),
        )
        for run, work in works.items()
        for u in work.per_unit
    )
    if not rows:
        return None
    header = ("run", "unit", "count", "energy/unit", "CO2e/unit", "SCI/unit")
    return Cells(UNITS_TITLE, header, rows, UNITS_NOTE)


def window_cells(figures: ReportFigures) -> Cells | None:
    """One row per window and unit counted in it (a window without units: one row)."""
    works = _works(figures)
    rows: list[tuple[str, ...]] = []
    for run, work in works.items():
        for w in work.windows:
            head = (
                run,
                w.name + ("" if w.complete else " (cut short)"),
                format_duration_s(w.duration_s),
                format_energy_j(w.energy_j),
                format_share(w.idle_share),
            )
            rows += [
                (
                    *head,
                    u.unit,
                    format_number(u.count, 6),
                    format_energy_j(u.energy_j),
                    format_energy_j(u.dynamic_j),
                    format_energy_j(u.idle_j),
                    format_mass_kg(u.emissions_kg),
                )
                for u in w.units
            ] or [(*head, "-", "-", "-", "-", "-", "-")]
    if not rows:
        return None
    header = (
        "run",
        "window",
        "duration",
        "energy",
        "idle",
        "unit",
        "count",
        "energy/unit",
        "dynamic/unit",
        "idle/unit",
        "CO2e/unit",
    )
    return Cells(WINDOWS_TITLE, header, tuple(rows), WINDOWS_NOTE)


def _works(figures: ReportFigures) -> dict[str, WorkFigures]:
    """The runs that counted units or opened windows, by short id."""
    return {short_id(r.id): r.work for r in figures.runs if r.work}


def work_tables(figures: ReportFigures) -> list[Cells]:
    """The per-unit table and the windows table, those that have rows."""
    return [c for c in (unit_cells(figures), window_cells(figures)) if c is not None]
