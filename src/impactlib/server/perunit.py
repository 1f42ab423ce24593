"""The dashboard's per-unit panel: what ``report --by project|user --format json`` gives per
unit of work, for the page's filters.

The figures are :mod:`impactlib.report.labunits`' (the runs that counted a unit, grouped, each
figure the group's sums divided by its units), built by the same functions as the lab report's
over the same runs, so the page and ``impactlib report --by project --format json`` never
disagree; the tables' cells are :func:`impactlib.report.lab.unit_cells`', as the lab report's
table writes them, so the page's script only places them. The rollups keep no counts, so the
run records are read: once per request, grouped per dimension from that one reading, and only
for this panel (``api/totals`` reads none).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..report import lab
from ..report.labunits import GroupUnit, counted, group_units

if TYPE_CHECKING:
    from ..store.base import Store
    from ..store.rollup import Selection

DIMENSIONS = ("project", "user")  # a table each, as `report --by project` and `--by user`
NONE_COUNTED = (
    "no run of this selection counted a unit of work (tracker.count(n, unit=...) or "
    "`impactlib count N --unit ...` inside `impactlib run`)"
)


def _table(
    by: str, chosen: Selection, units: tuple[GroupUnit, ...], total: tuple[GroupUnit, ...]
) -> dict[str, list[Any]] | None:
    """The lab report's per-unit table by ``by`` (its groups' rows, then the total's), cell
    for cell; None where no run counted a unit. The report handed to :func:`lab.unit_cells`
    holds only its figures per unit, all that function reads."""
    cells = lab.unit_cells(lab.LabReport((by,), chosen, [], None, [], units, total))
    return None if cells is None else {"header": cells.header, "rows": cells.rows}


def _status(total: tuple[GroupUnit, ...]) -> str:
    """The panel's line: the units the selection's runs counted, or why there is no table."""
    if not total:
        return NONE_COUNTED
    return "units of work counted: " + ", ".join(u.unit for u in total)


def answer(store: Store, chosen: Selection) -> dict[str, Any]:
    """Per dimension, each group's units as ``report --by <dimension> --format json`` writes
    its ``per_unit``, the whole selection's as its ``per_unit_total``, then what the page
    shows: a status line, the tables in people's units and the lab report's note."""
    runs = counted(store, chosen)
    total = group_units(runs, ())
    groups = {by: group_units(runs, (by,)) for by in DIMENSIONS}
    tables = {by: _table(by, chosen, units, total) for by, units in groups.items()}
    return {
        "groups": {by: [lab.raw_units(u) for u in units] for by, units in groups.items()},
        "total": [lab.raw_units(u) for u in total],
        "status": _status(total),
        "tables": {by: table for by, table in tables.items() if table is not None},
        "note": lab.UNITS_NOTE,
    }
