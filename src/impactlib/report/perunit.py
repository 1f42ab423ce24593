"""Figures per unit of work, the Software Carbon Intensity, and steady-state windows.

A run that counted its units of work (``tracker.count``, ``impactlib count``, the trainers'
samples: :mod:`impactlib.attribution.work`) is read per unit: energy, operational CO2e and
SCI per volume, per request, per sample. The SCI is ISO/IEC 21031:2024's (the Green
Software Foundation's specification)::

    SCI = ((E x I) + M) per R

- ``E``: the energy the run was charged, in kWh, PUE included;
- ``I``: the location-based carbon intensity it was priced at, in g CO2e/kWh: an
  *average* intensity (a static annual table, or a live grid operator's series; no source
  here gives marginal intensities), energy-weighted over the run, so ``E x I`` is exactly
  the run's operational CO2e, as every report gives it;
- ``M``: the embodied emissions' share of the hardware the run used (the record's
  ``embodied_kg``: :mod:`impactlib.embodied`); where it is unknown the SCI is not given
  (a figure without M would not be the SCI), the operational CO2e per unit still is;
- ``R``: the functional units counted.

Where the record has a range on its emissions (:mod:`impactlib.uncertainty`), the SCI has
one: ``(E x I)``'s bounds, plus M, per R (M's own uncertainty is not known as a range).

A window (``with tracker.window("serve")``) is ML.ENERGY's steady-state measurement: its
charged energy (PUE included) split into dynamic and idle, per unit counted in it, priced at
the run's intensity ``I``.

This module computes from plain numbers and the record's ``model`` field; it imports no
other report module, so :mod:`.figures` can hold its results in every run's figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..attribution.work import UNITS_KEY, WINDOWS_KEY
from ..units import (
    G_PER_KG,
    J_PER_KWH,
    MASS_SCALES,
    format_duration_s,
    format_energy_j,
    format_in,
    format_mass_kg,
    format_number,
    format_share,
    scale_for,
)

INTENSITY_KIND = "location-based average"  # what every intensity source here gives


class MassRange(NamedTuple):
    """The low and high ends of a mass's range, in kg."""

    low_kg: float
    high_kg: float


@dataclass(frozen=True)
class SciTerms:
    """A run's E, I and M, the SCI's terms its units share."""

    energy_kwh: float  # E, PUE included
    intensity_g_per_kwh: float  # I, energy-weighted over the run
    intensity_source: str  # the source that priced it (static table, rte, gb...)
    zone: str
    embodied_kg: float | None  # M (None: unknown)
    operational_range: MassRange | None  # the range of E x I, where the record has one

    @property
    def operational_kg(self) -> float:
        """``E x I``, in kg CO2e."""
        return self.energy_kwh * self.intensity_g_per_kwh / G_PER_KG


@dataclass(frozen=True)
class UnitFigures:
    """A run's figures per one unit of work."""

    unit: str
    count: float  # R
    energy_j: float  # E per unit, PUE included
    emissions_kg: float  # E x I per unit (operational)
    sci_kg: float | None  # (E x I + M) / R; None where M is unknown
    sci_range: MassRange | None  # where the record has a range and M is known


@dataclass(frozen=True)
class WindowUnit:
    """A window's figures per unit counted in it (PUE included)."""

    unit: str
    count: float
    energy_j: float
    dynamic_j: float
    idle_j: float
    emissions_kg: float


@dataclass(frozen=True)
class WindowFigures:
    """A steady-state window of a run."""

    name: str
    started_at: str
    duration_s: float
    energy_j: float  # charged in the window, PUE included
    dynamic_j: float
    idle_j: float
    emissions_kg: float  # at the run's intensity
    complete: bool  # closed by its block (False: the run ended inside it)
    units: tuple[WindowUnit, ...]

    @property
    def idle_share(self) -> float | None:
        """The idle part of the window's energy (None without energy)."""
        return self.idle_j / self.energy_j if self.energy_j > 0 else None


@dataclass(frozen=True)
class WorkFigures:
    """What a run did, per unit: its SCI terms, its figures per unit, its windows."""

    terms: SciTerms | None = None  # None: no priced footprint
    per_unit: tuple[UnitFigures, ...] = ()
    windows: tuple[WindowFigures, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.per_unit or self.windows)


NO_WORK = WorkFigures()


