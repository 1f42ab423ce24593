"""Budget projections on a synthetic year are right to the day (issue 19).

The lab's year (tests/budgetlab.py) is stored run by run; on 15 June 2026 at 00:00 UTC,
165 days into the year, it has used 654 kWh (23 whole weeks of 28 kWh, then 1+2+3+4), a
mean of 654/165 kWh a day. Every expected figure below is worked out by hand from that,
and the day a budget is passed is found again by walking the days one by one along the
mean: the first day by whose end the mean's cumulative use is over the budget.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from budgetlab import fill_year
from clihelp import cli

from impactlib._time import UTC
from impactlib.report.budgets import Outlook, project, statuses
from impactlib.store import open_store
from impactlib.store.budgets import Budget, BudgetScope, BudgetUnit, Period, Target

NOW = datetime(2026, 6, 15, tzinfo=UTC)
USED_KWH = 654.0  # 1 January to 14 June: 165 days
ELAPSED_DAYS = 165


def _walked(budget: float, used: float, elapsed: float, start: date) -> date:
    """The first day by whose end ``used / elapsed`` a day adds up to more than ``budget``."""
    day = 0
    while used / elapsed * (day + 1) <= budget:
        day += 1
    return start + timedelta(days=day)


@pytest.fixture
def year_store(tmp_path: Path) -> str:
    path = tmp_path / "lab.db"
    store = open_store(str(path))
    assert fill_year(store, NOW.date()) == USED_KWH
    store.close()
    return str(path)


def _set(store: str, *args: str) -> None:
    result = cli("budget", "set", *args, "--store", store)
    assert result.returncode == 0, result.stderr


def _show(store: str, *args: str) -> dict[str, dict[str, Any]]:
    result = cli(
        "budget", "show", "--store", store, "--format", "json", "--now", NOW.isoformat(), *args
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    return {f"{b['scope']} {b['period']} {b['unit']}": b for b in document["budgets"]}


def test_a_yearly_budget_is_projected_and_passed_on_the_hand_computed_day(year_store: str) -> None:
    for args in (
        ("1000kWh", "--project", "mri-seg"),  # 654/165 kWh a day reach 1000 kWh on day 252.3
        ("100kg", "--user", "alice"),  # 0.1 kg a kWh: the same day
        ("1MWh", "--lab"),
        ("1000kWh", "--account", "lab1"),
    ):
        _set(year_store, *args, "--year", "2026")
    shown = _show(year_store)
    assert set(shown) == {
        f"{s} 2026 {u}"
        for s, u in (("project", "kWh"), ("user", "kg"), ("lab", "kWh"), ("account", "kWh"))
    }
    for key, status in shown.items():
        scale = 0.1 if key.endswith("kg") else 1.0
        assert status["used"] == pytest.approx(USED_KWH * scale)
        assert status["elapsed_days"] == ELAPSED_DAYS and status["period_days"] == 365
        assert status["projected"] == pytest.approx(
            USED_KWH / ELAPSED_DAYS * 365 * scale
        )  # 1,447 kWh
        assert status["outlook"] == "will exceed"
        assert status["exceeds_on"] == "2026-09-10", key  # 1 January + 252 days
        assert (
            status["exceeds_on"]
            == _walked(1000, USED_KWH, ELAPSED_DAYS, date(2026, 1, 1)).isoformat()
        )
        texts = status["texts"]
        assert isinstance(texts, dict) and texts["passed"] == "on 2026-09-10"
        assert texts["share"] == "65 %"  # 654 / 1000


def test_a_monthly_budget_is_projected_from_its_own_days(year_store: str) -> None:
    # 1-14 June: days 151-164 of the year use 5,6,7,1,2,3,4,5,6,7,1,2,3,4 = 56 kWh, 4 a day
    _set(year_store, "90kWh", "--project", "mri-seg", "--month", "2026-06")
    _set(year_store, "200kWh", "--project", "mri-seg", "--month", "2026-05")
    _set(year_store, "150kWh", "--project", "mri-seg", "--month", "2026-07")
    shown = _show(year_store, "--project", "mri-seg")
    june = shown["project 2026-06 kWh"]
    assert (june["used"], june["elapsed_days"], june["period_days"]) == (56.0, 14, 30)
    assert june["projected"] == pytest.approx(120.0)
    assert june["exceeds_on"] == "2026-06-23"  # 90 kWh at 4 a day: 22.5 days from 1 June
    assert june["exceeds_on"] == _walked(90, 56, 14, date(2026, 6, 1)).isoformat()
    may = shown["project 2026-05 kWh"]  # over: 31 days from 2 kWh on 1 May, 121 kWh
    assert (may["used"], may["projected"], may["outlook"]) == (121.0, 121.0, "kept")
    assert may["texts"]["passed"] == "never"
    july = shown["project 2026-07 kWh"]
    assert (july["used"], july["projected"], july["outlook"]) == (0.0, None, "upcoming")


def test_a_budget_already_passed_names_the_month_it_was_passed_in(year_store: str) -> None:
    # cumulative kWh by month: January 118, February 230, March 357, April 477, May 598
    _set(year_store, "500kWh", "--lab", "--year", "2026")
    _set(year_store, "50kWh", "--lab", "--month", "2026-06")
    shown = _show(year_store, "--lab")
    year = shown["lab 2026 kWh"]
    assert (year["outlook"], year["exceeded_in"], year["exceeds_on"]) == (
        "exceeded",
        "2026-05",
        None,
    )
    assert year["texts"]["passed"] == "in 2026-05"
    assert shown["lab 2026-06 kWh"]["exceeded_in"] == "2026-06"


def test_a_budget_within_its_trend_is_not_passed_at_this_pace(year_store: str) -> None:
    _set(year_store, "1.5MWh", "--lab", "--year", "2026")
    status = _show(year_store)["lab 2026 kWh"]
    assert status["amount"] == 1500.0 and status["outlook"] == "on track"  # 1,447 kWh projected
    assert status["exceeds_on"] is None and status["texts"]["passed"] == "not at this pace"


@pytest.mark.parametrize("hour", [0, 6, 23])
def test_the_day_holds_at_any_hour_and_across_a_leap_february(hour: int) -> None:
    """The arithmetic alone: a 2028 month of February (29 days) at 2 kWh a day; at any hour
    of 10 February, passing 41 kWh falls on 21 February (41 / 2 = 20.5 days)."""
    at = datetime(2028, 2, 10, hour, tzinfo=UTC)
    elapsed = (at - datetime(2028, 2, 1, tzinfo=UTC)) / timedelta(days=1)
    budget = Budget(Target(BudgetScope.LAB), Period("2028-02"), BudgetUnit.KWH, 41.0)
    status = project(budget, {"2028-02": 2.0 * elapsed}, at)
    assert status.outlook is Outlook.WILL_EXCEED
    assert status.exceeds_on == date(2028, 2, 21)
    assert status.projected == pytest.approx(58.0)  # 29 days at 2 kWh


def test_statuses_read_the_store_as_the_cli_does(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "lab.db"))
    fill_year(store, date(2026, 3, 1))  # January 118 kWh, February 112
    budget = Budget(Target(BudgetScope.PROJECT, "mri-seg"), Period("2026"), BudgetUnit.KG, 20.0)
    store.set_budget(budget)
    (status,) = statuses(store, store.budgets(), datetime(2026, 3, 1, tzinfo=UTC))
    assert status.used == pytest.approx(23.0)  # 230 kWh at 0.1 kg
    assert status.outlook is Outlook.EXCEEDED and status.exceeded_in == "2026-02"
