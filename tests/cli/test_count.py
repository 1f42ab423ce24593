"""``impactlib count``: units of work counted on a run, from inside ``impactlib run``."""

from __future__ import annotations

import sys

import pytest
from clihelp import assert_one_line_error, cli
from sample_runs import make_record, save_record

from impactlib.config import load_config
from impactlib.store import Store, open_store


def _store() -> Store:
    return open_store(load_config())


def _units(store: Store, run_id: str) -> dict[str, object]:
    record = store.get_run(run_id)
    assert record is not None
    return dict((record.model or {}).get("units") or {})


COUNT = "[sys.executable, '-m', 'impactlib.cli.main', 'count', {n!r}, '--unit', 'volumes']"
CHILD = "import subprocess, sys; " + "; ".join(
    f"subprocess.run({COUNT.format(n=n)}, check=True)" for n in ("3", "7")
)


def test_a_command_measured_by_run_counts_on_its_own_run_and_the_summary_divides() -> None:
    store = _store()
    save_record(store, make_record("run-other-1", model={"params": 10}))
    result = cli("run", "--interval", "0.05", "--country", "FR", "--", sys.executable, "-c", CHILD)
    assert result.returncode == 0, result.stderr
    newest = max(store.list_runs(), key=lambda r: r.started_at)
    assert newest.id != "run-other-1"
    assert _units(store, newest.id) == {"volumes": 10}
    assert _units(store, "run-other-1") == {}
    assert "per volume (10 volumes):" in result.stderr  # the run's summary, per unit
    assert "SCI" in result.stderr


def test_counts_add_up_and_keep_the_runs_metrics() -> None:
    store = _store()
    save_record(store, make_record("run-a-1", model={"metrics": {"dice": 0.9}}))
    assert cli("count", "2", "--run", "run-a").returncode == 0
    assert cli("count", "2.5", "--run", "run-a-1").returncode == 0
    shown = cli("count", "40", "-u", "requests", env={"IMPACTLIB_RUN_ID": "run-a-1"})
    assert shown.returncode == 0, shown.stderr
    assert "4.5 samples" in shown.stdout and "40 requests" in shown.stdout
    assert _units(store, "run-a-1") == {"samples": 4.5, "requests": 40}
    record = store.get_run("run-a-1")
    assert record is not None and (record.model or {})["metrics"] == {"dice": 0.9}
    listed = cli("count", "--run", "run-a-1")  # without N: the counts
    assert listed.returncode == 0 and "40 requests" in listed.stdout
    assert _units(store, "run-a-1") == {"samples": 4.5, "requests": 40}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["3"], "no run to count for"),
        (["3", "--run", "nope"], "no run 'nope' (given)"),
        (["abc", "--run", "run-a-1"], "'abc' is not a number"),
        (["--run", "run-a-1", "--", "-2"], "0 or more"),
        (["inf", "--run", "run-a-1"], "finite"),
        (["3", "--run", "run-a-1", "--unit", "two words"], "is not a word"),
        (["3", "--run", "run-a-1", "--unit", ""], "is not a word"),
    ],
)
def test_bad_input_is_one_line(args: list[str], needle: str) -> None:
    save_record(_store(), make_record("run-a-1"))
    assert_one_line_error(cli("count", *args), needle)
    assert _units(_store(), "run-a-1") == {}


def test_a_run_id_from_the_environment_that_is_gone_is_named() -> None:
    result = cli("count", "1", env={"IMPACTLIB_RUN_ID": "gone"})
    assert_one_line_error(result, "'gone' (from IMPACTLIB_RUN_ID)")
