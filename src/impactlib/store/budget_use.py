"""How much of a budget is used: the lab report's totals over the budget's months.

"Used" is what ``impactlib report --by month`` sums for the same selection, read from the
same monthly rollups (:mod:`.rollup`): each run's energy (PUE included) and operational CO2e
split by UTC month along its per-minute series, every run counted once (a SLURM job's
accounting record is left out where a tracker's run stands for it), the daemon-served runs
with the rest. A lab budget counts every run in the store; the servers' energy that no run
was charged (the daemon's unattributed remainder, which the lab report shows apart, before
PUE and unpriced) is not in it. A SLURM account's budget counts the runs whose record names
that account (``config["slurm"]["account"]``: tracked jobs and ingested ones alike).

A tracker reads its project's budgets once, when it starts (:func:`warn_when_passed`): one
indexed query when the project has no budget, and nothing it meets there (a store that
cannot be read) stops or delays the measurement beyond that.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .._time import now_utc
from ..errors import BudgetWarning
from ..log import log
from ..notices import warn_once
from ..units import format_share
from . import rollup
from .budgets import Budget, BudgetScope, BudgetUnit, Target, format_amount

if TYPE_CHECKING:
    from ..config import Config
    from .base import Store

_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.@+-]+")  # written as is inside JSON text
_ACCOUNT_MONTHS = """SELECT m.month, m.energy_kwh, m.emissions_kg, r.config
    FROM run_months m JOIN runs r ON r.id = m.run_id
    WHERE m.month >= :since AND m.month <= :until AND r.config LIKE :pattern"""


def used_by_month(store: Store, budget: Budget) -> dict[str, float]:
    """The amount of the budget's unit used in each month of its period that has any, from
    the rollups as they stand (:func:`usage` refreshes them first)."""
    since, until = budget.period.months
    target = budget.target
    if target.scope is BudgetScope.ACCOUNT:
        return _account_months(store, budget)
    selection = rollup.Selection(
        since,
        until,
        project=target.name if target.scope is BudgetScope.PROJECT else None,
        user=target.name if target.scope is BudgetScope.USER else None,
    )
    return {
        line.keys["month"]: _in_unit(line.energy_kwh, line.emissions_kg, budget.unit)
        for line in rollup.lab_totals(store, ("month",), selection)
    }


def usage(store: Store, budgets: Sequence[Budget]) -> list[dict[str, float]]:
    """:func:`used_by_month` of each budget, the rollups refreshed once first."""
    if budgets:
        rollup.refresh(store)
    return [used_by_month(store, budget) for budget in budgets]


def _in_unit(energy_kwh: float, emissions_kg: float, unit: BudgetUnit) -> float:
    return float(emissions_kg if unit is BudgetUnit.KG else energy_kwh)


def _account_months(store: Store, budget: Budget) -> dict[str, float]:
    """The months of the runs that name the budget's SLURM account. The SQL only narrows
    the rows (the name quoted somewhere in the settings); each run's account is then read
    from its settings, so a name that is also some other value is never counted."""
    name = budget.target.name
    quoted = json.dumps(name)
    pattern = f"%{quoted}%" if _PLAIN_NAME.fullmatch(name) else '%"account"%'
    since, until = budget.period.months
    out: dict[str, float] = {}
    params = {"since": since, "until": until, "pattern": pattern}
    for month, energy_kwh, emissions_kg, config in store.read(_ACCOUNT_MONTHS, params):
        if _account(config) == name:
            value = _in_unit(energy_kwh, emissions_kg, budget.unit)
            out[str(month)] = out.get(str(month), 0.0) + value
    return out


def _account(config: str) -> str | None:
    slurm: Mapping[str, Any] | None = json.loads(config).get("slurm")
    account = slurm.get("account") if isinstance(slurm, Mapping) else None
    return str(account) if account is not None else None


def passed(store: Store, project: str, share: float, now: datetime) -> list[tuple[Budget, float]]:
    """The budgets of ``project`` in force at ``now`` of which at least ``share`` is used,
    each with what is used."""
    target = Target(BudgetScope.PROJECT, project)
    current = [b for b in store.budgets(target) if b.period.holds(now)]
    used = [sum(months.values()) for months in usage(store, current)]
    return [(b, u) for b, u in zip(current, used, strict=True) if u >= share * b.amount]


def warn_when_passed(store: Store | None, config: Config, now: datetime | None = None) -> None:
    """Warn once per process and budget (a :class:`~impactlib.errors.BudgetWarning` at the
    user's line) when the project's budget in force has reached the ``budget_warn_share``
    setting; 0 turns this off. A store that cannot say is no warning, and no error."""
    share = config.budget_warn_share
    if store is None or share <= 0:
        return
    try:
        found = passed(store, config.project, share, now or now_utc())
    except Exception as exc:  # never stop a run over a budget
        log.debug("impactlib: budgets not checked: %s", exc)
        return
    for budget, used in found:
        what = f"{budget.target} has used {format_amount(used, budget.unit)}"
        warn_once(
            f"budget {budget.key}",
            f"{what} ({format_share(used / budget.amount)}) of its "
            f"{format_amount(budget.amount, budget.unit)} budget for {budget.period.text}, "
            f"past the {format_share(share)} warning share; see `impactlib budget show "
            f"--project {budget.target.name}`",
            BudgetWarning,
        )
