"""``impactlib slurm ingest`` end to end, with a fake sacct on PATH: every option in its
forms, bad input as one line and exit 2 with nothing stored, and the ingested jobs in
``impactlib report --by user --waste``; ``impactlib run`` inside a (fake) job."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main
from clihelp import assert_one_line_error, cli
from fakejob import FakeJob
from fakesacct import PARTITIONS, FakeSacct, Job, Step, cluster_jobs, recorded_scontrol

from impactlib.cli.main import build_app
from impactlib.slurm.ingest import job_run_id
from impactlib.store import open_store

EXERCISED: set[str] = set()
PERIOD = ["--since", "2025-11-01", "--until", "2025-12-01"]


def exercises(*options: str) -> None:
    EXERCISED.update(options)


@pytest.fixture
def fake(tmp_path: Path) -> FakeSacct:
    fake = FakeSacct(tmp_path)
    fake.answer(cluster_jobs())
    return fake


def _partitions_file(folder: Path, partitions: dict[str, dict[str, Any]]) -> Path:
    lines = []
    for name, table in partitions.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    path = folder / "partitions.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def ingest(fake: FakeSacct, *args: str, env: dict[str, str] | None = None) -> Any:
    base = {"PATH": fake.path, "TZ": "UTC", "IMPACTLIB_COUNTRY": "FR"}
    return cli("slurm", "ingest", *args, env={**base, **(env or {})})


def _labels(store: str | None = None) -> dict[str, str]:
    target = open_store(store or os.environ["IMPACTLIB_STORE"])
    return {r.config["slurm"]["job_id"]: r.config["slurm"]["label"] for r in target.list_runs()}


exercises("--since", "--until")


def test_the_period_is_passed_to_sacct(fake: FakeSacct) -> None:
    result = ingest(fake, "--since", "2025-11-01T08:30", "--until", "2025-11-02")
    assert result.returncode == 0, result.stderr
    call = fake.calls()[-1]
    assert call[call.index("-S") + 1] == "2025-11-01T08:30:00"
    assert call[call.index("-E") + 1] == "2025-11-02T00:00:00"
    assert len(_labels()) == 6


exercises("--sacct")


@pytest.mark.parametrize(
    ("shape", "json_too", "used"),
    [
        ("auto", True, "--json"),
        ("auto", False, "--parsable2"),
        ("json", True, "--json"),
        ("parsable", True, "--parsable2"),
    ],
)
def test_sacct_shape(fake: FakeSacct, shape: str, json_too: bool, used: str) -> None:
    fake.answer(cluster_jobs(), json_too=json_too)
    result = ingest(fake, *PERIOD, "--sacct", shape)
    assert result.returncode == 0, result.stderr
    assert used in fake.calls()[-1]
    assert _labels()["1001"] == "estimated" and len(_labels()) == 6


exercises("--slurm-partitions")


@pytest.mark.parametrize("form", ["flag", "env", "toml-path", "toml-table"])
def test_partition_hardware(fake: FakeSacct, tmp_path: Path, form: str) -> None:
    """Partition "big" is configured exclusive: its job's SLURM energy is used."""
    path = _partitions_file(tmp_path, PARTITIONS)
    args: list[str] = []
    env: dict[str, str] = {}
    if form == "flag":
        args = ["--slurm-partitions", str(path)]
    elif form == "env":
        env = {"IMPACTLIB_SLURM_PARTITIONS": str(path)}
    elif form == "toml-path":
        Path("impactlib.toml").write_text(f"slurm_partitions = {json.dumps(str(path))}\n")
    else:
        Path("impactlib.toml").write_text("[slurm_partitions.big]\nexclusive = true\n")
    result = ingest(fake, *PERIOD, *args, env=env)
    assert result.returncode == 0, result.stderr
    assert _labels()["1004"] == "slurm-exclusive"
    assert _labels()["1003"] == "estimated"


def test_without_partition_hardware_nothing_is_exclusive(fake: FakeSacct) -> None:
    assert ingest(fake, *PERIOD).returncode == 0
    assert set(_labels().values()) == {"estimated"}


exercises("--store")


