"""Where each budget stands: used so far, the projection to the period's end, and the day
the budget would be passed.

The projection is linear from the period's mean daily use so far: the amount used from the
period's start to now, divided by the days elapsed (to the second), is the rate; the
projection is that rate times the period's days, and the budget is passed on the UTC day in
which the rate's cumulative line reaches it (``start + budget / rate``). Why this trend and
not a fit over recent days: a lab's computing comes in bursts (a deadline, a cohort run),
and the mean over the period is the figure a person can check by hand from the monthly
report; it moves with every day of use, and over the first days of a period it swings, which
the elapsed days shown beside it tell. A budget already passed says in which month it was
(the rollups are monthly, so the day is not known); one whose period is over says whether
it was kept.

``impactlib budget show``, ``impactlib report --budget`` and the dashboard's budget panel
all show :func:`statuses`, as a table (:func:`render_table`) or as JSON (:func:`to_json`:
raw numbers in the budget's unit, and the texts people read).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from .._time import iso_z
from ..footprint import Word
from ..store.base import Store
from ..store.budget_use import usage
from ..store.budgets import Budget, format_amount
from ..units import format_number, format_share
from .table import TABLE_WIDTH, Column, rich_table, to_text

METHOD = (
    "Projection: linear from the period's mean daily use so far (used / days elapsed x days "
    "in the period). Used: the lab report's totals over the period's UTC months; energy "
    "includes PUE, masses are operational CO2e."
)
NO_BUDGETS = "no budgets; set one with `impactlib budget set`"
FORMATS = ("table", "json")  # what a budget report is shown in


class Outlook(Word):
    """Where a budget stands against its trend."""

    UPCOMING = "upcoming"  # its period has not begun
    ON_TRACK = "on track"  # projected within the budget
    WILL_EXCEED = "will exceed"  # projected beyond it, on a day to come
    EXCEEDED = "exceeded"  # already passed
    KEPT = "kept"  # its period is over, within the budget


class BudgetStatus(NamedTuple):
    """One budget at instant ``at``: amounts in the budget's unit."""

    budget: Budget
    at: datetime
    used: float
    elapsed_days: float  # of the period, up to ``at``
    projected: float | None  # at the period's end (None before it begins)
    outlook: Outlook
    exceeds_on: date | None  # the day the trend passes the budget (will exceed)
    exceeded_in: str | None  # the month in which it was passed (exceeded)

    @property
    def share(self) -> float:
        """The share of the budget used."""
        return self.used / self.budget.amount

    @property
    def passed_text(self) -> str:
        """When the budget is or would be passed, in words."""
        if self.outlook is Outlook.WILL_EXCEED:
            return f"on {self.exceeds_on}"
        if self.outlook is Outlook.EXCEEDED:
            return f"in {self.exceeded_in}"
        return {
            Outlook.ON_TRACK: "not at this pace",
            Outlook.KEPT: "never",
            Outlook.UPCOMING: "period not begun",
        }[self.outlook]


def project(budget: Budget, used_by_month: Mapping[str, float], at: datetime) -> BudgetStatus:
    """``budget``'s status at ``at`` from what was used in each month of its period."""
    period = budget.period
    used = float(sum(used_by_month.values()))
    elapsed = (min(at, period.end) - period.start) / timedelta(days=1)
    if elapsed <= 0:
        return BudgetStatus(budget, at, used, 0.0, None, Outlook.UPCOMING, None, None)
    projected = used / elapsed * period.days
    if used > budget.amount:
        month = _month_passed(budget.amount, used_by_month)
        return BudgetStatus(budget, at, used, elapsed, projected, Outlook.EXCEEDED, None, month)
    if at >= period.end or projected <= budget.amount:
        outlook = Outlook.KEPT if at >= period.end else Outlook.ON_TRACK
        return BudgetStatus(budget, at, used, elapsed, projected, outlook, None, None)
    passed_at = period.start + timedelta(days=budget.amount * elapsed / used)
    return BudgetStatus(
        budget, at, used, elapsed, projected, Outlook.WILL_EXCEED, passed_at.date(), None
    )


