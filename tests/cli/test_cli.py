"""The command line: bad input is one line and exit 2; exit codes pass through; reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from clihelp import assert_one_line_error, cli
from powercap import FakePowercap


def test_unknown_country(tmp_path: Path) -> None:
    assert_one_line_error(
        cli("run", "--country", "Germny", "--", "true"), "unknown zone 'Germny'", "Germany"
    )


def test_invalid_config_value_from_environment() -> None:
    assert_one_line_error(
        cli("run", "--", "true", env={"IMPACTLIB_PUE": "0.3"}), "IMPACTLIB_PUE", "'pue'", ">= 1.0"
    )


def test_invalid_config_value_from_file(tmp_path: Path) -> None:
    (tmp_path / "impactlib.toml").write_text('idle_policy = "fair"\n')
    result = subprocess.run(
        [sys.executable, "-m", "impactlib.cli.main", "run", "--", "true"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert_one_line_error(result, "impactlib.toml", "'idle_policy'", "usage, allocation or none")


def test_nothing_after_double_dash() -> None:
    assert_one_line_error(cli("run"), "nothing to run after `--`")
    assert_one_line_error(cli("run", "--"), "nothing to run after `--`")


def test_unwritable_store_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_one_line_error(
        cli("run", "--store", str(blocker / "db.sqlite"), "--", "true"), "cannot open the store"
    )


def test_command_not_found() -> None:
    assert_one_line_error(cli("run", "--", "no-such-command-xyz"), "no-such-command-xyz")


def test_exit_code_passes_through_and_summary(tmp_path: Path) -> None:
    result = cli(
        "run",
        "--country",
        "FR",
        "--",
        sys.executable,
        "-c",
        "import sys; print('hi'); sys.exit(7)",
        env={"IMPACTLIB_POWERCAP_ROOT": str(tmp_path)},
    )
    assert result.returncode == 7
    assert result.stdout == "hi\n"  # the command's output is untouched; the summary is on stderr
    assert "failed" in result.stderr and "g CO2e" in result.stderr


def test_signal_death_passes_through(tmp_path: Path) -> None:
    result = cli(
        "run",
        "--",
        sys.executable,
        "-c",
        "import os, signal; os.kill(os.getpid(), signal.SIGTERM)",
        env={"IMPACTLIB_POWERCAP_ROOT": str(tmp_path), "IMPACTLIB_COUNTRY": "FR"},
    )
    assert result.returncode == -15


def test_report_json_has_the_promised_fields(tmp_path: Path) -> None:
    fake = FakePowercap(tmp_path)
    fake.add_package(0, dram=True)
    env = {
        "IMPACTLIB_POWERCAP_ROOT": str(fake.root),
        "IMPACTLIB_COUNTRY": "FR",
        "IMPACTLIB_INTERVAL": "0.1",
    }
    with fake.drive("cpu:package-0", 40.0), fake.drive("dram:package-0", 4.0):
        assert (
            cli(
                "run",
                "--project",
                "p1",
                "--",
                sys.executable,
                "-c",
                "sum(range(3_000_000))",
                env=env,
            ).returncode
            == 0
        )
        assert cli("run", "--project", "p2", "--", "sleep", "0.3", env=env).returncode == 0
    result = cli("report", "--project", "p1", "--format", "json")
    assert result.returncode == 0, result.stderr
    runs = json.loads(result.stdout)
    assert len(runs) == 1
    run = runs[0]
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


def test_hardware_lists_meters_and_fixes(tmp_path: Path) -> None:
    fake = FakePowercap(tmp_path)
    fake.add_package(0, dram=True)
    result = cli("hardware", env={"IMPACTLIB_POWERCAP_ROOT": str(fake.root)})
    assert result.returncode == 0, result.stderr
    assert "cpu:package-0" in result.stdout and "rapl" in result.stdout
    result = cli("hardware", env={"IMPACTLIB_POWERCAP_ROOT": str(tmp_path / "absent")})
    assert "cpu:model" in result.stdout and "fix:" in result.stdout


@pytest.mark.slow
def test_demo_runs_end_to_end() -> None:
    pytest.importorskip("sklearn")
    result = cli("demo", "--epochs", "3", "--country", "FR", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "mlp-small" in result.stdout and "mlp-large" in result.stdout and "PePR" in result.stdout
    runs = json.loads(cli("report", "--project", "impactlib-demo", "--format", "json").stdout)
    assert len(runs) == 2 and all(r["energy_kwh"] > 0 for r in runs)


def test_import_stays_light() -> None:
    code = (
        "import sys, impactlib; heavy = {'pandas', 'matplotlib', 'torch', 'sqlalchemy', 'httpx', "
        "'requests', 'numpy', 'psutil', 'typer', 'rich'}; print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
