"""``impactlib report`` and ``export``: tables that fit 80 columns, files with the umask's mode."""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from clihelp import assert_one_line_error, cli
from powercap import FakePowercap
from sample_runs import make_record, save_record

from impactlib.footprint import ComponentEnergy
from impactlib.store import RunRecord, open_store
from impactlib.units import format_energy_j, format_mass_kg

MODEL_NOTE = "estimated: P = TDP x (0.12 + 0.88 x utilisation); [bold]12 W/core[/bold]"


def tiny(run_id: str, project: str = "impactlib-demo", joules: float = 0.48) -> RunRecord:
    """A demo-sized run: under a second, a fraction of a joule, estimated by the TDP model."""
    base = make_record(run_id, project=project, pue=1.0, g_per_kwh=475.0)
    assert base.footprint is not None
    cpu = ComponentEnergy(
        "cpu:model", "cpu", "model-tdp", "tree (of machine)", "estimated",
        joules * 3, joules * 0.7, joules * 0.3, joules * 2, MODEL_NOTE, 2.88, "model",
    )  # fmt: skip
    fp = replace(
        base.footprint,
        components=(cpu,),
        duration_s=0.108,
        emissions_kg=joules / 3.6e6 * 0.475,
        embodied_kg=8.5e-7,
    )
    return replace(base, footprint=fp)


@pytest.fixture
def stored() -> Iterator[list[RunRecord]]:
    store = open_store(os.environ["IMPACTLIB_STORE"])
    records = [
        tiny("43a24e342f00b8e8b394066595ab0caf"),
        tiny("50b3f9ca3103bef1ca529877319b1f79", joules=35.0),
    ]
    yield [save_record(store, r) for r in records]
    store.close()


def figures(record: RunRecord) -> list[str]:
    fp = record.footprint
    assert fp is not None
    return [record.id[:8], format_energy_j(fp.energy_j * fp.pue), format_mass_kg(fp.emissions_kg)]


