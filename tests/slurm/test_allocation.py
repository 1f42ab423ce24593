"""What a job holds, where it has no CPU cgroup (v1 with ``jobacct_gather/linux``: SLURM
puts the job in memory and cpuset cgroups of its own, but leaves ``cpuacct`` at the root).

The tracker then measures its process tree, and must still charge the job's allocation
(not its resident memory) and say in the record why it did not measure the job's cgroup.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fakejob import FakeJob

import impactlib
from impactlib.slurm.cgroup import find_job_cgroup, job_allocation
from impactlib.slurm.job import detect
from impactlib.store import open_store
from impactlib.units import MEMORY_W_PER_GB

LINUX_GATHER = "5:cpu,cpuacct:/\n"  # what /proc/self/cgroup says of cpuacct there


def _linux_gather(fake: FakeJob) -> None:
    """The v1 job as ``jobacct_gather/linux`` leaves it: no cpuacct group of its own."""
    cgroup = fake.proc.root / "self" / "cgroup"
    lines = [line for line in cgroup.read_text().splitlines() if "cpuacct" not in line]
    cgroup.write_text("\n".join(lines) + "\n" + LINUX_GATHER)


def test_without_a_cpu_cgroup_the_memory_and_cpuset_cgroups_say_what_the_job_holds(
    tmp_path: Path,
) -> None:
    fake = FakeJob(tmp_path, "v1", cpus="0-1,4", memory_bytes=2 * 2**30)
    _linux_gather(fake)
    env = {**fake.environ(), "SLURM_MEM_PER_NODE": ""}
    job = detect(env)
    assert job is not None
    assert find_job_cgroup(job, str(fake.proc.root), str(fake.root)) is None
    held = job_allocation(job, str(fake.proc.root), str(fake.root))
    assert (held.cpus, held.memory_bytes) == (3, 2 * 2**30)
    assert held.memory_source == "the job's memory cgroup"


@pytest.mark.parametrize(
    ("variables", "expected_mib", "source"),
    [
        ({"SLURM_MEM_PER_NODE": "3000"}, 3000, "SLURM_MEM_PER_NODE"),
        ({"SLURM_MEM_PER_NODE": "", "SLURM_MEM_PER_CPU": "1000"}, 4000, "SLURM_MEM_PER_CPU x CPUs"),
    ],
)
def test_without_memory_cgroup_slurm_s_environment_says_it(
    tmp_path: Path, variables: dict[str, str], expected_mib: int, source: str
) -> None:
    """``--mem`` (per node) or ``--mem-per-cpu`` (and SLURM's DefMemPerCPU) times the job's
    CPUs on the node (SLURM_CPUS_ON_NODE=4 here)."""
    fake = FakeJob(tmp_path, "v1")
    (fake.proc.root / "self" / "cgroup").write_text("1:name=systemd:/\n")
    job = detect({**fake.environ(), **variables})
    assert job is not None
    held = job_allocation(job, str(fake.proc.root), str(fake.root))
    assert (held.cpus, held.memory_bytes, held.memory_source) == (4, expected_mib * 2**20, source)


def test_a_tracker_without_the_job_s_cpu_cgroup_charges_the_allocation_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeJob(tmp_path, "v1", memory_bytes=2 * 2**30)
    _linux_gather(fake)
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
    fake.job_cpu(2.0)
    time.sleep(0.3)
    fake.job_cpu(2.0)
    time.sleep(0.3)
    fp = tracker.stop()
    assert fp is not None
    record = open_store(impactlib.load_config({})).get_run(tracker.run_id)
    assert record is not None and record.footprint is not None
    fp = record.footprint
    assert fp.charged_to == "tree"
    assert record.config["slurm"]["allocation"] == {"cpus": 4, "memory_bytes": 2 * 2**30}
    (note,) = [w for w in fp.warnings if "cgroup" in w]
    assert "4240_2" in note and "jobacct_gather/linux" in note and "allocation" in note
    memory_j = sum(c.energy_j for c in fp.components if c.component == "memory")
    expected = MEMORY_W_PER_GB * 2 * 2**30 / 1e9 * fp.duration_s
    assert memory_j == pytest.approx(expected, rel=0.05)  # the allocation, not the tree's RSS
