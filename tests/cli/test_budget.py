"""``impactlib budget set|show|rm`` and ``impactlib report --budget``, end to end.

Budgets are kept in the store: set, shown with what is used (the lab report's totals over
the same months, so a job counted once there is counted once here), replaced, removed; bad
input is one line and exit 2, and the store is left as it was.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from budgetlab import add_day
from clihelp import assert_one_line_error, cli
from sample_runs import make_record, save_record

from impactlib.store import SeriesRow, open_store

# A past year (2025): its figures do not move with the day the tests run.
PAST = ("--year", "2025")


def _ok(*args: str) -> str:
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _budgets(store: str, *args: str) -> list[dict[str, object]]:
    document = json.loads(_ok("budget", "show", "--store", store, "--format", "json", *args))
    budgets: list[dict[str, object]] = document["budgets"]
    return budgets


@pytest.fixture
def store(tmp_path: Path) -> str:
    path = str(tmp_path / "lab.db")
    open_store(path).close()
    return path


def test_set_show_replace_and_remove(store: str) -> None:
    said = _ok("budget", "set", "500kg", "--project", "mri-seg", *PAST, "--store", store)
    assert said == "budget for project mri-seg, 2025: 500 kg CO2e\n"
    _ok("budget", "set", "2t", "--project", "mri-seg", *PAST, "--store", store)  # replaces
    _ok("budget", "set", "3MWh", "--project", "mri-seg", *PAST, "--store", store)  # other unit
    _ok("budget", "set", "40kWh", "--user", "alice", "--month", "2025-03", "--store", store)
    _ok("budget", "set", "1t", "--lab", *PAST, "--store", store)
    kept = {(b["scope"], b["name"], b["period"], b["unit"], b["amount"]) for b in _budgets(store)}
    assert kept == {
        ("project", "mri-seg", "2025", "kg", 2000.0),
        ("project", "mri-seg", "2025", "kWh", 3000.0),
        ("user", "alice", "2025-03", "kWh", 40.0),
        ("lab", "", "2025", "kg", 1000.0),
    }
    assert {b["scope"] for b in _budgets(store, "--user", "alice")} == {"user"}
    assert {b["period"] for b in _budgets(store, "--month", "2025-03")} == {"2025-03"}
    removed = _ok("budget", "rm", "--project", "mri-seg", *PAST, "--unit", "kWh", "--store", store)
    assert removed == "removed the budget for project mri-seg, 2025: 3 MWh\n"
    _ok("budget", "rm", "--lab", *PAST, "--store", store)
    assert {(b["scope"], b["unit"]) for b in _budgets(store)} == {
        ("project", "kg"),
        ("user", "kWh"),
    }


def test_show_as_a_table_fits_80_columns_and_states_its_method(store: str) -> None:
    _ok(
        "budget", "set", "500kg", "--project", "a-rather-long-project-name", *PAST, "--store", store
    )
    result = cli("budget", "show", "--store", store, env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "linear from the period's mean daily use" in " ".join(result.stdout.split())
    assert any("500 kg" in line and "never" in line for line in lines), result.stdout
    empty = cli("budget", "show", "--store", store, "--lab")
    assert empty.stdout == "no budgets; set one with `impactlib budget set`\n"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("set", "500", "--lab", *PAST), "500kg"),
        (("set", "500lb", "--lab", *PAST), "500lb"),
        (("set", "0kg", "--lab", *PAST), "more than 0"),
        (("set", "500kg", *PAST), "--lab, --project NAME"),
        (("set", "500kg", "--lab", "--project", "x", *PAST), "give only one"),
        (("set", "500kg", "--project", " ", *PAST), "--project needs a name"),
        (("set", "500kg", "--lab"), "--year YYYY or --month YYYY-MM"),
        (("set", "500kg", "--lab", "--year", "26"), "option --year"),
        (("set", "500kg", "--lab", "--year", "2026-01"), "option --year"),
        (("set", "500kg", "--lab", "--month", "2026-13"), "option --month"),
        (("set", "500kg", "--lab", "--month", "2026"), "option --month"),
        (("set", "500kg", "--lab", "--year", "2026", "--month", "2026-01"), "not both"),
        (("show", "--format", "csv"), "table, json"),
        (("show", "--now", "yesterday"), "ISO 8601"),
        (("rm", "--lab", *PAST), "no budget for lab, 2025"),
        (("rm", "--lab", *PAST, "--unit", "lb"), "option --unit"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    store: str, args: tuple[str, ...], needle: str
) -> None:
    _ok("budget", "set", "7kg", "--user", "bob", *PAST, "--store", store)
    assert_one_line_error(cli("budget", *args, "--store", store), needle)
    assert [(b["scope"], b["amount"]) for b in _budgets(store)] == [("user", 7.0)]


def test_used_is_the_lab_reports_total_over_the_same_months(store: str) -> None:
    """A run whose per-minute series crosses midnight on 31 March counts in each month for
    its share: what a budget says is used is what `report --by month` sums for the same
    selection (SLURM jobs counted once: tests/store/test_budgets.py)."""
    lab = open_store(store)
    add_day(lab, date(2025, 1, 10), 3.0)  # mri-seg, alice, account lab1
    crossing = make_record("crossing", project="mri-seg", cpu_j=3.6e6, gpu_j=3.6e6)
    assert crossing.footprint is not None
    stamp = "2025-03-31T23:45:00+00:00"
    crossing = replace(
        crossing, started_at=stamp, footprint=replace(crossing.footprint, started_at=stamp)
    )
    save_record(lab, crossing)
    minutes = [f"2025-03-31T23:{m:02d}:00+00:00" for m in range(45, 60)]
    minutes += [f"2025-04-01T00:{m:02d}:00+00:00" for m in range(15)]
    series = [  # 15 minutes of 1,000 J in March, 15 of 500 J in April: 2/3 in March
        SeriesRow("crossing", minute, "cpu", 1000.0 if minute < "2025-04" else 500.0)
        for minute in minutes
    ]
    assert crossing.footprint is not None
    lab.checkpoint(crossing.id, crossing.status, crossing.footprint, series)
    lab.close()
    _ok("budget", "set", "1MWh", "--project", "mri-seg", "--month", "2025-03", "--store", store)
    _ok("budget", "set", "1MWh", "--project", "mri-seg", "--month", "2025-04", "--store", store)
    _ok("budget", "set", "1MWh", "--project", "mri-seg", *PAST, "--store", store)
    report = json.loads(
        _ok("report", "--store", store, "--by", "month", "--project", "mri-seg", "--format", "json")
    )
    by_month = {line["month"]: line["energy_kwh"] for line in report["groups"]}
    used = {b["period"]: b["used"] for b in _budgets(store)}
    assert used["2025-03"] == pytest.approx(by_month["2025-03"])
    assert used["2025-04"] == pytest.approx(by_month["2025-04"])
    assert (used["2025-03"], used["2025-04"]) == pytest.approx((2.0, 1.0))  # 2 kWh x PUE 1.5
    assert used["2025"] == pytest.approx(report["total"]["energy_kwh"])
    assert used["2025"] == pytest.approx(3.0 + 3.0)  # with the January day's run


def test_report_budget_shows_what_budget_show_shows(store: str) -> None:
    _ok("budget", "set", "500kg", "--project", "mri-seg", *PAST, "--store", store)
    _ok("budget", "set", "9kWh", "--project", "other", *PAST, "--store", store)
    shown = json.loads(_ok("budget", "show", "--store", store, "--format", "json"))
    reported = json.loads(_ok("report", "--budget", "--store", store, "--format", "json"))
    assert reported["budgets"] == shown["budgets"] and reported["method"] == shown["method"]
    mine = json.loads(
        _ok("report", "--budget", "--project", "mri-seg", "--store", store, "--format", "json")
    )
    assert [b["name"] for b in mine["budgets"]] == ["mri-seg"]
    table = _ok("report", "--budget", "--store", store)
    assert "Budgets at" in table and "project mri-seg" in table


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--by", "user"), "--by cannot be used with --budget"),
        (("--waste",), "--waste cannot"),
        (("--since", "2025-01"), "--since cannot"),
        (("--format", "html"), "--budget is shown as table or json"),
    ],
)
def test_report_budget_refuses_what_it_would_ignore(
    store: str, args: tuple[str, ...], needle: str
) -> None:
    assert_one_line_error(cli("report", "--budget", "--store", store, *args), needle)
