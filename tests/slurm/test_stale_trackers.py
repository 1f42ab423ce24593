"""A tracker killed before it finished its record is finished from SLURM's accounting
(issue 17, point 4: ``scancel`` of a non-``exec``'ed ``impactlib run``).

Such a tracker learns of ``scancel`` only when the batch shell dies, and slurmstepd's SIGKILL
follows within milliseconds: its record may stay ``running`` with its last checkpoint. Once
the store holds the job's accounting, whichever came first (ingest or the tracker's run), the
record reads as SLURM says the job ended, at the job's end; a finished record is never
touched, and doing it twice changes nothing.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from fakesacct import PARTITIONS, cluster_jobs
from fakesacct import as_json as sacct_json
from sample_runs import make_record, save_record

from impactlib.config import load_config
from impactlib.slurm.ingest import ingest
from impactlib.slurm.sacct import parse_json
from impactlib.store import RunRecord, Store, open_store
from impactlib.store.rollup import refresh

_JOBS = {job.job_id: job for job in parse_json(sacct_json(cluster_jobs()))}


def _tracker(run_id: str, job_id: str, status: str = "running") -> RunRecord:
    record = make_record(run_id, project="lab")
    config: dict[str, Any] = {"slurm": {"job_id": job_id, "cluster": "hpc"}}
    ended = None if status == "running" else record.ended_at
    return replace(record, status=status, ended_at=ended, config=config)


def _ingest(store: Store) -> None:
    config = load_config({"slurm_partitions": PARTITIONS, "country": "FR"})
    ingest(list(_JOBS.values()), store, config)


def _status(store: Store, run_id: str) -> tuple[str, str | None]:
    run = store.get_run(run_id)
    assert run is not None
    return str(run.status), run.ended_at


def test_ingest_finishes_a_cancelled_jobs_running_tracker(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "lab.db"))
    save_record(store, _tracker("a" * 32, "1002_2"))  # sacct: CANCELLED by 1001
    _ingest(store)
    assert _status(store, "a" * 32) == ("cancelled", _JOBS["1002_2"].end)


def test_a_tracker_run_that_arrives_after_the_ingest_is_finished_too(tmp_path: Path) -> None:
    """The sync of a node that lagged: the rollup refresh that every sync runs finishes it."""
    store = open_store(str(tmp_path / "lab.db"))
    _ingest(store)
    save_record(store, _tracker("b" * 32, "1002_2"))
    refresh(store)
    assert _status(store, "b" * 32) == ("cancelled", _JOBS["1002_2"].end)


def test_failed_and_completed_jobs_name_how_their_trackers_ended(tmp_path: Path) -> None:
    """A failed job's tracker failed with it; a tracker whose job completed while its record
    was still running was killed first (its record holds its last checkpoint)."""
    store = open_store(str(tmp_path / "lab.db"))
    save_record(store, _tracker("c" * 32, "1003"))
    save_record(store, _tracker("d" * 32, "1005"))
    _ingest(store)
    assert _status(store, "c" * 32) == ("failed", _JOBS["1003"].end)
    assert _status(store, "d" * 32) == ("killed", _JOBS["1005"].end)


def test_finished_records_and_unfinished_jobs_are_left_alone(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "lab.db"))
    done = _tracker("e" * 32, "1002_2", status="completed")
    save_record(store, done)
    save_record(store, _tracker("f" * 32, "1006"))  # sacct: RUNNING
    _ingest(store)
    _ingest(store)
    assert _status(store, "e" * 32) == ("completed", done.ended_at)
    assert _status(store, "f" * 32)[0] == "running"
