"""A range on every figure, end to end through ``impactlib run`` and ``impactlib report``.

A run read by RAPL and a run modelled from TDP each store, for every component, a range
that holds its value; the meter's is narrower than the model's; the run summary, JSON, CSV
and every report print it as ``4.5 kWh (4.3–4.7)`` with BoAmps' quality class; a record
from before ranges still loads, its ranges derived and said so.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from clihelp import cli
from powercap import FakePowercap
from sample_runs import make_record, save_record

from impactlib.report.csvexport import CODECARBON_COLUMNS, RANGE_COLUMNS
from impactlib.store import open_store

RANGED = re.compile(r"energy (\d[\d.,]*) (mWh|Wh|kWh) \((\d[\d.,]*)\u2013(\d[\d.,]*)\)")
BUSY = [sys.executable, "-c", "sum(range(3_000_000))"]


def _run(env: dict[str, str], project: str) -> str:
    result = cli("run", "--project", project, "--", *BUSY, env=env)
    assert result.returncode == 0, result.stderr
    return " ".join(result.stderr.split())


def _json_run(project: str) -> dict[str, Any]:
    result = cli("report", "--project", project, "--format", "json")
    assert result.returncode == 0, result.stderr
    [run] = json.loads(result.stdout)
    return dict(run)


def _relative_width(component: dict[str, Any]) -> float:
    return (component["high_j"] - component["low_j"]) / component["energy_j"]


def test_a_metered_run_has_a_narrower_range_than_a_modelled_one(tmp_path: Path) -> None:
    fake = FakePowercap(tmp_path / "rapl")
    fake.add_package(0, dram=True)
    common = {"IMPACTLIB_COUNTRY": "FR", "IMPACTLIB_INTERVAL": "0.1", "COLUMNS": "200"}
    metered_env = {**common, "IMPACTLIB_POWERCAP_ROOT": str(fake.root)}
    with fake.drive("cpu:package-0", 40.0), fake.drive("dram:package-0", 4.0):
        metered_summary = _run(metered_env, "metered")
    modelled_env = {**common, "IMPACTLIB_POWERCAP_ROOT": str(tmp_path / "none")}
    modelled_summary = _run(modelled_env, "modelled")

    metered, modelled = _json_run("metered"), _json_run("modelled")
    for run in (metered, modelled):
        assert run["components"], run
        for c in run["components"]:  # stored when measured, never derived
            assert c["low_j"] <= c["energy_j"] <= c["high_j"], c
            assert c["range_derived"] is False
        assert run["energy_low_kwh"] <= run["energy_kwh"] <= run["energy_high_kwh"]
        assert run["emissions_low_kg"] <= run["emissions_kg"] <= run["emissions_high_kg"]
        assert run["ranges_derived"] is False
        lows = sum(c["low_kwh"] for c in run["components"])
        assert abs(run["energy_low_kwh"] - lows) <= 1e-9 * max(lows, 1e-12)  # bounds add
    [package] = [c for c in metered["components"] if c["domain"] == "cpu:package-0"]
    [model] = [c for c in modelled["components"] if c["component"] == "cpu"]
    assert (package["method"], model["method"]) == ("rapl", "model-tdp")
    assert _relative_width(package) < _relative_width(model)
    assert metered["quality_class"] in ("high", "medium") and modelled["quality_class"] == "low"

    for summary, run in ((metered_summary, metered), (modelled_summary, modelled)):
        found = RANGED.search(summary)
        assert found, summary  # "energy 3.2 kWh (2.9–3.6), PUE 1, ..., quality high"
        assert f"quality {run['quality_class']}" in summary, summary
        value, low, high = (float(found.group(i).replace(",", "")) for i in (1, 3, 4))
        assert low <= value <= high

    rows = list(csv.DictReader(io.StringIO(cli("report", "--format", "csv").stdout)))
    assert rows and list(rows[0])[: len(CODECARBON_COLUMNS)] == list(CODECARBON_COLUMNS)
    for row in rows:
        assert row["quality_class"] in ("high", "medium", "low")
        low, value, high = (float(row[k]) for k in RANGE_COLUMNS[:1] + ("energy_consumed",)
                            + RANGE_COLUMNS[1:2])  # fmt: skip
        assert low <= value <= high
        assert float(row["emissions_low_kg"]) <= float(row["emissions"])
        assert float(row["emissions"]) <= float(row["emissions_high_kg"])


def test_every_report_format_shows_the_ranges() -> None:
    save_record(open_store(os.environ["IMPACTLIB_STORE"]), make_record("7c35e25fbbbb"))
    table = cli("report", env={"COLUMNS": "80"}).stdout
    assert "4.5 kWh" in table and "(4.27\u20134.73)" in table, table  # RAPL, NVML: +-5 %
    assert max(len(line) for line in table.splitlines()) <= 80
    for fmt, dash in (("markdown", "\u2013"), ("latex", "--"), ("html", "\u2013")):
        text = cli("report", "--format", fmt).stdout
        assert f"4.5 kWh (4.27{dash}4.73)" in text, (fmt, text[:400])  # the methods' opening
        assert "Energy range (kWh)" in text and f"4.27{dash}4.73" in text, fmt
        assert "Quality" in text and "high" in text, fmt


def test_a_record_from_before_ranges_loads_with_derived_ranges() -> None:
    record = make_record("0ldrec0rd000")
    assert record.footprint is not None and record.footprint.components[0].low_j is None
    save_record(open_store(os.environ["IMPACTLIB_STORE"]), record)
    [run] = json.loads(cli("report", "--format", "json").stdout)
    assert run["ranges_derived"] is True and run["quality_class"] == "high"
    for c in run["components"]:
        assert c["low_j"] is None and c["range_derived"] is True  # as stored: none
        assert c["low_kwh"] <= c["energy_kwh"] <= c["high_kwh"]


def test_a_run_with_no_footprint_has_no_class() -> None:
    bare = replace(make_record("b4reb4re0000"), footprint=None, status="running")
    save_record(open_store(os.environ["IMPACTLIB_STORE"]), bare)
    [run] = json.loads(cli("report", "--format", "json").stdout)
    assert run["quality_class"] is None and run["energy_low_kwh"] == 0.0
    [row] = csv.DictReader(io.StringIO(cli("report", "--format", "csv").stdout))
    assert row["quality_class"] == "" and row["energy_low_kwh"] == ""