def _number(value: Any) -> float | None:
    """A stored number (a whole count stays an int), None for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return value


def counted(units: Any) -> dict[str, float]:
    """The positive counts of a stored ``units`` mapping (anything else is left out)."""
    if not isinstance(units, Mapping):
        return {}
    out = {}
    for unit, value in units.items():
        n = _number(value)
        if n is not None and n > 0:
            out[str(unit)] = n
    return out


def sci_terms(
    *,
    energy_j: float,
    emissions_kg: float,
    embodied_kg: float | None,
    priced_g_per_kwh: float,
    source: str,
    zone: str,
    emissions_range: MassRange | None,
) -> SciTerms:
    """E, I and M of a run (``energy_j`` with PUE; ``priced_g_per_kwh``: the record's mean,
    used for I only when there is no energy to divide its CO2e by)."""
    energy_kwh = energy_j / J_PER_KWH
    intensity = emissions_kg * G_PER_KG / energy_kwh if energy_kwh > 0 else priced_g_per_kwh
    return SciTerms(energy_kwh, intensity, source, zone, embodied_kg, emissions_range)


def unit_figures(terms: SciTerms, unit: str, count: float) -> UnitFigures:
    """The run's figures per one of ``count`` units (``count`` > 0)."""
    operational = terms.operational_kg
    m = terms.embodied_kg
    sci = None if m is None else (operational + m) / count
    rng = terms.operational_range
    sci_range = None
    if rng is not None and m is not None:
        sci_range = MassRange((rng.low_kg + m) / count, (rng.high_kg + m) / count)
    return UnitFigures(
        unit=unit,
        count=count,
        energy_j=terms.energy_kwh * J_PER_KWH / count,
        emissions_kg=operational / count,
        sci_kg=sci,
        sci_range=sci_range,
    )


def window_figures(stored: Any, pue: float, intensity_g_per_kwh: float) -> WindowFigures | None:
    """One stored window (None where the entry is not one)."""
    if not isinstance(stored, Mapping):
        return None
    dynamic, idle = _number(stored.get("dynamic_j")), _number(stored.get("idle_j"))
    duration = _number(stored.get("duration_s"))
    if dynamic is None or idle is None or duration is None:
        return None
    dynamic_j, idle_j = dynamic * pue, idle * pue
    energy_j = dynamic_j + idle_j

    def kg(joules: float) -> float:
        return joules / J_PER_KWH * intensity_g_per_kwh / G_PER_KG

    units = tuple(
        WindowUnit(unit, n, energy_j / n, dynamic_j / n, idle_j / n, kg(energy_j) / n)
        for unit, n in counted(stored.get("units")).items()
    )
    return WindowFigures(
        name=str(stored.get("name", "")),
        started_at=str(stored.get("started_at", "")),
        duration_s=duration,
        energy_j=energy_j,
        dynamic_j=dynamic_j,
        idle_j=idle_j,
        emissions_kg=kg(energy_j),
        complete=bool(stored.get("complete", True)),
        units=units,
    )


def work_figures(
    model: Mapping[str, Any] | None, terms: SciTerms | None, pue: float
) -> WorkFigures:
    """A run's figures per unit and its windows, from its ``model`` field and its terms
    (None: the run has no priced footprint, so nothing is divided)."""
    if not model or terms is None:
        return NO_WORK
    per_unit = tuple(unit_figures(terms, u, n) for u, n in counted(model.get(UNITS_KEY)).items())
    stored = model.get(WINDOWS_KEY)
    windows = tuple(
        w
        for w in (
            window_figures(s, pue, terms.intensity_g_per_kwh)
            for s in (stored if isinstance(stored, list) else [])
        )
        if w is not None
    )
    return WorkFigures(terms, per_unit, windows)


# --- the same figures as raw numbers (kWh, kg, s), for JSON and CSV ------------------------

UNIT_PREFIX = "per_unit:"  # CSV columns per_unit:<unit>:<figure>, as metric:<name>


