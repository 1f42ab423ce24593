"""``impactlib pepr``: from a file and from stored runs (with metrics attached by
``impactlib metrics``), grouping, plots, and one-line errors."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from clihelp import assert_one_line_error, cli
from sample_runs import make_record, save_record

from impactlib.config import load_config
from impactlib.store import open_store

ROWS = [
    {"model": "small", "acc": 0.80, "energy_kwh": 1.0},
    {"model": "mid", "acc": 0.90, "energy_kwh": 3.0},
    {"model": "big", "acc": 0.92, "energy_kwh": 5.0},
    {"model": "bad", "acc": 0.70, "energy_kwh": 4.0},
]


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_cli_json_adds_pepr_to_input_rows(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    path.write_text("model,acc,energy_kwh,note\nsmall,0.8,1,x\nmid,0.9,3,y\nbig,0.92,5,z\n")
    result = cli(
        "pepr", str(path), "--performance", "acc", "--resource", "energy_kwh", "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["model"] for r in rows] == ["small", "mid", "big"]
    assert [r["note"] for r in rows] == ["x", "y", "z"]
    assert [r["pepr"] for r in rows] == pytest.approx([0.8, 0.6, 0.46])


def test_cli_text_prints_set_normalisation_and_plot(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(ROWS))
    plot = tmp_path / "pepr.svg"
    result = cli(
        "pepr", str(path), "--performance", "acc", "--resource", "energy_kwh", "--plot", str(plot)
    )
    assert result.returncode == 0, result.stderr
    flat = " ".join(result.stdout.split())
    assert "PePR-E = P / (1 + R)" in flat and "min 1 kWh, max 5 kWh" in flat
    assert "0.46" in result.stdout and "small (best)" in result.stdout
    assert "5 kWh" in result.stdout  # resources with their unit
    assert plot.read_text().startswith("<svg")
    assert plot.stat().st_mode & 0o777 == 0o644  # umask 022 (set by the test)


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("model,acc,energy_kwh\na,0.8,2\nb,0.9,2\n")
    assert_one_line_error(
        cli("pepr", str(path), "--performance", "acc", "--resource", "energy_kwh"),
        "resources are equal",
    )
    path.write_text("model,acc,energy_kwh\na,80,1\nb,90,2\n")
    assert_one_line_error(
        cli("pepr", str(path), "--performance", "acc", "--resource", "energy_kwh"),
        "outside [0, 1]",
    )
    path.write_text("model,acc,energy_kwh\na,0.8,1\nb,high,2\n")
    assert_one_line_error(
        cli("pepr", str(path), "--performance", "acc", "--resource", "energy_kwh"),
        "'acc' = 'high' is not a number",
    )
    assert_one_line_error(
        cli("pepr", str(path), "--performance", "acc", "--resource", "energy"),
        "missing column 'energy'",
        "energy_kwh",
    )
    assert_one_line_error(
        cli("pepr", str(tmp_path / "nope.csv"), "--performance", "acc"), "cannot be read"
    )


def _store_runs() -> None:
    """Two projects: 'birds' with three experiments (one without a metric), 'solo' with one."""
    store = open_store(load_config())
    for run_id, project, experiment, energy_j in (
        ("b-rule-0001", "birds", "threshold-rule", 0.36e6),
        ("b-forest-02", "birds", "random-forest", 3.6e6),
        ("b-cnn-00003", "birds", "cnn", 36e6),
        ("s-only-0004", "solo", "alone", 1e6),
    ):
        record = make_record(run_id, project=project, cpu_j=energy_j, gpu_j=0.0)
        save_record(store, dataclasses.replace(record, experiment=experiment))


def test_stored_runs_with_metrics_attached_from_the_cli() -> None:
    _store_runs()
    for run, acc in (("b-rule", "0.6"), ("b-cnn", "0.9"), ("s-only", "0.5")):
        assert cli("metrics", run, f"acc={acc}").returncode == 0
    result = cli("pepr", "--performance", "acc", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["label"] for r in rows] == ["threshold-rule", "cnn"]
    # 0.36 MJ and 36 MJ at PUE 1.5: 0.15 and 15 kWh -> R = 0 and 1
    assert [r["pepr"] for r in rows] == pytest.approx([0.6, 0.45])
    assert "left out, without 'acc': random-forest" in result.stderr
    assert "impactlib metrics RUN acc=VALUE" in result.stderr
    assert "nothing to compare with: project = solo (alone)" in result.stderr
    text = cli("pepr", "--performance", "acc", "--project", "birds")
    assert text.returncode == 0, text.stderr
    assert "threshold-rule (best)" in text.stdout and "cnn" in text.stdout
    assert "b-rule-0001" not in text.stdout  # labelled by experiment, not run id
    assert "0.15 kWh" in text.stdout and "15 kWh" in text.stdout  # one unit per column


def test_stored_runs_options() -> None:
    _store_runs()
    for run, acc, t in (("b-rule", "0.6", "1"), ("b-forest", "0.8", "2"), ("b-cnn", "0.9", "9")):
        assert cli("metrics", run, f"acc={acc}", f"seconds={t}").returncode == 0
    one = cli("pepr", "--performance", "acc", "--experiment", "cnn")
    assert_one_line_error(one, "every project has a single row")
    timed = cli(
        "pepr",
        "--performance",
        "acc",
        "--resource",
        "seconds",
        "--project",
        "birds",
        "--format",
        "json",
    )
    assert [r["pepr"] for r in json.loads(timed.stdout)] == pytest.approx([0.6, 0.8 / 1.125, 0.45])
    by_label = cli(
        "pepr",
        "--performance",
        "acc",
        "--project",
        "birds",
        "--group-by",
        "experiment",
    )
    assert_one_line_error(by_label, "every experiment has a single row")
    forced = cli(
        "pepr",
        "--performance",
        "acc",
        "--project",
        "birds",
        "--resource",
        "seconds",
        "--variant",
        "T",
    )
    assert forced.returncode == 0 and "PePR-T" in forced.stdout
    other = open_store(load_config({"store": "other.db"}))
    save_record(other, make_record("o-1", model={"metrics": {"acc": 0.5}}))
    save_record(other, make_record("o-2", cpu_j=1.0, model={"metrics": {"acc": 0.5}}))
    elsewhere = cli("pepr", "--performance", "acc", "--store", "other.db", "--format", "json")
    assert [r["id"] for r in json.loads(elsewhere.stdout)] == ["o-1", "o-2"]


def test_stored_errors_are_one_line() -> None:
    assert_one_line_error(cli("pepr", "--performance", "acc"), "no stored runs match")
    _store_runs()
    assert_one_line_error(
        cli("pepr", "--performance", "acc"),
        "no stored run has the metric 'acc'",
        "impactlib metrics RUN acc=VALUE",
    )


def test_several_groups_write_one_plot_each(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("task,model,acc,energy_kwh\nx,a,0.8,1\nx,b,0.9,2\ny,c,0.5,1\ny,d,0.6,3\n")
    result = cli(
        "pepr",
        str(path),
        "--performance",
        "acc",
        "--group-by",
        "task",
        "--label",
        "model",
        "--plot",
        str(tmp_path / "p.svg"),
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "p-1.svg").exists() and (tmp_path / "p-2.svg").exists()
    assert "task = x" in result.stdout and "task = y" in result.stdout
    assert_one_line_error(
        cli("pepr", str(path), "--performance", "acc", "--plot", str(tmp_path / "no" / "p.svg")),
        "no such directory",
    )
    assert_one_line_error(
        cli("pepr", str(path), "--performance", "acc", "--plot", "p.png"), "ending in .svg"
    )
    assert_one_line_error(
        cli("pepr", str(path), "--performance", "acc", "--format", "xml"), "text or json"
    )
