"""Figures per unit of work, the SCI and windows equal hand computations, in every output.

The record (tests/sample_runs.py): 1 kWh of CPU and 2 kWh of GPU charged, PUE 1.5, priced
at 56 g/kWh in FR, embodied 12.3 g. So E = 4.5 kWh, E x I = 252 g, M = 12.3 g; with
R = 1000 volumes: 4.5 Wh and 0.252 g per volume, SCI = (252 + 12.3) / 1000 = 0.2643 g.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from clihelp import assert_one_line_error, cli
from sample_runs import make_record, make_series

from impactlib.cli.common import summary_lines
from impactlib.report.figures import run_figures
from impactlib.report.perunit import singular
from impactlib.store import RunRecord, open_store

E_KWH = 4.5
I_G = 56.0
M_G = 12.3
R = 1000
SERVE = {
    "name": "serve",
    "started_at": "2026-03-01T10:30:00.000+00:00",
    "ended_at": "2026-03-01T10:40:00.000+00:00",
    "duration_s": 600.0,
    "dynamic_j": 2000.0,
    "idle_j": 1000.0,
    "units": {"requests": 300},
    "complete": True,
}


def _record(run_id: str = "run-u", model: dict[str, Any] | None = None) -> RunRecord:
    units = {"units": {"volumes": R}, "windows": [SERVE]}
    return make_record(run_id, model=units if model is None else model)


def _seed(*records: RunRecord) -> None:
    store = open_store(os.environ["IMPACTLIB_STORE"])
    for record in records:
        assert record.footprint is not None
        store.insert_run(record, 10.0)
        store.checkpoint(record.id, "completed", record.footprint, make_series(record.id), ())
        store.set_model(record.id, record.model or {})


def test_per_unit_figures_and_the_sci_equal_hand_computations() -> None:
    work = run_figures(_record()).work
    assert work.terms is not None
    assert work.terms.energy_kwh == pytest.approx(E_KWH)
    assert work.terms.intensity_g_per_kwh == pytest.approx(I_G)
    assert work.terms.embodied_kg == pytest.approx(M_G / 1000)
    (volume,) = work.per_unit
    assert (volume.unit, volume.count) == ("volumes", R)
    assert volume.energy_j == pytest.approx(E_KWH * 3.6e6 / R)  # 4.5 Wh
    assert volume.emissions_kg == pytest.approx(E_KWH * I_G / 1000 / R)  # 0.252 g
    assert volume.sci_kg == pytest.approx((E_KWH * I_G + M_G) / R / 1000)  # 0.2643 g


def test_a_window_per_unit_equals_hand_computations() -> None:
    (window,) = run_figures(_record()).work.windows
    assert window.energy_j == pytest.approx(3000.0 * 1.5)  # charged, with PUE
    assert (window.dynamic_j, window.idle_j) == pytest.approx((3000.0, 1500.0))
    assert window.idle_share == pytest.approx(1 / 3)
    assert window.emissions_kg == pytest.approx(4500 / 3.6e6 * I_G / 1000)
    (request,) = window.units
    assert (request.energy_j, request.dynamic_j, request.idle_j) == pytest.approx((15, 10, 5))
    assert request.emissions_kg == pytest.approx(4500 / 3.6e6 * I_G / 1000 / 300)


def test_without_embodied_figures_per_unit_stay_and_the_sci_is_not_given() -> None:
    record = _record()
    assert record.footprint is not None
    record = replace(record, footprint=replace(record.footprint, embodied_kg=None))
    (volume,) = run_figures(record).work.per_unit
    assert volume.sci_kg is None and volume.sci_range is None
    assert volume.emissions_kg == pytest.approx(E_KWH * I_G / 1000 / R)


def test_nothing_counted_or_malformed_gives_no_figures_per_unit() -> None:
    assert not run_figures(make_record("plain")).work
    odd = {"units": {"volumes": "many", "none": 0, "neg": -3}, "windows": [{"name": "x"}, 3]}
    assert not run_figures(_record(model=odd)).work


@pytest.mark.parametrize(
    ("unit", "one"), [("volumes", "volume"), ("queries", "query"), ("glass", "glass")]
)
def test_a_unit_is_named_in_the_singular_per_one(unit: str, one: str) -> None:
    assert singular(unit) == one


def test_export_sci_writes_e_i_m_r_apart_and_the_sci() -> None:
    _seed(_record(), make_record("run-plain"))
    result = cli("export", "--format", "sci")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["formula"] == "SCI = ((E * I) + M) per R"
    (entry,) = data["entries"]
    assert entry["run_id"] == "run-u" and entry["functional_unit"] == "volumes"
    assert entry["E_kwh"] == pytest.approx(E_KWH)
    assert entry["I_g_per_kwh"] == pytest.approx(I_G)
    assert entry["I_kind"] == "location-based average" and entry["zone"] == "FR"
    assert entry["M_g"] == pytest.approx(M_G)
    assert entry["R"] == R
    sci = (entry["E_kwh"] * entry["I_g_per_kwh"] + entry["M_g"]) / entry["R"]
    assert entry["SCI_g_per_unit"] == pytest.approx(sci) == pytest.approx(0.2643)
    # the range: the record's emissions range, plus M, per R
    run = json.loads(cli("report", "--format", "json", "--run", "run-u").stdout)[0]
    low = (run["emissions_low_kg"] * 1000 + M_G) / R
    high = (run["emissions_high_kg"] * 1000 + M_G) / R
    assert entry["SCI_low_g_per_unit"] == pytest.approx(low)
    assert entry["SCI_high_g_per_unit"] == pytest.approx(high)
    assert low <= entry["SCI_g_per_unit"] <= high
    assert data["without_sci"] == [{"run_id": "run-plain", "reason": "no functional unit counted"}]
    one = json.loads(cli("export", "--format", "sci", "--run", "run-plain").stdout)
    assert one["entries"] == [] and len(one["without_sci"]) == 1


def test_every_report_format_shows_the_same_figures_per_unit_and_the_window() -> None:
    _seed(_record())
    shown = {fmt: cli("report", "--format", fmt).stdout for fmt in ("table", "markdown", "html")}
    shown["latex"] = cli("report", "--format", "latex").stdout
    for fmt, text in shown.items():
        assert "4.5 Wh" in text, fmt  # energy per volume
        assert "252 mg" in text, fmt  # CO2e per volume
        assert "264 mg" in text, fmt  # SCI per volume
        assert ("33 \\%" if fmt == "latex" else "33 %") in text, fmt  # the window's idle
        assert "4.17 mWh" in text, fmt  # its energy per request: 15 J
    run = json.loads(cli("report", "--format", "json").stdout)[0]
    (volume,) = run["per_unit"]
    assert volume["energy_kwh"] == pytest.approx(E_KWH / R)
    assert volume["sci_kg"] == pytest.approx((E_KWH * I_G + M_G) / R / 1000)
    (window,) = run["windows"]
    assert window["idle_share"] == pytest.approx(1 / 3)
    assert window["per_unit"][0]["energy_kwh"] == pytest.approx(15 / 3.6e6)
    (row,) = csv.DictReader(io.StringIO(cli("report", "--format", "csv").stdout))
    assert float(row["per_unit:volumes:count"]) == R
    assert float(row["per_unit:volumes:energy_kwh"]) == pytest.approx(E_KWH / R)
    assert float(row["per_unit:volumes:emissions_kg"]) == pytest.approx(E_KWH * I_G / 1e6)
    assert float(row["per_unit:volumes:sci_kg"]) == pytest.approx((E_KWH * I_G + M_G) / 1e6)


def test_export_sci_refuses_options_of_other_formats() -> None:
    result = cli("export", "--format", "sci", "--task-stage", "inference")
    assert_one_line_error(result, "--task-stage")


DOCS = Path(__file__).parents[2] / "docs" / "reporting.md"


def test_the_docs_examples_are_this_records_output() -> None:
    _seed(_record())
    docs = DOCS.read_text(encoding="utf-8")
    table = cli("report", env={"COLUMNS": "80"}).stdout
    volumes = "run-u  volumes  1,000       4.5 Wh     252 mg  264 mg"
    serve = "run-u  serve   1.25 Wh  33 %  requests    300     4.17 mWh   0.233 mg"
    for row in (volumes, serve):
        assert row in table and row in docs
    (entry,) = json.loads(cli("export", "--format", "sci").stdout)["entries"]
    block = re.search(r'```json\n(\{\n  "run_id": "run-u".*?\})\n```', docs, re.S)
    assert block is not None
    documented = json.loads(block.group(1))
    for key, value in documented.items():
        if key.startswith("SCI_low") or key.startswith("SCI_high"):
            continue  # the range's constants are the ranges' (docs/measurement.md)
        assert entry[key] == (pytest.approx(value) if isinstance(value, float) else value), key


def test_the_lab_report_gives_each_group_its_figures_per_unit() -> None:
    # vision: 4.5 kWh for 1000 volumes; nlp: 2.25 kWh (half the energy) for 500 volumes, and
    # a run of nlp that counted nothing (its energy is in no figure per unit)
    half = make_record("run-n", "nlp", cpu_j=1.8e6, gpu_j=3.6e6, model={"units": {"volumes": 500}})
    _seed(_record(), half, make_record("run-x", "nlp"))
    data = json.loads(cli("report", "--by", "project", "--format", "json").stdout)
    by_project = {u["project"]: u for u in data["per_unit"]}
    assert by_project["nlp"]["count"] == 500 and by_project["nlp"]["runs"] == 1
    assert by_project["nlp"]["energy_kwh_per_unit"] == pytest.approx(2.25 / 500)
    assert by_project["nlp"]["sci_kg_per_unit"] == pytest.approx((2.25 * I_G + M_G) / 500 / 1e3)
    (total,) = data["per_unit_total"]
    assert total["count"] == 1500 and total["runs"] == 2
    assert total["energy_kwh_per_unit"] == pytest.approx(6.75 / 1500)
    sci = (6.75 * I_G + 2 * M_G) / 1500 / 1e3  # (sum E x I + sum M) / sum R
    assert total["sci_kg_per_unit"] == pytest.approx(sci)
    rows = list(csv.DictReader(io.StringIO(cli("report", "--by", "project", "-f", "csv").stdout)))
    nlp = next(r for r in rows if r["project"] == "nlp")
    assert float(nlp["per_unit:volumes:energy_kwh"]) == pytest.approx(2.25 / 500)
    for fmt in ("table", "markdown", "latex", "html"):
        text = cli("report", "--by", "project", "--format", fmt).stdout
        assert "Per unit of work" in text and "4.5 Wh" in text, fmt  # 2.25 kWh / 500 too


def test_the_run_summary_gives_the_figures_per_unit_and_the_window() -> None:
    record = _record()
    assert record.footprint is not None
    lines = summary_lines(record.footprint, record.id, "completed", "s.db", None, record.model)
    volume = next(line for line in lines if line.startswith("  per volume"))
    assert volume.startswith("  per volume (1,000 volumes): 4.5 Wh, 252 mg CO2e, SCI 264 mg")
    window = next(line for line in lines if line.startswith("  window serve:"))
    assert "10 min, 1.25 Wh (idle 33 %)" in window
    request = lines[lines.index(window) + 1]
    assert request.startswith("    per request (300): 4.17 mWh (dynamic 2.78 mWh, idle 1.39 mWh)")
    assert not any(
        "per volume" in line
        for line in summary_lines(record.footprint, record.id, "completed", "s.db")
    )
