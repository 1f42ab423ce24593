"""A user finds which SLURM job a run was, in every output that lists runs: the summary
``impactlib run`` prints into the job's output file, ``report`` as JSON, CSV (columns of
their own), HTML and the terminal table. The lab report adds runs up by project, user or
month, where a job id has no row to stand in; a job is found through the runs.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest
from clihelp import cli
from fakejob import FakeJob

JOB = "4240_2"  # the fake job's array task, as sacct names it


@pytest.fixture
def tracked(tmp_path: Path) -> str:
    """``impactlib run`` inside the fake job (array task 2 of 4240, step 0, cluster hpc);
    its summary."""
    job = FakeJob(tmp_path, "v1")
    env = {
        **job.environ(),
        "IMPACTLIB_PROCFS_ROOT": str(job.proc.root),
        "IMPACTLIB_CGROUP_ROOT": str(job.root),
        "IMPACTLIB_POWERCAP_ROOT": str(tmp_path / "no-rapl"),
        "IMPACTLIB_COUNTRY": "FR",
        "IMPACTLIB_INTERVAL": "0.05",
    }
    result = cli("run", "--", sys.executable, "-c", "pass", env=env)
    assert result.returncode == 0, result.stderr
    return result.stderr


def _report(*args: str) -> str:
    result = cli("report", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_run_summary_names_the_job(tracked: str) -> None:
    before_the_store = tracked.split("saved to")[0]
    assert f"SLURM job {JOB} (step 0, array task 2, cluster hpc)" in before_the_store


def test_report_json_csv_html_and_table_name_the_job(tracked: str) -> None:
    (run,) = json.loads(_report("--format", "json"))
    assert run["slurm"]["job_id"] == JOB
    (row,) = csv.DictReader(io.StringIO(_report("--format", "csv")))
    assert (row["slurm_job_id"], row["slurm_step"], row["slurm_array_task"]) == (JOB, "0", "2")
    assert row["slurm_cluster"] == "hpc"
    html = _report("--format", "html")
    assert "<th>SLURM job</th>" in html and f"<td>{JOB}</td>" in html
    assert JOB in _report()


def test_a_run_outside_slurm_has_empty_job_columns(tmp_path: Path) -> None:
    env = {"IMPACTLIB_POWERCAP_ROOT": str(tmp_path / "no-rapl"), "IMPACTLIB_COUNTRY": "FR"}
    assert cli("run", "--", sys.executable, "-c", "pass", env=env).returncode == 0
    (row,) = csv.DictReader(io.StringIO(_report("--format", "csv")))
    assert [row[c] for c in ("slurm_job_id", "slurm_step", "slurm_cluster")] == ["", "", ""]
    assert "SLURM job" not in _report("--format", "html")
