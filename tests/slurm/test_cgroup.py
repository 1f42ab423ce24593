"""The job's cgroup found from /proc/self/cgroup (v1, v2 job_<id>, v2 SLUID), and a tracker
started inside a job: job id recorded, allocation policy, the job's CPU time from the cgroup."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fakejob import JOB_ID, LAYOUTS, SLUID, FakeJob

import impactlib
from impactlib.slurm.cgroup import find_job_cgroup
from impactlib.slurm.job import detect
from impactlib.store import open_store


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_job_cgroup_and_allocation_are_found_in_every_layout(
    tmp_path: Path, layout: str
) -> None:
    fake = FakeJob(tmp_path, layout, cpus="0-1,4,6", memory_bytes=3 * 2**30)
    job = detect(fake.environ())
    assert job is not None
    found = find_job_cgroup(job, str(fake.proc.root), str(fake.root))
    assert found is not None
    assert found.cpu_file == str(fake.cpu_file)
    assert found.memory_file == str(fake.memory_file)
    assert found.name == (SLUID if layout == "v2-sluid" else f"job_{JOB_ID}")
    assert (found.version, found.cpus, found.memory_bytes) == (
        1 if layout == "v1" else 2,
        4,
        3 * 2**30,
    )


@pytest.mark.parametrize("layout", LAYOUTS)
def test_another_jobs_cgroup_is_never_taken_for_ours(tmp_path: Path, layout: str) -> None:
    fake = FakeJob(tmp_path, layout)
    env = {**fake.environ(), "SLURM_JOB_ID": "99", "SLURM_JOB_SLUID": "sOTHERJOB00000"}
    job = detect(env)
    assert job is not None
    assert find_job_cgroup(job, str(fake.proc.root), str(fake.root)) is None


def test_outside_a_job_cgroup_there_is_none(tmp_path: Path) -> None:
    fake = FakeJob(tmp_path, "v2-job-id")
    (fake.proc.root / "self" / "cgroup").write_text("0::/user.slice/user-1000.slice\n")
    job = detect(fake.environ())
    assert job is not None
    assert find_job_cgroup(job, str(fake.proc.root), str(fake.root)) is None


def test_allocation_falls_back_to_the_job_environment(tmp_path: Path) -> None:
    fake = FakeJob(tmp_path, "v2-job-id")
    folder = fake.cpu_file.parent
    (folder / "cpuset.cpus.effective").unlink()
    (folder / "memory.max").write_text("max\n")
    job = detect(fake.environ())
    assert job is not None
    found = find_job_cgroup(job, str(fake.proc.root), str(fake.root))
    assert found is not None and (found.cpus, found.memory_bytes) == (4, 4096 * 2**20)


def _until(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.02)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_tracker_in_a_job_measures_the_jobs_cgroup(
    tmp_path: Path, layout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeJob(tmp_path, layout)
    for name, value in fake.environ().items():
        monkeypatch.setenv(name, value)
    tracker = impactlib.init(
        procfs_root=str(fake.proc.root),
        cgroup_root=str(fake.root),
        powercap_root=str(tmp_path / "no-rapl"),
        country="FR",
        interval=0.05,
        save_interval=0.1,
    )
    tracker.start()
    # Processes of the job that are not descendants of this one (srun steps) use 12.5 s.
    fake.job_cpu(12.5)
    time.sleep(0.3)
    fp = tracker.stop()
    assert fp is not None
    record = open_store(impactlib.load_config({})).get_run(tracker.run_id)
    assert record is not None and record.footprint is not None
    slurm = record.config["slurm"]
    assert (slurm["job_id"], slurm["raw_job_id"], slurm["step"]) == ("4240_2", JOB_ID, "0")
    assert (slurm["account"], slurm["partition"], slurm["node"]) == ("vision", "gpu", "node07")
    assert (slurm["array_job_id"], slurm["array_task_id"], slurm["gpus"]) == (
        "4240",
        "2",
        ["1", "3"],
    )
    assert slurm["cgroup"]["cpu_file"] == str(fake.cpu_file)
    assert slurm["cgroup"]["cpus"] == 4
    assert record.footprint.idle_policy == "allocation"
    assert record.config["sources"]["idle_policy"].startswith("default under SLURM")
    assert record.footprint.charged_to == "cgroup"
    assert record.footprint.cpu_hours * 3600 == pytest.approx(12.5)
    assert record.footprint.peak_memory_bytes == fake.memory


def test_a_chosen_idle_policy_and_scope_are_kept_in_a_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeJob(tmp_path, "v2-job-id")
    for name, value in fake.environ().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("IMPACTLIB_IDLE_POLICY", "usage")
    tracker = impactlib.init(
        procfs_root=str(fake.proc.root),
        cgroup_root=str(fake.root),
        powercap_root=str(tmp_path / "no-rapl"),
        country="FR",
        scope="tree",
    )
    assert tracker.config.idle_policy == "usage"
    assert tracker.scope.charged_to == "tree"
    assert tracker.placement is not None
    assert tracker.placement.record["slurm"]["job_id"] == "4240_2"
