"""``impactlib metrics``: task metrics attached to stored runs the way Tracker.log_metrics does."""

from __future__ import annotations

import dataclasses
import sys

import pytest
from clihelp import assert_one_line_error, cli
from sample_runs import make_record, save_record

from impactlib.cli.metrics import Metric, parse_metric
from impactlib.config import load_config
from impactlib.errors import UsageError
from impactlib.store import Store, open_store


def _store() -> Store:
    return open_store(load_config())


def _two_runs() -> Store:
    """An older run with metrics logged by the Python API, and a newer one without any."""
    store = _store()
    old = make_record("run-old-1", model={"params": 10, "metrics": {"loss": 0.3}})
    save_record(store, dataclasses.replace(old, started_at="2026-03-01T08:00:00+00:00"))
    save_record(store, make_record("run-new-2"))
    return store


def _metrics(store: Store, run_id: str) -> dict[str, object]:
    record = store.get_run(run_id)
    assert record is not None
    return dict((record.model or {}).get("metrics", {}))


def test_values_are_numbers_and_keys_are_names() -> None:
    assert parse_metric("accuracy=0.91") == Metric("accuracy", 0.91)
    assert parse_metric("params=1200") == Metric("params", 1200)
    assert isinstance(parse_metric("params=1200").value, int)
    assert parse_metric("top-1=1.0") == Metric("top-1", 1.0)
    assert parse_metric("dice=-0.5e-1").value == pytest.approx(-0.05)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("accuracy=high", "'high' is not a number"),
        ("accuracy=", "'' is not a number"),
        ("accuracy=nan", "not a finite number"),
        ("accuracy=inf", "not a finite number"),
        ("=0.9", "is not KEY=VALUE"),
        ("my acc=0.9", "is not KEY=VALUE"),
        ("energy_kwh=3", "measured figure"),
    ],
)
def test_bad_metrics_are_refused(text: str, needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        parse_metric(text)


def test_attaches_to_a_run_by_prefix_and_keeps_what_was_logged() -> None:
    store = _two_runs()
    result = cli("metrics", "run-old", "accuracy=0.91", "params=1200")
    assert result.returncode == 0, result.stderr
    assert "accuracy=0.91" in result.stdout
    # merged with the Python API's metrics; the model's other fields untouched
    assert _metrics(store, "run-old-1") == {"loss": 0.3, "accuracy": 0.91, "params": 1200}
    old = store.get_run("run-old-1")
    assert old is not None and old.model is not None and old.model["params"] == 10
    assert _metrics(store, "run-new-2") == {}
    # a later value replaces an earlier one
    assert cli("metrics", "run-old-1", "accuracy=0.93").returncode == 0
    assert _metrics(store, "run-old-1")["accuracy"] == 0.93


def test_default_run_is_the_environment_variable_then_the_latest() -> None:
    store = _two_runs()
    assert cli("metrics", "f1=0.5").returncode == 0
    assert _metrics(store, "run-new-2") == {"f1": 0.5}  # latest started
    assert cli("metrics", "f1=0.7", env={"IMPACTLIB_RUN_ID": "run-old-1"}).returncode == 0
    assert _metrics(store, "run-old-1")["f1"] == 0.7
    assert _metrics(store, "run-new-2") == {"f1": 0.5}


def test_without_values_shows_the_metrics() -> None:
    _two_runs()
    shown = cli("metrics", "run-old-1")
    assert shown.returncode == 0 and "loss=0.3" in shown.stdout
    assert "no metrics" in cli("metrics").stdout
    tiny = cli("metrics", "run-new", "lr=1e-05")
    assert "lr=0.00001" in tiny.stdout  # never in scientific notation


def test_store_option() -> None:
    other = open_store(load_config({"store": "elsewhere.db"}))
    save_record(other, make_record("run-far-3"))
    assert cli("metrics", "--store", "elsewhere.db", "run-far", "acc=0.5").returncode == 0
    assert _metrics(other, "run-far-3") == {"acc": 0.5}


def test_errors_are_one_line() -> None:
    assert_one_line_error(cli("metrics", "acc=0.9"), "no runs in", "impactlib run")
    _two_runs()
    assert_one_line_error(cli("metrics", "run-old-1", "acc=high"), "'high' is not a number")
    assert_one_line_error(cli("metrics", "run-old-1", "acc"), "'acc' is not KEY=VALUE")
    assert_one_line_error(cli("metrics", "nope", "acc=1"), "no run 'nope'")
    assert_one_line_error(cli("metrics", "run", "acc=1"), "ambiguous")
    assert_one_line_error(
        cli("metrics", "acc=1", env={"IMPACTLIB_RUN_ID": "gone"}), "'gone' (from IMPACTLIB_RUN_ID)"
    )


def test_a_command_measured_by_run_attaches_to_its_own_run() -> None:
    store = _two_runs()
    child = (
        "import subprocess, sys; "
        "subprocess.run([sys.executable, '-m', 'impactlib.cli.main', 'metrics', 'acc=0.8'], "
        "check=True)"
    )
    result = cli("run", "--interval", "0.05", "--", sys.executable, "-c", child)
    assert result.returncode == 0, result.stderr
    newest = max(store.list_runs(), key=lambda r: r.started_at)
    assert newest.id not in ("run-old-1", "run-new-2")
    assert _metrics(store, newest.id) == {"acc": 0.8}