def work_json(work: WorkFigures) -> dict[str, Any]:
    """``per_unit`` and ``windows`` of a run in fixed units (kWh with PUE, kg CO2e)."""
    return {
        "per_unit": [
            {
                "unit": u.unit,
                "count": u.count,
                "energy_kwh": u.energy_j / J_PER_KWH,
                "emissions_kg": u.emissions_kg,
                "sci_kg": u.sci_kg,
                "sci_low_kg": None if u.sci_range is None else u.sci_range.low_kg,
                "sci_high_kg": None if u.sci_range is None else u.sci_range.high_kg,
            }
            for u in work.per_unit
        ],
        "windows": [
            {
                "name": w.name,
                "started_at": w.started_at,
                "duration_s": w.duration_s,
                **_split_kwh(w),
                "idle_share": w.idle_share,
                "emissions_kg": w.emissions_kg,
                "complete": w.complete,
                "per_unit": [
                    {
                        "unit": u.unit,
                        "count": u.count,
                        **_split_kwh(u),
                        "emissions_kg": u.emissions_kg,
                    }
                    for u in w.units
                ],
            }
            for w in work.windows
        ],
    }


def _split_kwh(figures: WindowFigures | WindowUnit) -> dict[str, float]:
    """A window's (or a unit's in it) charged energy and its dynamic and idle parts, in kWh."""
    return {
        "energy_kwh": figures.energy_j / J_PER_KWH,
        "dynamic_kwh": figures.dynamic_j / J_PER_KWH,
        "idle_kwh": figures.idle_j / J_PER_KWH,
    }


def unit_columns(work: WorkFigures) -> dict[str, Any]:
    """A run's figures per unit as CSV cells: ``per_unit:<unit>:count``, ``:energy_kwh``,
    ``:emissions_kg``, ``:sci_kg`` (empty where M is unknown)."""
    out: dict[str, Any] = {}
    for u in work.per_unit:
        key = f"{UNIT_PREFIX}{u.unit}:"
        out[key + "count"] = u.count
        out[key + "energy_kwh"] = u.energy_j / J_PER_KWH
        out[key + "emissions_kg"] = u.emissions_kg
        out[key + "sci_kg"] = "" if u.sci_kg is None else u.sci_kg
    return out


# --- the same figures in words, for every output that writes sentences or cells ----------


def sci_text(unit: UnitFigures, co2e: bool = True) -> str:
    """``0.52 g CO2e (0.41-0.63)`` per unit (``co2e``: with the word), or ``-`` where M
    is unknown."""
    if unit.sci_kg is None:
        return "-"
    scale = scale_for(unit.sci_kg, MASS_SCALES)
    text = f"{format_in(unit.sci_kg, scale)} {scale.symbol}" + (" CO2e" if co2e else "")
    rng = unit.sci_range
    if rng is not None and rng.low_kg != rng.high_kg:
        text += f" ({format_in(rng.low_kg, scale)}\u2013{format_in(rng.high_kg, scale)})"
    return text


def unit_line(unit: UnitFigures) -> str:
    """``per volume (10,000 volumes): 1.2 Wh, 0.067 g CO2e, SCI 0.52 g CO2e``."""
    sci = sci_text(unit)
    return (
        f"per {singular(unit.unit)} ({format_number(unit.count, 6)} {unit.unit}): "
        f"{format_energy_j(unit.energy_j)}, {format_mass_kg(unit.emissions_kg)} CO2e, "
        + (f"SCI {sci}" if unit.sci_kg is not None else "SCI - (embodied unknown)")
    )


def window_lines(window: WindowFigures) -> list[str]:
    """A window's energy with its idle share, then one line per unit counted in it."""
    cut = "" if window.complete else ", cut short by the run's end"
    lines = [
        f"window {window.name}: {format_duration_s(window.duration_s)}, "
        f"{format_energy_j(window.energy_j)} (idle {format_share(window.idle_share)}), "
        f"{format_mass_kg(window.emissions_kg)} CO2e{cut}"
    ]
    lines += [
        f"  per {singular(u.unit)} ({format_number(u.count, 6)}): "
        f"{format_energy_j(u.energy_j)} (dynamic {format_energy_j(u.dynamic_j)}, idle "
        f"{format_energy_j(u.idle_j)}), {format_mass_kg(u.emissions_kg)} CO2e"
        for u in window.units
    ]
    return lines


def singular(unit: str) -> str:
    """``volume`` for ``volumes`` (a unit is named as counted, usually a plural)."""
    if unit.endswith("ies") and len(unit) > 4:
        return unit[:-3] + "y"
    if unit.endswith("s") and not unit.endswith("ss") and len(unit) > 2:
        return unit[:-1]
    return unit
