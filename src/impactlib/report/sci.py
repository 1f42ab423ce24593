"""``impactlib export --format sci``: the Software Carbon Intensity of runs, its terms apart.

The SCI (ISO/IEC 21031:2024, the Green Software Foundation's specification) is a rate:
``SCI = ((E x I) + M) per R``. A reader checking it needs each term, its unit and where it
came from, not only the result, so every run and functional unit gets one entry with E, I,
M and R apart, the SCI, and its range where the record has one (:mod:`.perunit` computes
them, for this export and every report alike). Masses are in grams, the SCI's usual unit.

A run that cannot be given an SCI is listed with the reason (no unit counted, no finished
footprint, embodied emissions unknown), never left out silently.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..store.records import RunRecord
from ..units import G_PER_KG
from .figures import RunFigures, run_figures
from .perunit import INTENSITY_KIND, SciTerms, UnitFigures

SPECIFICATION = "Software Carbon Intensity, ISO/IEC 21031:2024 (Green Software Foundation)"
FORMULA = "SCI = ((E * I) + M) per R"
TERMS = {
    "E_kwh": "energy charged to the run, kWh, PUE included",
    "I_g_per_kwh": (
        f"carbon intensity, g CO2e/kWh, {INTENSITY_KIND}, energy-weighted over the run "
        "(E * I is the run's operational CO2e)"
    ),
    "M_g": "embodied emissions' share of the hardware used, g CO2e (amortised over its life)",
    "R": "functional units counted (tracker.count, impactlib count, the trainers' samples)",
    "SCI_g_per_unit": "((E * I) + M) / R, g CO2e per functional unit",
    "SCI_low_g_per_unit": "(low end of E * I's range + M) / R; null: no range recorded",
    "SCI_high_g_per_unit": "(high end of E * I's range + M) / R",
}


def _grams(kg: float | None) -> float | None:
    return None if kg is None else kg * G_PER_KG


def entry(run: RunFigures, terms: SciTerms, unit: UnitFigures) -> dict[str, Any]:
    """One run's SCI per one of its functional units."""
    rng = unit.sci_range
    return {
        "run_id": run.id,
        "project": run.project,
        "experiment": run.experiment,
        "started_at": run.started_at,
        "functional_unit": unit.unit,
        "E_kwh": terms.energy_kwh,
        "I_g_per_kwh": terms.intensity_g_per_kwh,
        "I_kind": INTENSITY_KIND,
        "I_source": terms.intensity_source,
        "zone": terms.zone,
        "M_g": _grams(terms.embodied_kg),
        "R": unit.count,
        "SCI_g_per_unit": _grams(unit.sci_kg),
        "SCI_low_g_per_unit": None if rng is None else _grams(rng.low_kg),
        "SCI_high_g_per_unit": None if rng is None else _grams(rng.high_kg),
        "operational_g_per_unit": _grams(unit.emissions_kg),
        "energy_kwh_per_unit": terms.energy_kwh / unit.count,
        "note": None if unit.sci_kg is not None else "M unknown: no SCI without it",
    }


def _why_none(record: RunRecord) -> str:
    if record.footprint is None:
        return "no footprint saved"
    if record.footprint.carbon is None:
        return "not priced (no carbon intensity recorded)"
    return "no functional unit counted"


def sci_export(records: Sequence[RunRecord]) -> dict[str, Any]:
    """The SCI of ``records``: one entry per run and unit; the runs without one, and why."""
    entries: list[dict[str, Any]] = []
    without: list[dict[str, str]] = []
    for record in records:
        run = run_figures(record)
        terms = run.work.terms
        if terms is None or not run.work.per_unit:
            without.append({"run_id": run.id, "reason": _why_none(record)})
            continue
        entries += [entry(run, terms, unit) for unit in run.work.per_unit]
    return {
        "specification": SPECIFICATION,
        "formula": FORMULA,
        "terms": TERMS,
        "entries": entries,
        "without_sci": without,
    }


def to_sci(records: Sequence[RunRecord]) -> str:
    """The SCI export as JSON text."""
    return json.dumps(sci_export(records), indent=2) + "\n"
