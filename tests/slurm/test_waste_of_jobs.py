"""Waste from SLURM's state for every job, tracked or not (issue 17, bug 4, M3, M4).

``impactlib report --by user --waste`` on a lab store that holds the users' tracker runs and
the administrator's ingest: a cancelled or failed job is waste whether a tracker measured it
or not, with the tracker's energy where there is one; a tracked job gets a memory line from
what SLURM says it requested; SLURM's default memory is no request; and the table gives the
totals and the waste, not every job first.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from clihelp import cli
from fakesacct import PARTITIONS, cluster_jobs
from fakesacct import as_json as sacct_json
from sample_runs import make_record, save_record

from impactlib.config import load_config
from impactlib.slurm.ingest import ingest
from impactlib.slurm.sacct import parse_json
from impactlib.store import RunRecord, open_store
from impactlib.units import MEMORY_W_PER_GB

GIB = 2**30


def _tracker(
    run_id: str, job_id: str, user: str, status: str = "completed", **slurm: Any
) -> RunRecord:
    """A 2-hour run a tracker recorded inside ``job_id`` (peak resident memory 0.5 GiB)."""
    record = make_record(run_id, project="lab")
    assert record.footprint is not None
    fp = replace(record.footprint, peak_memory_bytes=GIB // 2)
    config = {"slurm": {"job_id": job_id, "cluster": "hpc", **slurm}}
    return replace(record, user=user, status=status, config=config, footprint=fp)


def _lab(tmp_path: Path, trackers: list[RunRecord], jobs: list[Any] | None = None) -> str:
    """A lab store with the trackers' runs, then the accounting of the fake cluster's jobs."""
    path = str(tmp_path / "lab.db")
    store = open_store(path)
    for record in trackers:
        save_record(store, record)
    config = load_config({"slurm_partitions": PARTITIONS, "country": "FR"})
    ingest(parse_json(sacct_json(cluster_jobs())) if jobs is None else jobs, store, config)
    return path


def _waste(store: str) -> dict[str, list[dict[str, Any]]]:
    """job (or run id) -> its waste lines, from ``report --by user --waste --format json``."""
    result = cli("report", "--store", store, "--by", "user", "--waste", "--format", "json")
    assert result.returncode == 0, result.stderr
    found: dict[str, list[dict[str, Any]]] = {}
    for line in json.loads(result.stdout):
        found.setdefault(line["job"] or line["run_id"], []).append(line)
    return found


def test_a_cancelled_tracked_job_is_waste_with_its_trackers_energy(tmp_path: Path) -> None:
    """Bug 4: sacct says CANCELLED; the run that stands for the job is the tracker's."""
    tracker = _tracker("c" * 32, "1002_2", "bob", status="interrupted")
    waste = _waste(_lab(tmp_path, [tracker]))
    (line,) = waste["1002_2"]
    assert (line["group"], line["kind"], line["run_id"]) == ("bob", "cancelled job", tracker.id)
    assert tracker.footprint is not None
    assert line["energy_kwh"] == pytest.approx(tracker.footprint.energy_kwh)


def test_a_tracked_job_gets_a_memory_line_from_its_request(tmp_path: Path) -> None:
    """sacct: 8000 MiB requested, 1 GiB peak; the tracker ran 2 hours (its duration)."""
    tracker = _tracker("d" * 32, "1002_1", "bob")
    (line,) = _waste(_lab(tmp_path, [tracker]))["1002_1"]
    assert (line["kind"], line["run_id"]) == ("memory over-requested", tracker.id)
    unused_gb = (8000 * 2**20 - GIB) / 1e9
    assert line["energy_j"] == pytest.approx(unused_gb * MEMORY_W_PER_GB * 7200)


def test_default_memory_is_no_request_even_where_the_tracker_saw_a_limit(tmp_path: Path) -> None:
    """M4: the accounting's reader leaves SLURM's default out of the request; the cgroup's
    limit a tracker recorded (the default, held) does not bring it back."""
    jobs = [
        job._replace(req_memory_bytes=None, req_memory_kind="default")
        for job in parse_json(sacct_json(cluster_jobs()))
    ]
    tracker = _tracker("e" * 32, "1002_1", "bob", cgroup={"memory_bytes": 8 * GIB})
    waste = _waste(_lab(tmp_path, [tracker], jobs))
    assert not any(w["kind"] == "memory over-requested" for lines in waste.values() for w in lines)


@pytest.mark.parametrize("status", ["cancelled", "interrupted", "killed", "failed"])
def test_a_tracked_run_without_accounting_counts_by_its_status(tmp_path: Path, status: str) -> None:
    """Before any ingest the run's own status says how its job ended; its memory request
    is what it recorded from inside the job (``SLURM_MEM_PER_NODE``)."""
    stopped = _tracker("f" * 32, "555", "ann", status=status)
    asked = _tracker("a" * 32, "556", "ann", memory_bytes=8 * GIB)
    path = str(tmp_path / "node.db")
    store = open_store(path)
    for record in (stopped, asked):
        save_record(store, record)
    waste = _waste(path)
    kind = {"failed": "failed run"}.get(status, f"{status} run")
    assert [w["kind"] for w in waste["555"]] == [kind]
    assert [w["kind"] for w in waste["556"]] == ["memory over-requested"]


def test_waste_by_user_gives_the_totals_and_the_waste_not_every_job(tmp_path: Path) -> None:
    """M3: on a cluster, the table of runs would be every job before what was asked for."""
    store = _lab(tmp_path, [])
    result = cli("report", "--store", store, "--by", "user", "--waste", env={"COLUMNS": "160"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # One line per job, its waste; none for it in a table of every run before.
    for job, kind in (("1003", "failed job"), ("1004", "memory over-requested")):
        (line,) = [line for line in lines if job in line.split()]
        assert kind in line
    assert any(line.split()[:2] == ["dave", "1"] for line in lines if line.strip())  # totals


def test_a_cancelled_job_whose_tracker_saved_no_figures_is_listed(tmp_path: Path) -> None:
    """scancel before the tracker's first checkpoint leaves a run without figures; SLURM
    still says CANCELLED, and the job is listed (with the nothing its run recorded)."""
    tracker = replace(_tracker("b" * 32, "1002_2", "bob", status="running"), footprint=None)
    (line,) = _waste(_lab(tmp_path, [tracker]))["1002_2"]
    assert (line["kind"], line["run_id"], line["energy_kwh"]) == ("cancelled job", tracker.id, 0.0)