def _month_passed(amount: float, used_by_month: Mapping[str, float]) -> str:
    """The first month by the end of which more than ``amount`` was used."""
    total = 0.0
    for month in sorted(used_by_month):
        total += used_by_month[month]
        if total > amount:
            return month
    return max(used_by_month)  # unreachable when the months' sum exceeds the amount


def statuses(store: Store, budgets: Sequence[Budget], at: datetime) -> list[BudgetStatus]:
    """Each budget's status at ``at``, from the store's rollups (refreshed once)."""
    return [
        project(budget, months, at)
        for budget, months in zip(budgets, usage(store, budgets), strict=True)
    ]


def texts(status: BudgetStatus) -> dict[str, str]:
    """A status's figures as people read them (the table's cells, the dashboard's)."""
    unit = status.budget.unit
    projected = status.projected
    return {
        "target": str(status.budget.target),
        "period": status.budget.period.text,
        "budget": format_amount(status.budget.amount, unit, co2e=False),
        "used": format_amount(status.used, unit, co2e=False),
        "share": format_share(status.share),
        "projected": "-" if projected is None else format_amount(projected, unit, co2e=False),
        "passed": status.passed_text,
        "elapsed": f"{format_number(status.elapsed_days)} of "
        f"{format_number(status.budget.period.days)} days",
    }


def raw(status: BudgetStatus) -> dict[str, Any]:
    """A status as raw numbers in the budget's unit (``kg`` of CO2e or ``kWh``), with its
    texts."""
    budget = status.budget
    return {
        "scope": budget.target.scope.value,
        "name": budget.target.name,
        "period": budget.period.text,
        "unit": budget.unit.value,
        "amount": budget.amount,
        "used": status.used,
        "share": status.share,
        "elapsed_days": status.elapsed_days,
        "period_days": budget.period.days,
        "projected": status.projected,
        "outlook": status.outlook.value,
        "exceeds_on": None if status.exceeds_on is None else status.exceeds_on.isoformat(),
        "exceeded_in": status.exceeded_in,
        "texts": texts(status),
    }


_COLUMNS = (  # heading, text key, numeric, drop rank (lowest dropped first)
    ("budget for", "target", False, 0),
    ("period", "period", False, 0),
    ("budget", "budget", True, 0),
    ("used", "used", True, 0),
    ("share", "share", True, 0),
    ("projected", "projected", True, 0),
    ("passed", "passed", False, 0),
    ("elapsed", "elapsed", True, 1),
)


def document(found: Sequence[BudgetStatus], at: datetime) -> dict[str, Any]:
    """The statuses as ``--format json`` writes them and the dashboard reads them: when, by
    which method, the table's headings (over the keys of each budget's ``texts``), and each
    budget (:func:`raw`)."""
    return {
        "at": iso_z(at.replace(microsecond=0)),
        "method": METHOD,
        "columns": [{"key": key, "title": head} for head, key, _, _ in _COLUMNS],
        "budgets": [raw(s) for s in found],
    }


def to_json(found: Sequence[BudgetStatus], at: datetime) -> str:
    """:func:`document` as JSON text."""
    return json.dumps(document(found, at), indent=2) + "\n"


def render_table(found: Sequence[BudgetStatus], at: datetime, width: int = TABLE_WIDTH) -> str:
    """The statuses as a table ``width`` wide, the method under it."""
    if not found:
        return NO_BUDGETS + "\n"
    cells = [texts(s) for s in found]
    columns = [
        Column(head, [c[key] for c in cells], numeric=numeric, drop=drop)
        for head, key, numeric, drop in _COLUMNS
    ]
    title = f"Budgets at {iso_z(at.replace(microsecond=0))}"
    return to_text([rich_table(title, columns, width, METHOD)], width)


def render(found: Sequence[BudgetStatus], at: datetime, fmt: str, width: int) -> str:
    """The statuses in ``fmt`` (one of :data:`FORMATS`)."""
    return to_json(found, at) if fmt == "json" else render_table(found, at, width)
