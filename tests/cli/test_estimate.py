"""``impactlib estimate``: every option through the CLI, family names, model lists, human
numbers, ``--from-run``, and one-line errors."""

from __future__ import annotations

import json
import re

import pytest
from clihelp import assert_one_line_error, cli

from impactlib import data


def test_cli_json() -> None:
    result = cli(
        "estimate",
        "--cpu",
        "Xeon Gold 6148",
        "--cores",
        "20",
        "--gpu",
        "Tesla V100",
        "--gpus",
        "2",
        "--memory-gb",
        "64",
        "--hours",
        "10",
        "--zone",
        "US-CA",
        "--pue",
        "1.56",
        "--runs",
        "3",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["energy_kwh"] == pytest.approx(36.215712)
    assert out["emissions_kg"] == pytest.approx(36.215712 * 216.43 / 1000)
    assert [b["component"] for b in out["breakdown"]] == ["cpu", "gpu", "memory"]
    assert out["breakdown"][1]["watts"] == 600
    assert out["pue"] == 1.56 and "x PUE 1.56" in out["formula"]


def test_cli_text_shows_formula_and_pue_default() -> None:
    result = cli(
        "estimate",
        "--cores",
        "8",
        "--usage",
        "0.5",
        "--memory-gb",
        "16",
        "--hours",
        "2",
        "--country",
        "DE",
    )
    assert result.returncode == 0, result.stderr
    flat = " ".join(result.stdout.split())
    assert "E = 2 h x (8 cores x 12 W x 0.5 + 16 GB x 0.3725 W/GB) x PUE 1" in flat
    assert "0.1079 kWh" in flat and "default 1.0" in flat
    assert "108 Wh, 41.1 g CO2e" in flat  # the result in human units
    assert "cpu power from Green Algorithms TDP_cpu 'Any'" in flat


def test_cli_errors_are_one_line() -> None:
    assert_one_line_error(
        cli("estimate", "--gpu", "Tesla V1000", "--hours", "1"),
        "unknown GPU model 'Tesla V1000'",
        "close matches",
    )
    assert_one_line_error(
        cli("estimate", "--cores", "4", "--hours", "1", "--country", "Frnace"),
        "unknown zone 'Frnace'",
        "France",
    )
    assert_one_line_error(cli("estimate", "--cores", "4"), "--hours")
    assert_one_line_error(
        cli("estimate", "--cores", "4", "--hours", "1", "--usage", "2"), "--usage"
    )
    assert_one_line_error(cli("estimate", "--from-run", "abc"), "--epochs")


def _stored_run_with_epochs() -> str:
    from impactlib.config import load_config
    from impactlib.footprint import CarbonInfo, ComponentEnergy, Footprint
    from impactlib.store import open_store
    from impactlib.store.records import RunRecord

    store = open_store(load_config())
    record = RunRecord(
        "run-epochs-1",
        "p",
        "e",
        "me",
        "host",
        1,
        "train.py",
        None,
        "2026-01-01T00:00:00+00:00",
        None,
        "2026-01-01T00:00:00+00:00",
        "running",
    )
    store.insert_run(record, 10.0)
    comp = ComponentEnergy(
        "cpu:package-0", "cpu", "rapl", "machine", "attributed", 4.0e6, 3.3e6, 0.0, 0.7e6
    )
    fp = Footprint(
        "run-epochs-1",
        "tree",
        "usage",
        "2026-01-01T00:00:00+00:00",
        "2026-01-01T01:00:00+00:00",
        3600.0,
        (comp,),
        1.5,
        0.1375,
        CarbonInfo("static", "XX", 100.0, "test table"),
    )
    store.checkpoint("run-epochs-1", "completed", fp, [], (1.0e6, 2.2e6, 3.3e6))
    return "run-epochs-1"


def test_from_run_predicts_the_full_training() -> None:
    run_id = _stored_run_with_epochs()
    result = cli("estimate", "--from-run", run_id, "--epochs", "10", "--format", "json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    # per epoch 1.0, 1.2, 1.1 MJ -> 3.3 + 7 x 1.1 = 11.0 MJ; x PUE 1.5 / 3.6e6 = 4.5833 kWh
    assert out["total_j"] == pytest.approx(11.0e6)
    assert out["energy_kwh"] == pytest.approx(11.0e6 * 1.5 / 3.6e6)
    assert out["emissions_kg"] == pytest.approx(11.0e6 * 1.5 / 3.6e6 * 100 / 1000)
    assert out["energy_kwh_low"] == pytest.approx((3.3e6 + 7 * 1.0e6) * 1.5 / 3.6e6)
    text = cli("estimate", "--from-run", run_id, "--epochs", "10")
    assert text.returncode == 0 and "3/10 epochs" in text.stdout
    assert_one_line_error(cli("estimate", "--from-run", "nope", "--epochs", "3"), "no run")


def test_tiny_estimates_have_no_scientific_notation() -> None:
    result = cli("estimate", "--cores", "1", "--hours", "0.0001", "--country", "FR")
    assert result.returncode == 0, result.stderr
    assert "1.2 mWh" in result.stdout and "0.0000012 kWh" in result.stdout
    assert not re.search(r"\d[eE][-+]?\d", result.stdout), result.stdout


def test_gpu_family_through_the_cli() -> None:
    assert_one_line_error(
        cli("estimate", "--gpu", "H100", "--hours", "1"),
        "GPU 'H100' is a family",
        "H100 NVL 400 W",
        "H100 SXM 700 W",
    )
    taken = cli("estimate", "--gpu", "P100", "--gpus", "2", "--hours", "1", "--format", "json")
    assert taken.returncode == 0, taken.stderr
    gpu = json.loads(taken.stdout)["breakdown"][0]
    assert gpu["power_w"] == 250 and "'P100' has 2 variants, all 250 W" in gpu["source"]


def test_list_models() -> None:
    gpus = cli("estimate", "--list-gpus")
    assert gpus.returncode == 0, gpus.stderr
    lines = gpus.stdout.splitlines()
    assert len(lines) > 40 and any(re.match(r"H100 SXM +700 W", line) for line in lines)
    a100 = cli("estimate", "--list-gpus", "A100").stdout.splitlines()
    assert len(a100) == 4 and all("A100" in line for line in a100)
    cpus = cli("estimate", "--list-cpus", "xeon", "gold", "6148", "--format", "json")
    rows = json.loads(cpus.stdout)
    assert {
        "name": "Xeon Gold 6148",
        "tdp_w": 150.0,
        "w_per_core": 7.5,
        "n_cores": 20,
        "table": "Green Algorithms TDP_cpu.csv v3.0",
    } in rows
    assert all("6148" in r["name"] for r in rows)
    every = len(data.read_text("cpu_index.tsv").splitlines()) - 1  # less its header
    assert f"{every} CPU models" in cli("estimate", "--list-cpus").stderr


def test_list_errors_are_one_line() -> None:
    assert_one_line_error(cli("estimate", "--list-gpus", "B9000"), "no GPU model matching")
    assert_one_line_error(cli("estimate", "--list-gpus", "--list-cpus"), "not both")
    assert_one_line_error(cli("estimate", "xeon", "--hours", "1"), "--list-cpus or --list-gpus")
