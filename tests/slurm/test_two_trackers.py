"""Two trackers in one job on one node count the job once (issue 17).

Each would measure the job's cgroup, which holds the other's processes too (a second
``impactlib run`` in the batch script, ``impactlib.init()`` in a script that ``impactlib
run`` started, a tracker in an ``srun`` step): the first to start measures the job on this
node, the others follow it and record nothing. One after the other, each measures its own
time, and both are kept.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fakejob import FakeJob

import impactlib
from impactlib.store import open_store


@pytest.fixture
def job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeJob:
    """A job whose cgroup the trackers find; its node's lock directory in ``tmp_path``."""
    job = FakeJob(tmp_path, "v1")
    for name, value in job.environ().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    return job


def _tracker(job: FakeJob, tmp_path: Path) -> impactlib.Tracker:
    return impactlib.init(
        procfs_root=str(job.proc.root),
        cgroup_root=str(job.root),
        powercap_root=str(tmp_path / "no-rapl"),
        country="FR",
        interval=0.05,
        store=str(tmp_path / "store.db"),
    )


def test_the_second_tracker_of_a_job_follows_the_first(job: FakeJob, tmp_path: Path) -> None:
    first = _tracker(job, tmp_path).start()
    second = _tracker(job, tmp_path).start()
    job.job_cpu(4.0)
    second_fp = second.stop()
    first_fp = first.stop()
    assert first_fp is not None and second_fp is not None
    assert first_fp.charged_to == "cgroup"
    assert second_fp.charged_to == "follower" and second_fp.energy_j == 0.0
    (record,) = open_store(str(tmp_path / "store.db")).list_runs()
    assert record.id == first.run_id


def test_trackers_one_after_the_other_both_measure(job: FakeJob, tmp_path: Path) -> None:
    for _ in range(2):
        tracker = _tracker(job, tmp_path).start()
        job.job_cpu(1.0)
        tracker.stop()
    runs = open_store(str(tmp_path / "store.db")).list_runs()
    assert [r.footprint.charged_to for r in runs if r.footprint] == ["cgroup", "cgroup"]
