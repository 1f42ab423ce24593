"""A lab report's figures per unit of work: per group of ``--by``, per unit the runs counted.

The lab's monthly rollups keep no counts, so the runs of the selection are read (their
records, not their per-minute series) and those that counted units of work are grouped by
the report's dimensions; a run counts in the month it started. Per group and unit: the runs,
the units, and the energy (PUE included), operational CO2e and SCI per unit, each the sum
over the runs divided by the sum of their units, so a group's SCI is
``(sum of E x I + sum of M) / sum of R`` (:mod:`.perunit`); it is not given where a run's
embodied share M is unknown. Only the runs that counted a unit go into its figures: a run
that counted none would add energy and no unit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..units import J_PER_KWH
from .figures import work_of

if TYPE_CHECKING:
    from ..store.base import Store
    from ..store.records import RunRecord
    from ..store.rollup import Selection


@dataclass(frozen=True)
class GroupUnit:
    """One unit of work counted by the runs of one group."""

    keys: dict[str, str]  # the group's value of each --by dimension
    unit: str
    runs: int
    count: float  # R, summed
    energy_j: float  # E, summed, PUE included
    emissions_kg: float  # E x I, summed
    embodied_kg: float | None  # M, summed; None where some run's is unknown

    @property
    def energy_per_unit_j(self) -> float:
        return self.energy_j / self.count

    @property
    def emissions_per_unit_kg(self) -> float:
        return self.emissions_kg / self.count

    @property
    def sci_kg(self) -> float | None:
        """``(sum E x I + sum M) / sum R``; None where M is unknown for some run."""
        if self.embodied_kg is None:
            return None
        return (self.emissions_kg + self.embodied_kg) / self.count


def selected(store: Store, selection: Selection) -> list[RunRecord]:
    """The runs of the selection (months by start, project, experiment, user, host)."""
    return [
        r
        for r in store.list_runs(project=selection.project, experiment=selection.experiment)
        if selection.since <= r.started_at[:7] <= selection.until
        and selection.user in (None, r.user)
        and selection.host in (None, r.host)
    ]


def _keys(record: RunRecord, by: Sequence[str]) -> dict[str, str]:
    values = {
        "user": record.user,
        "project": record.project,
        "experiment": record.experiment,
        "host": record.host,
        "month": record.started_at[:7],
    }
    return {d: values[d] for d in by}


def group_units(records: Iterable[RunRecord], by: Sequence[str]) -> tuple[GroupUnit, ...]:
    """The units counted per group of ``by`` (``()``: the whole selection), sorted by the
    groups' values, then by unit."""
    sums: dict[tuple[tuple[str, ...], str], GroupUnit] = {}
    for record in records:
        work = work_of(record.footprint, record.model)
        if work.terms is None:
            continue
        keys = _keys(record, by)
        for unit in work.per_unit:
            key = (tuple(keys.values()), unit.unit)
            m = work.terms.embodied_kg
            before = sums.get(key)
            if before is None:
                before = GroupUnit(keys, unit.unit, 0, 0, 0.0, 0.0, 0.0)
            embodied = None if before.embodied_kg is None or m is None else before.embodied_kg + m
            sums[key] = GroupUnit(
                keys=keys,
                unit=unit.unit,
                runs=before.runs + 1,
                count=before.count + unit.count,
                energy_j=before.energy_j + work.terms.energy_kwh * J_PER_KWH,
                emissions_kg=before.emissions_kg + work.terms.operational_kg,
                embodied_kg=embodied,
            )
    return tuple(sums[key] for key in sorted(sums))


def counted(store: Store, selection: Selection) -> list[RunRecord]:
    """The runs of the selection that counted a unit of work: all the figures per unit read,
    so a reader grouping them several ways (the dashboard) reads the store once."""
    return [r for r in selected(store, selection) if (r.model or {}).get("units")]


def lab_units(
    store: Store, by: Sequence[str], selection: Selection
) -> tuple[tuple[GroupUnit, ...], tuple[GroupUnit, ...]]:
    """The units per group of ``by`` and for the whole selection (the total line)."""
    runs = counted(store, selection)
    return group_units(runs, by), group_units(runs, ())
