"""``impactlib report`` and ``export``: tables that fit 80 columns, files with the umask's mode."""

from __future__ import annotations

import csv
import io
import json
import os
import re
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
from impactlib.report.formats import FORMATS
from impactlib.store import RunRecord, open_store
from impactlib.units import J_PER_KWH, format_energy_j, format_mass_kg

MODEL_NOTE = "estimated: P = TDP x (0.12 + 0.88 x utilisation); [bold]12 W/core[/bold]"


def tiny(run_id: str, project: str = "impactlib-demo", joules: float = 0.48) -> RunRecord:
    """A demo-sized run: under a second, a fraction of a joule, estimated by the TDP model."""
    base = make_record(run_id, project=project, pue=1.0, g_per_kwh=475.0)
    assert base.footprint is not None
    cpu = ComponentEnergy(
        "cpu:model", "cpu", "model-tdp", "machine", "estimated",
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
    # Room for every column (the ranges of issue 18 included) brings the start time back.
    wide = cli("report", env={"COLUMNS": "160"}).stdout
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
        (c["domain_j"], c["energy_j"], c["note"][-40:]) for c in run["components"]
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


def _total_energy_j(fmt: str, text: str) -> float | None:
    """The total energy a machine-readable format carries (None for a format people read)."""
    if fmt == "json":
        return sum(run["energy_kwh"] for run in json.loads(text)) * J_PER_KWH
    if fmt == "csv":
        rows = csv.DictReader(io.StringIO(text))
        return sum(float(row["energy_consumed"]) for row in rows) * J_PER_KWH
    return None


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_shows_the_same_total_energy(stored: list[RunRecord], fmt: str) -> None:
    save_record(open_store(os.environ["IMPACTLIB_STORE"]), make_record("7c35e25fbbbb"))
    records = open_store(os.environ["IMPACTLIB_STORE"]).list_runs()
    expected = format_energy_j(sum(r.footprint.energy_j * r.footprint.pue for r in records))  # type: ignore[union-attr]
    result = cli("report", "--format", fmt, env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    total = _total_energy_j(fmt, result.stdout)
    if total is not None:
        assert format_energy_j(total) == expected
    else:
        assert expected in result.stdout, (fmt, expected)


def test_task_metrics_are_shown_in_every_format(stored: list[RunRecord]) -> None:
    attached = cli("metrics", stored[0].id[:8], "accuracy=0.91", "dice=0.734")
    assert attached.returncode == 0, attached.stderr
    for fmt in FORMATS:
        result = cli("report", "--format", fmt, env={"COLUMNS": "80"})
        assert result.returncode == 0, result.stderr
        for needle in ("accuracy", "0.91", "dice", "0.734"):
            assert needle in result.stdout, (fmt, needle)
    rows = list(csv.DictReader(io.StringIO(cli("report", "--format", "csv").stdout)))
    assert [row["metric:accuracy"] for row in rows] == ["0.91", ""]  # the second run logged none
    table = cli("report", env={"COLUMNS": "80"}).stdout.splitlines()
    [row] = [line for line in table if line.startswith(stored[0].id[:8]) and "0.91" in line]
    assert "0.734" in row  # one row per run, a column per metric


def _measured_run(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, busy: bool = False
) -> str:
    """``impactlib run ARGS -- CMD`` on a machine without meters (the CPU is modelled), CMD
    a short sleep or (``busy``) a short computation; its run summary."""
    settings = {
        "IMPACTLIB_POWERCAP_ROOT": str(tmp_path),  # no RAPL: estimated, never measured
        "IMPACTLIB_CGROUP_ROOT": str(tmp_path / "cgroup"),
        "IMPACTLIB_INTENSITY_SOURCE": "static",
        **(env or {}),
    }
    command = [sys.executable, "-c", "sum(range(3_000_000))"] if busy else ["sleep", "0.2"]
    result = cli("run", *args, "--", *command, env=settings)
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_json_carries_each_runs_settings_with_their_sources_and_slurm_job(tmp_path: Path) -> None:
    slurm = {"SLURM_JOB_ID": "4242", "SLURM_JOB_PARTITION": "gpu", "IMPACTLIB_PUE": "1.2"}
    _measured_run(tmp_path, "--country", "FR", env=slurm)
    _measured_run(tmp_path, env={"IMPACTLIB_COUNTRY": "DE"})
    first, second = json.loads(cli("report", "--format", "json").stdout)
    assert first["config"]["values"]["country"] == "FR"
    assert first["config"]["sources"]["country"] == "argument"
    assert first["config"]["values"]["pue"] == 1.2
    assert first["config"]["sources"]["pue"] == "env IMPACTLIB_PUE"
    assert first["slurm"]["job_id"] == "4242" and first["slurm"]["partition"] == "gpu"
    assert second["config"]["sources"]["country"] == "env IMPACTLIB_COUNTRY"
    assert second["slurm"] is None
    assert first["location"]["configured"] and second["location"]["zone"] == "DE"


@pytest.mark.parametrize(
    ("args", "env"),
    [(("--country", "FR"), {}), ((), {"IMPACTLIB_COUNTRY": "FR"})],
    ids=["flag", "environment"],
)
def test_methods_call_a_configured_location_configured(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str]
) -> None:
    _measured_run(tmp_path, *args, env=env)
    text = cli("report", "--format", "markdown").stdout
    methods = " ".join(text.split("## Methods", 1)[1].split("## Figures", 1)[0].split())
    assert "for zone FR" in methods and "guessed" not in methods, methods


def test_the_run_summary_renders_the_reports_figures(tmp_path: Path) -> None:
    summary = " ".join(_measured_run(tmp_path, "--country", "FR", busy=True).split())
    energy = re.search(r"energy (\S+ \S+) \(\S+\), PUE 1, estimated, quality \w+", summary)
    assert energy is not None, summary  # modelled energy: never called measured, even 0 %
    assert "zone FR (configured)" in summary
    [record] = open_store(os.environ["IMPACTLIB_STORE"]).list_runs()
    table = cli("report", env={"COLUMNS": "80"}).stdout
    [row] = [line for line in table.splitlines() if line.startswith(record.id[:8])]
    assert energy[1] in row and "estimated" in table