def test_80_columns_every_figure_uncut_and_non_zero(stored: list[RunRecord]) -> None:
    result = cli("report", env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, result.stdout
    assert "Runs of impactlib-demo, all completed, estimated" in result.stdout
    for record in stored:
        [row] = [line for line in lines if line.startswith(record.id[:8])]
        for figure in figures(record):
            assert figure in row, (figure, row)
    assert "0.133 mWh" in result.stdout and "9.72 mWh" in result.stdout  # 0.48 J, 35 J
    assert "0.000" not in result.stdout and "e-0" not in result.stdout
    [total] = [line for line in lines if line.startswith("impactlib-demo")]
    assert "9.86 mWh" in total and "1.7 mg" in total  # 35.48 J; embodied 2 x 0.85 mg


def test_a_varied_selection_drops_columns_not_digits(stored: list[RunRecord]) -> None:
    store = open_store(os.environ["IMPACTLIB_STORE"])
    failed = replace(tiny("22ade391aaaa", project="a-rather-long-project-name"), status="failed")
    measured = make_record("7c35e25fbbbb", project="p2")
    for record in (failed, measured):
        save_record(store, record)
    result = cli("report", env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, result.stdout
    header = next(line for line in lines if line.startswith("run "))
    for column in ("project", "status", "energy", "CO2e", "quality"):
        assert column in header, header
    assert "started" not in header  # the least needed column goes first
    for record in (*stored, failed, measured):
        [row] = [line for line in lines if line.startswith(record.id[:8])]
        for figure in figures(record):
            assert figure in row, (figure, row)
    wide = cli("report", env={"COLUMNS": "120"}).stdout
    assert "started (UTC)" in wide and "2026-03-01 10:00" in wide


def test_text_is_never_markup() -> None:
    save_record(open_store(os.environ["IMPACTLIB_STORE"]), tiny("abc", project="[bold]x[/bold]"))
    result = cli("report", env={"COLUMNS": "80"})
    assert "[bold]x[/bold]" in result.stdout, result.stdout


def test_json_has_every_run_with_its_idle_floors(stored: list[RunRecord]) -> None:
    runs = json.loads(cli("report", "--format", "json").stdout)
    assert [r["id"] for r in runs] == [r.id for r in stored]
    [component] = runs[0]["components"]
    assert component["idle_floor_w"] == 2.88 and component["idle_floor_source"] == "model"


@pytest.mark.parametrize("fmt", ["table", "json", "csv", "markdown", "latex", "html"])
def test_output_files_get_the_umask_mode(stored: list[RunRecord], tmp_path: Path, fmt: str) -> None:
    old = os.umask(0o022)
    try:
        target = tmp_path / f"report.{fmt}"
        result = cli("report", "--format", fmt, "-o", str(target))
        os.umask(0o027)
        other = tmp_path / f"export.{fmt}"
        exported = cli("export", "--format", "json", "-o", str(other))
    finally:
        os.umask(old)
    assert result.returncode == 0 and exported.returncode == 0, result.stderr + exported.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert stat.S_IMODE(other.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_table_output_is_a_table(stored: list[RunRecord], tmp_path: Path) -> None:
    target = tmp_path / "runs.txt"
    assert cli("report", "-o", str(target)).returncode == 0
    text = target.read_text()
    assert "Totals per project" in text and not text.startswith("timestamp,")
    assert all(len(line) <= 80 and line == line.rstrip() for line in text.splitlines())
    for record in stored:
        for figure in figures(record):
            assert figure in text


def test_missing_output_directory_is_an_error(stored: list[RunRecord], tmp_path: Path) -> None:
    target = tmp_path / "no-such-dir" / "report.md"
    assert_one_line_error(
        cli("report", "--format", "markdown", "-o", str(target)), "no-such-dir", "no such directory"
    )
    assert not target.parent.exists()


def test_no_runs() -> None:
    result = cli("report")
    assert result.returncode == 0 and "no runs" in result.stdout


def test_report_json_has_the_promised_fields(tmp_path: Path) -> None:
    fake = FakePowercap(tmp_path)
    fake.add_package(0, dram=True)
    env = {
        "IMPACTLIB_POWERCAP_ROOT": str(fake.root),
        "IMPACTLIB_COUNTRY": "FR",
        "IMPACTLIB_INTERVAL": "0.1",
    }
    with fake.drive("cpu:package-0", 40.0), fake.drive("dram:package-0", 4.0):
        code = "sum(range(3_000_000))"
        result = cli("run", "--project", "p1", "--", sys.executable, "-c", code, env=env)
        assert result.returncode == 0, result.stderr
        assert cli("run", "--project", "p2", "--", "sleep", "0.3", env=env).returncode == 0
    result = cli("report", "--project", "p1", "--format", "json")
    assert result.returncode == 0, result.stderr
    [run] = json.loads(result.stdout)
    for key in ("id", "project", "status", "duration_s", "energy_kwh", "emissions_kg"):
        assert key in run
    assert run["project"] == "p1" and run["status"] == "completed" and run["energy_kwh"] > 0, [
        (c["measured_j"], c["energy_j"], c["note"][-40:]) for c in run["components"]
    ]
    methods = {c["domain"]: (c["method"], c["quality"]) for c in run["components"]}
    assert methods["cpu:package-0"] == ("rapl", "attributed")
    assert methods["dram:package-0"] == ("rapl", "attributed")
    table = cli("report")
    assert table.returncode == 0 and "p1" in table.stdout and "p2" in table.stdout
    csv_text = cli("report", "--format", "csv").stdout
    assert csv_text.startswith("timestamp,project_name,run_id")
    assert_one_line_error(cli("report", "--format", "pdf"), "unknown format 'pdf'")
    assert_one_line_error(cli("report", "--run", "nope"), "no run 'nope'")
