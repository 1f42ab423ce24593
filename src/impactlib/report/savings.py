"""The what-if's savings (:mod:`impactlib.planning.whatif`) laid out as a table or as JSON.

The same figures in both, and on the dashboard's what-if view (:func:`savings_json` is what
its API answers): savings per user and per project, the total, the runs that could not be
priced with why, and the assumptions in words. Tables are built with the terminal table's
columns (:mod:`.table`), so they fit a width the way every other table does.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

from ..planning.schedule import format_duration
from ..planning.whatif import GroupSaving, WhatIfReport
from ..units import format_mass_kg, format_share
from .methods import short_id
from .table import Column, rich_table, to_text

FORMATS = ("table", "json")  # what ``report --what-if`` is shown as
GROUPS = ("user", "project")


def headline(report: WhatIfReport) -> str:
    """One line: the total saving and what it is out of, e.g. ``What if shift=24h: 1.2 kg
    CO2e saved (30 %) of 4 kg, 3 runs priced``; where none could be priced, that (a saving of
    0 out of 0 would read as a finding)."""
    total = report.total
    if not total.runs:
        listed = len(report.unpriced)
        return f"What if {report.what_if.text}: no run could be priced" + (
            f" ({listed} listed below, with why)" if listed else " (no run selected)"
        )
    return (
        f"What if {report.what_if.text}: {format_mass_kg(total.saving_kg)} CO2e saved "
        f"({format_share(total.saving_share)}) of {format_mass_kg(total.baseline_kg)}, "
        f"{total.runs} run{'s' if total.runs != 1 else ''} priced"
    )


def _group_columns(key: str, groups: Sequence[GroupSaving]) -> list[Column]:
    return [
        Column(key, [g.name for g in groups]),
        Column("runs", [str(g.runs) for g in groups], numeric=True, drop=2),
        Column("as run", [format_mass_kg(g.baseline_kg) for g in groups], numeric=True, drop=1),
        Column("what-if", [format_mass_kg(g.whatif_kg) for g in groups], numeric=True, drop=1),
        Column("saved", [format_mass_kg(g.saving_kg) for g in groups], numeric=True),
        Column("saved %", [format_share(g.saving_share) for g in groups], numeric=True),
    ]


def render_table(report: WhatIfReport, width: int) -> str:
    """The headline, a table per user and per project (with the total), the runs not
    priced, and the assumptions."""
    parts: list[Any] = [headline(report)]
    if report.runs:
        for key in GROUPS:
            groups = [*report.by(key), report.total]
            parts += ["", rich_table(f"Savings per {key}", _group_columns(key, groups), width)]
    not_priced = report.unpriced
    if not_priced:
        columns = [
            Column("run", [short_id(u.run_id) for u in not_priced]),
            Column("user", [u.user for u in not_priced], drop=1),
            Column("project", [u.project for u in not_priced], drop=1),
            Column("why", [u.reason for u in not_priced], prose=True),
        ]
        parts += ["", rich_table(f"Runs not priced ({len(not_priced)})", columns, width)]
    bullets = (
        "\n".join(textwrap.wrap(a, width, initial_indent="- ", subsequent_indent="  "))
        for a in report.assumptions
    )
    parts += ["", "Assumptions:", *bullets]  # each bullet's lines under its text
    return to_text(parts, width)


def _group_json(group: GroupSaving) -> dict[str, Any]:
    return {
        "runs": group.runs,
        "baseline_kg": group.baseline_kg,
        "whatif_kg": group.whatif_kg,
        "saving_kg": group.saving_kg,
        "saving_pct": None if group.saving_share is None else 100.0 * group.saving_share,
    }


def savings_json(report: WhatIfReport) -> dict[str, Any]:
    """Raw numbers (kg CO2e, percent, seconds) and, for people, the headline."""
    spec = report.what_if
    return {
        "what_if": spec.text,
        "lever": spec.lever.value,
        "headline": headline(report),
        "total": _group_json(report.total),
        **{
            f"by_{key}": [{key: g.name, **_group_json(g)} for g in report.by(key)] for key in GROUPS
        },
        "runs": [
            {
                "id": r.run_id,
                "user": r.user,
                "project": r.project,
                "started_at": r.started_at,
                "baseline_kg": r.baseline_kg,
                "whatif_kg": r.whatif_kg,
                "saving_kg": r.saving_kg,
                "moved_by_s": None if r.moved_by is None else r.moved_by.total_seconds(),
                "moved_by": None if r.moved_by is None else format_duration(r.moved_by),
                "priced_by": r.priced_by,
            }
            for r in report.runs
        ],
        "not_priced": [
            {"id": u.run_id, "user": u.user, "project": u.project, "reason": u.reason}
            for u in report.unpriced
        ],
        "assumptions": list(report.assumptions),
    }


def render_json(report: WhatIfReport) -> str:
    """:func:`savings_json` as text."""
    import json

    return json.dumps(savings_json(report), indent=2) + "\n"
