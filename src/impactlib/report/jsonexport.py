"""The JSON format: every figure as a raw number in fixed units, for scripts.

A run is its record's summary (kWh with PUE, kg, seconds, the components as measured) plus
what people read beside it: the task metrics, the energy a meter read, the energy per
quality, the ranges of energy and emissions with the quality class (``ranges_derived``: the
record stored none, they were derived from its methods when read), where it was priced and
how that place was found, the settings with where each came from (secrets were masked before
the record was stored), its SLURM job, and its figures per unit of work (``per_unit``) and
steady-state windows (``windows``: :mod:`.perunit`). Lab reports carry their groups, total
and unattributed lines.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..store.records import RunRecord
from ..units import J_PER_KWH
from . import lab
from .figures import RunFigures, component_ranges, range_figures, run_figures
from .perunit import work_json
from .runs import RunsReport


def run_json(record: RunRecord, figures: RunFigures) -> dict[str, Any]:
    """One run: its summary and the figures read beside it."""
    location = figures.location
    summary = record.summary()
    if record.footprint is not None:  # each component with its range (derived if unstored)
        ranges = component_ranges(record.footprint)
        summary["components"] = [{**c, **ranges[c["domain"]]} for c in summary["components"]]
    return {
        **summary,
        "metrics": {m.name: m.value for m in figures.metrics},
        "measured_kwh": figures.amounts.metered_j / J_PER_KWH,
        **work_json(figures.work),
        **range_figures(figures.amounts),
        "quality_class": None if figures.quality_class is None else str(figures.quality_class),
        "ranges_derived": figures.ranges_derived,
        "energy_by_quality_kwh": {q.quality: q.energy_j / J_PER_KWH for q in figures.by_quality},
        "location": None
        if location is None
        else {
            "zone": location.zone,
            "located_by": location.located_by,
            "detail": location.detail,
            "configured": location.configured,
        },
        "config": {
            "values": {s.key: s.value for s in figures.settings},
            "sources": {s.key: s.source for s in figures.settings},
        },
        "slurm": None if figures.slurm is None else dict(figures.slurm),
    }


def to_json(records: Sequence[RunRecord]) -> str:
    """Runs as a JSON list (``report --format json``, ``export --format json``)."""
    runs = [run_json(r, run_figures(r)) for r in records]
    return json.dumps(runs, indent=2, default=str) + "\n"


def render_runs(report: RunsReport, width: int) -> str:
    """The runs, or with ``--waste`` the waste lines."""
    del width  # JSON is not laid out
    if report.waste is not None:
        from .waste import waste_json

        return json.dumps(waste_json(report.waste), indent=2) + "\n"
    runs = [run_json(r, f) for r, f in zip(report.records, report.figures.runs, strict=True)]
    return json.dumps(runs, indent=2, default=str) + "\n"


def render_lab(report: lab.LabReport, width: int) -> str:
    """Groups, total and unattributed lines with raw numbers."""
    del width
    data = {
        "by": list(report.by),
        "since": lab.month_or_none(report.selection.since),
        "until": lab.month_or_none(report.selection.until),
        "project": report.selection.project,
        "experiment": report.selection.experiment,
        "groups": [{**line.keys, **lab.raw_figures(line)} for line in report.lines],
        "total": lab.raw_figures(report.total) if report.total else None,
        "unattributed": [lab.raw_unattributed(u) for u in report.unattributed],
        "per_unit": [lab.raw_units(u) for u in report.units],
        "per_unit_total": [lab.raw_units(u) for u in report.units_total],
        "note": lab.NOTE,
    }
    return json.dumps(data, indent=2) + "\n"