@pytest.mark.parametrize("form", ["flag", "env", "toml"])
def test_store(fake: FakeSacct, tmp_path: Path, form: str) -> None:
    lab = str(tmp_path / "lab.db")
    args, env = [], {}
    if form == "flag":
        args = ["--store", lab]
    elif form == "env":
        env = {"IMPACTLIB_STORE": lab}
    else:
        env = {"IMPACTLIB_STORE": ""}
        Path("impactlib.toml").write_text(f"store = {json.dumps(lab)}\n")
    result = ingest(fake, *PERIOD, *args, env=env)
    assert result.returncode == 0, result.stderr
    assert len(_labels(lab)) == 6


def test_every_ingest_option_is_exercised() -> None:
    group = typer.main.get_command(build_app()).commands["slurm"]
    command = group.commands["ingest"]  # type: ignore[attr-defined]
    options = {p.opts[0] for p in command.params if p.param_type_name == "option"}
    assert options - {"--help"} <= EXERCISED, options - EXERCISED


# --- bad input: one line, exit 2, nothing stored twice or half -------------------------------


def test_ingesting_twice_changes_nothing(fake: FakeSacct) -> None:
    assert ingest(fake, *PERIOD).returncode == 0
    store = open_store(os.environ["IMPACTLIB_STORE"])
    before = [(r.id, r.updated_at, r.footprint) for r in store.list_runs()]
    second = ingest(fake, *PERIOD)
    assert second.returncode == 0
    assert [(r.id, r.updated_at, r.footprint) for r in store.list_runs()] == before


def test_sacct_missing(fake: FakeSacct, tmp_path: Path) -> None:
    result = ingest(fake, *PERIOD, env={"PATH": str(tmp_path / "empty")})
    assert_one_line_error(result, "sacct was not found on PATH")
    assert _labels() == {}


def test_sacct_failing_keeps_what_was_stored(fake: FakeSacct) -> None:
    assert ingest(fake, *PERIOD).returncode == 0
    before = _labels()
    fake.fail("sacct: error: slurmdbd: Connection refused\n")
    assert_one_line_error(ingest(fake, *PERIOD), "sacct failed", "Connection refused")
    assert _labels() == before


@pytest.mark.parametrize("shape", ["parsable", "json"])
def test_a_malformed_line_stores_nothing(fake: FakeSacct, shape: str) -> None:
    good = [Job(1, "ann", "cpu", steps=[Step("batch", 10.0)])]
    fake.answer(good + cluster_jobs(), json_too=shape == "json")
    text = (fake.folder / ("json.out" if shape == "json" else "parsable.out")).read_text()
    broken = (
        text.replace('"job_id": 1001', '"job": 1001')
        if shape == "json"
        else text.replace("|7200|", "|2:00:00|", 1)
    )
    fake.answer_text(**{f"{shape}_text": broken})
    result = ingest(fake, *PERIOD, "--sacct", shape)
    assert_one_line_error(result, "malformed", "nothing was ingested")
    assert _labels() == {}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--since", "last week"], "--since 'last week' is not a date"),
        (["--since", "2025-12-02", "--until", "2025-12-01"], "must be before --until"),
        (["--sacct", "xml"], "--sacct 'xml' is not one of"),
        (["--slurm-partitions", "/nonexistent.toml"], "option --slurm-partitions"),
    ],
)
def test_bad_options(fake: FakeSacct, args: list[str], needle: str) -> None:
    assert_one_line_error(ingest(fake, *args), needle)
    assert _labels() == {}


def test_a_partition_that_cannot_be_estimated_stores_nothing(
    fake: FakeSacct, tmp_path: Path
) -> None:
    path = _partitions_file(tmp_path, {"cpu": {"cpu": "Quantum Flux 9000"}})
    result = ingest(fake, *PERIOD, "--slurm-partitions", str(path))
    assert_one_line_error(result, "partition cpu", "slurm_partitions")
    assert _labels() == {}


# --- the ingested jobs in reports ------------------------------------------------------------


