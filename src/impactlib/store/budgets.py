"""Budgets as the store keeps them: a target, a period, a unit and an amount.

A lab decides how much computing it allows itself in a year or a month: in kg of CO2e (its
reduction trajectory) or in kWh (its energy contract), for the whole lab, one project, one
user or one SLURM account. One budget per target, period and unit is kept in the store's
``budgets`` table (:mod:`.schema`; Alembic revision ``0004_budgets``), so that every face
reads the same ones: ``impactlib budget``, ``report --budget``, the dashboard and trackers
(:mod:`.budget_use` says how much of each is used).

Periods are UTC calendar years (``2026``) and months (``2026-12``), the lab report's own
unit: its monthly rollups (:mod:`.rollup`) cover a period exactly, so a budget's "used" is
the lab report's total over the same months.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import NamedTuple

from .._time import UTC
from ..footprint import Word
from ..units import J_PER_KWH, format_energy_j, format_mass_kg

_PERIOD = re.compile(r"(\d{4})(?:-(\d{2}))?")
S_PER_DAY = 86_400.0


class BudgetScope(Word):
    """What a budget is for."""

    LAB = "lab"  # everything in the store
    PROJECT = "project"
    USER = "user"
    ACCOUNT = "account"  # a SLURM account (config["slurm"]["account"] of a run)


class BudgetUnit(Word):
    """What a budget counts: operational CO2e (kg) or energy with PUE (kWh)."""

    KG = "kg"
    KWH = "kWh"


class Target(NamedTuple):
    """Who a budget is for: the lab (``name`` empty), or one project, user or account."""

    scope: BudgetScope
    name: str = ""

    def __str__(self) -> str:
        return str(self.scope) if self.scope is BudgetScope.LAB else f"{self.scope} {self.name}"


class Period(NamedTuple):
    """A UTC calendar year (``"2026"``) or month (``"2026-12"``)."""

    text: str

    @classmethod
    def parse(cls, text: str) -> Period:
        """A period from ``YYYY`` or ``YYYY-MM``; :class:`ValueError` naming the forms."""
        match = _PERIOD.fullmatch(text.strip())
        if not match or int(match[1]) < 1 or not 1 <= int(match[2] or 1) <= 12:
            raise ValueError(f"'{text}' is not a year YYYY or a month YYYY-MM")
        return cls(match[0])

    @property
    def is_month(self) -> bool:
        return len(self.text) == 7

    @property
    def start(self) -> datetime:
        """Its first instant (UTC)."""
        year, _, month = self.text.partition("-")
        return datetime(int(year), int(month or 1), 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first instant after it (UTC)."""
        year, month = self.start.year, self.start.month
        if not self.is_month:
            return datetime(year + 1, 1, 1, tzinfo=UTC)
        return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)

    @property
    def months(self) -> tuple[str, str]:
        """Its first and last month, ``YYYY-MM``, inclusive (a lab report's selection)."""
        if self.is_month:
            return self.text, self.text
        return f"{self.text}-01", f"{self.text}-12"

    @property
    def days(self) -> float:
        """Its length in days (28 to 366)."""
        return (self.end - self.start) / timedelta(days=1)

    def holds(self, when: datetime) -> bool:
        """Whether ``when`` falls within it."""
        return self.start <= when < self.end


class Budget(NamedTuple):
    """One budget: ``amount`` of ``unit`` for ``target`` over ``period``."""

    target: Target
    period: Period
    unit: BudgetUnit
    amount: float

    @property
    def key(self) -> str:
        """What tells it from every other budget (a warning's "once" key, a JSON id)."""
        return f"{self.target.scope}:{self.target.name}:{self.period.text}:{self.unit}"


def budget_order(budget: Budget) -> tuple[int, str, str, int]:
    """How budgets are listed: the lab's, then projects', users', accounts' (by name), each
    by period, kg before kWh."""
    scopes, units = list(BudgetScope), list(BudgetUnit)
    target, unit = budget.target, budget.unit
    return scopes.index(target.scope), target.name, budget.period.text, units.index(unit)


def format_amount(value: float, unit: BudgetUnit, co2e: bool = True) -> str:
    """An amount of ``unit`` for people, in the scale its size calls for (``1.2 t CO2e``,
    ``850 kWh``), as every other output writes masses and energies; nothing is ``0 kg``
    or ``0 kWh`` (not ``0 mg``); ``co2e=False`` leaves the mass's "CO2e" to a caption."""
    if value == 0:
        text = f"0 {unit}"
    elif unit is BudgetUnit.KG:
        text = format_mass_kg(value)
    else:
        text = format_energy_j(value * J_PER_KWH)
    return f"{text} CO2e" if co2e and unit is BudgetUnit.KG else text
