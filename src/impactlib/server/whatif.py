"""The dashboard's what-if view: what ``report --what-if`` answers, for the page's filters.

The figures are :func:`impactlib.report.savings.savings_json`'s, built by the same function
as the CLI's (:func:`impactlib.planning.whatif.what_if`) over the same runs, so the page and
``impactlib report --what-if shift=24h --format json`` never disagree. The tables' cells are
written here in people's units (:mod:`impactlib.units`), so the page's script only places them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..planning.whatif import GroupSaving, parse_what_if, what_if
from ..report.savings import GROUPS, savings_json
from ..store.records import with_liveness
from ..units import format_mass_kg, format_share

if TYPE_CHECKING:
    from ..config import Config
    from ..store.base import Store
    from ..store.rollup import Selection

CHOICES = ("shift=24h", "shift=6h", "pue=1.2", "zone=SE")  # the page's select, first: default
PARAMETER = "what_if"
HEADER = ("runs", "as run", "what-if", "saved", "saved %")


def _row(group: GroupSaving) -> list[str]:
    return [
        group.name,
        str(group.runs),
        format_mass_kg(group.baseline_kg),
        format_mass_kg(group.whatif_kg),
        format_mass_kg(group.saving_kg),
        format_share(group.saving_share),
    ]


def answer(
    store: Store, chosen: Selection, query: Mapping[str, str], config: Config
) -> dict[str, Any]:
    """The what-if named by ``query[what_if]`` (default :data:`CHOICES`'s first) over the
    runs ``chosen`` selects: the raw figures, then a table per user and per project in
    people's units. :class:`~impactlib.errors.UsageError` for a bad spec (its message is
    the page's line)."""
    spec = parse_what_if(query.get(PARAMETER, "").strip() or CHOICES[0])
    records = [
        with_liveness(r)
        for r in store.list_runs(project=chosen.project, experiment=chosen.experiment)
        if chosen.since <= r.started_at[:7] <= chosen.until
        and chosen.user in (None, r.user)
        and chosen.host in (None, r.host)
    ]
    report = what_if(spec, records, store.series, config)
    tables = {
        key: {
            "header": [key, *HEADER],
            "rows": [_row(g) for g in report.by(key)],
            "total": _row(report.total) if report.runs else None,
        }
        for key in GROUPS
    }
    return {**savings_json(report), "tables": tables}