def test_report_by_user_shows_the_failed_jobs_energy_as_waste(
    fake: FakeSacct, tmp_path: Path
) -> None:
    path = _partitions_file(tmp_path, PARTITIONS)
    assert ingest(fake, *PERIOD, "--slurm-partitions", str(path)).returncode == 0
    failed = open_store(os.environ["IMPACTLIB_STORE"]).get_run(job_run_id("hpc", "1003"))
    assert failed is not None and failed.footprint is not None
    result = cli("report", "--by", "user", "--waste", "--format", "json")
    assert result.returncode == 0, result.stderr
    lines = json.loads(result.stdout)
    carol = [w for w in lines if w["group"] == "carol"]
    assert [(w["job"], w["kind"]) for w in carol] == [("1003", "failed job")]
    assert carol[0]["energy_kwh"] == pytest.approx(failed.footprint.energy_kwh)
    kinds = {(w["group"], w["kind"]) for w in lines}
    assert ("bob", "cancelled job") in kinds and ("alice", "idle GPUs") in kinds
    table = cli("report", "--by", "user", "--waste")
    assert table.returncode == 0, table.stderr
    row = next(
        line for line in table.stdout.splitlines() if line.startswith("carol") and "1003" in line
    )
    assert "failed job" in row


def test_an_estimated_job_is_never_shown_as_measured_in_json(
    fake: FakeSacct, tmp_path: Path
) -> None:
    """``report --format json``: a job estimated from its allocation (Green Algorithms) gives
    its energy as ``domain_j``, under no ``measured`` key; only SLURM's own meter is metered."""
    path = _partitions_file(tmp_path, PARTITIONS)
    assert ingest(fake, *PERIOD, "--slurm-partitions", str(path)).returncode == 0
    result = cli("report", "--format", "json")
    assert result.returncode == 0, result.stderr
    components = [c for run in json.loads(result.stdout) for c in run["components"]]
    estimated = [c for c in components if c["quality"] == "estimated"]
    assert estimated and all(c["domain_j"] > 0 for c in estimated), components
    claims = [(c["domain"], k) for c in estimated for k in c if "measured" in k]
    assert not claims, f"estimated components under a measured key: {claims}"


# --- impactlib run inside a job: the cgroup_root setting ------------------------------------


@pytest.mark.parametrize("form", ["env", "toml"])
def test_run_inside_a_job_measures_its_cgroup(tmp_path: Path, form: str) -> None:
    """``cgroup_root`` (no flag: a host setting) in its environment and file forms."""
    job = FakeJob(tmp_path, "v2-sluid")
    env = {
        **job.environ(),
        "IMPACTLIB_PROCFS_ROOT": str(job.proc.root),
        "IMPACTLIB_POWERCAP_ROOT": str(tmp_path / "no-rapl"),
        "IMPACTLIB_COUNTRY": "FR",
        "IMPACTLIB_INTERVAL": "0.05",
    }
    if form == "env":
        env["IMPACTLIB_CGROUP_ROOT"] = str(job.root)
    else:
        Path("impactlib.toml").write_text(f"cgroup_root = {json.dumps(str(job.root))}\n")
    result = cli("run", "--", sys.executable, "-c", "pass", env=env)
    assert result.returncode == 0, result.stderr
    (record,) = open_store(os.environ["IMPACTLIB_STORE"]).list_runs()
    assert record.config["slurm"]["job_id"] == "4240_2"
    assert record.config["slurm"]["cgroup"]["cpu_file"] == str(job.cpu_file)
    assert record.footprint is not None and record.footprint.idle_policy == "allocation"
    assert record.footprint.charged_to == "cgroup"
    source = record.config["sources"]["cgroup_root"]
    assert ("IMPACTLIB_CGROUP_ROOT" in source) if form == "env" else ("impactlib.toml" in source)


def test_memory_defaults_that_could_not_be_checked_are_said(fake: FakeSacct) -> None:
    """Without scontrol, SLURM's default memory cannot be told from a request: one note on
    stderr says every job's memory counts as requested, and how to avoid it."""
    result = ingest(fake, "--since", "2026-03-01", "--until", "2026-03-02")
    assert result.returncode == 0, result.stderr
    (note,) = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    assert "scontrol did not answer" in note and "counts as requested" in note
    fake.scontrol(*recorded_scontrol())
    again = ingest(fake, "--since", "2026-03-01", "--until", "2026-03-02")
    assert again.returncode == 0, again.stderr
    assert "scontrol did not answer" not in again.stderr
