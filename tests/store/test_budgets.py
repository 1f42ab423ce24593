"""Budgets kept in the store (SQLite and a real PostgreSQL), and what each says is used.

The ``budgets`` table is made by trackers' ``CREATE ... IF NOT EXISTS`` and by the Alembic
revision ``0004_budgets`` alike (tests/store/test_migrate.py compares the two layouts); a
store of schema 3 gets it when opened. What a budget has used is the lab report's totals:
a SLURM job whose accounting record a tracker's run supersedes counts once, in a SLURM
account's budget as in the lab's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from store.test_slurm_jobs import TRACKED, _config, _jobs, _node_store, _tracker

from impactlib.slurm.ingest import ingest
from impactlib.store import Store, open_store
from impactlib.store.budget_use import usage
from impactlib.store.budgets import Budget, BudgetScope, BudgetUnit, Period, Target
from impactlib.store.rollup import Selection, lab_totals
from impactlib.store.sync import sync

MRI = Target(BudgetScope.PROJECT, "mri-seg")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def lab(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        store = open_store(str(tmp_path / "lab.db"))
    else:
        store = open_store(str(request.getfixturevalue("postgres_url")))
        store.write([("DELETE FROM budgets", {})])  # the server is shared by the session
    yield store
    store.close()


def test_budgets_are_kept_replaced_listed_and_removed(lab: Store) -> None:
    year, month = Period("2026"), Period("2026-12")
    lab.set_budget(Budget(MRI, year, BudgetUnit.KG, 500.0))
    lab.set_budget(Budget(MRI, year, BudgetUnit.KG, 450.0))  # replaces
    lab.set_budget(Budget(MRI, year, BudgetUnit.KWH, 9000.0))
    lab.set_budget(Budget(Target(BudgetScope.LAB), month, BudgetUnit.KWH, 3000.0))
    lab.set_budget(Budget(Target(BudgetScope.ACCOUNT, "lab1"), year, BudgetUnit.KG, 80.0))
    assert lab.budgets(MRI) == [
        Budget(MRI, year, BudgetUnit.KG, 450.0),
        Budget(MRI, year, BudgetUnit.KWH, 9000.0),
    ]
    assert [b.target.scope for b in lab.budgets(period=month)] == [BudgetScope.LAB]
    assert len(lab.budgets()) == 4
    assert lab.remove_budgets(MRI, year, BudgetUnit.KWH) == [
        Budget(MRI, year, BudgetUnit.KWH, 9000.0)
    ]
    assert lab.remove_budgets(MRI, month) == []
    assert [b.amount for b in lab.remove_budgets(MRI, year)] == [450.0]
    assert {b.target.scope for b in lab.budgets()} == {BudgetScope.LAB, BudgetScope.ACCOUNT}


def test_a_store_of_schema_3_gets_the_budgets_table_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    open_store(str(path)).close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE budgets")
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()
    store = open_store(str(path))
    store.set_budget(Budget(MRI, Period("2026"), BudgetUnit.KG, 1.0))
    assert len(store.budgets()) == 1
    store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
    conn.close()


def test_an_account_budget_counts_each_slurm_job_once(lab: Store, tmp_path: Path) -> None:
    """Jobs ingested from SLURM's accounting and tracked by impactlib too, in both orders:
    the account's budget (2025 and 2026: the jobs and the tracked runs) uses what the lab
    report's total says, each job counted once."""
    trackers = [_tracker(job, user) for job, user in TRACKED.items()]
    ingest(_jobs(), lab, _config())
    sync(_node_store(tmp_path / "node.db", trackers), lab)
    ingest(_jobs(), lab, _config())
    budgets = [
        Budget(Target(scope, name), Period(year), unit, 1.0)
        for scope, name in ((BudgetScope.ACCOUNT, "lab"), (BudgetScope.LAB, ""))
        for year in ("2025", "2026")
        for unit in BudgetUnit
    ]
    used = {b: sum(months.values()) for b, months in zip(budgets, usage(lab, budgets), strict=True)}
    (total,) = lab_totals(lab, (), Selection("2025-01", "2026-12"))
    standing = [r for r in lab.list_runs() if r.footprint is not None]
    assert all(r.config["slurm"]["account"] == "lab" for r in standing)
    expected = {
        BudgetUnit.KWH: sum(r.footprint.energy_kwh for r in standing if r.footprint),
        BudgetUnit.KG: sum(r.footprint.emissions_kg for r in standing if r.footprint),
    }
    assert expected[BudgetUnit.KWH] == pytest.approx(total.energy_kwh)
    for scope in (BudgetScope.ACCOUNT, BudgetScope.LAB):
        for unit in BudgetUnit:
            both_years = sum(
                v for b, v in used.items() if b.target.scope is scope and b.unit is unit
            )
            assert both_years == pytest.approx(expected[unit]), (scope, unit)
    other = Budget(Target(BudgetScope.ACCOUNT, "physics"), Period("2025"), BudgetUnit.KWH, 1.0)
    assert usage(lab, [other]) == [{}]
