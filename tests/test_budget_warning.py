"""A tracker warns once when its project has used the set share of a budget in force.

A training script that starts a tracker per epoch hears it once per process and budget: a
:class:`~impactlib.BudgetWarning` (an ImpactWarning, shown by Python's default filters) at
the user's own line. Below the share, nothing; a store that cannot be reached or read is no
warning and no error: the script runs to its end with its figures.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from budgetlab import add_day
from replay_server import closed_port_url

from impactlib._time import now_utc
from impactlib.store import open_store
from impactlib.store.budgets import Budget, BudgetScope, BudgetUnit, Period, Target

SCRIPT = textwrap.dedent(
    """\
    import impactlib

    for epoch in range(3):
        tracker = impactlib.init(project="mri-seg", interval=0.05)
        tracker.start()
        tracker.stop()
    print("done", tracker.energy_consumption > 0)
    """
)
START_LINE = 5  # tracker.start(), where the user reads the warning


def _this_month() -> Period:
    return Period(now_utc().strftime("%Y-%m"))


def _store(tmp_path: Path, used_kwh: float, budget_kwh: float = 10.0) -> str:
    """A store where project mri-seg has used ``used_kwh`` of a ``budget_kwh`` budget for
    this month (and a yearly budget it is far from)."""
    path = str(tmp_path / "lab.db")
    store = open_store(path)
    add_day(store, now_utc().date(), used_kwh)
    target = Target(BudgetScope.PROJECT, "mri-seg")
    store.set_budget(Budget(target, _this_month(), BudgetUnit.KWH, budget_kwh))
    store.set_budget(Budget(target, Period(str(now_utc().year)), BudgetUnit.KWH, 1e6))
    store.close()
    return path


def _train(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    return subprocess.run(
        [sys.executable, str(script)],
        env={**clean, "IMPACTLIB_POWERCAP_ROOT": str(tmp_path / "none"), "TZ": "UTC", **env},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )


def _budget_warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if re.match(r".+:\d+: BudgetWarning: ", line)]


def test_the_warning_fires_once_at_the_users_line(tmp_path: Path) -> None:
    result = _train(tmp_path, {"IMPACTLIB_STORE": _store(tmp_path, used_kwh=9.0)})
    assert result.returncode == 0 and "done True" in result.stdout, result.stderr
    (line,) = _budget_warnings(result.stderr)  # three trackers, one warning
    month = _this_month().text
    assert line == (
        f"{tmp_path / 'train.py'}:{START_LINE}: BudgetWarning: impactlib: project mri-seg has "
        f"used 9 kWh (90 %) of its 10 kWh budget for {month}, past the 80 % warning share; "
        "see `impactlib budget show --project mri-seg`"
    )


def test_below_the_share_nothing_is_said(tmp_path: Path) -> None:
    result = _train(tmp_path, {"IMPACTLIB_STORE": _store(tmp_path, used_kwh=7.0)})
    assert result.returncode == 0, result.stderr
    assert _budget_warnings(result.stderr) == []
    lower = {"IMPACTLIB_BUDGET_WARN_SHARE": "0.5", "IMPACTLIB_STORE": str(tmp_path / "lab.db")}
    assert len(_budget_warnings(_train(tmp_path, lower).stderr)) == 1
    off = {**lower, "IMPACTLIB_BUDGET_WARN_SHARE": "0"}
    assert _budget_warnings(_train(tmp_path, off).stderr) == []


def test_a_store_that_cannot_be_reached_is_no_warning_and_measuring_goes_on(
    tmp_path: Path,
) -> None:
    url = closed_port_url().replace("http://", "postgresql://") + "/lab"
    result = _train(tmp_path, {"IMPACTLIB_STORE": url})
    assert result.returncode == 0 and "done True" in result.stdout, result.stderr
    assert _budget_warnings(result.stderr) == []
    assert "kept in" in result.stderr  # the fallback store, said as before


def test_budgets_the_store_cannot_read_are_no_warning_and_measuring_goes_on(
    tmp_path: Path,
) -> None:
    path = _store(tmp_path, used_kwh=9.0)
    store = open_store(path)
    store.write([("UPDATE budgets SET unit = 'lb'", {})])  # no unit of this impactlib
    store.close()
    result = _train(tmp_path, {"IMPACTLIB_STORE": path})
    assert result.returncode == 0 and "done True" in result.stdout, result.stderr
    assert _budget_warnings(result.stderr) == []
    assert "Traceback" not in result.stderr
