"""Fake SLURM job cgroups in ``tmp_path`` (v1, v2 with ``job_<id>``, v2 with a SLUID), and
a fake ``/proc`` whose ``self/cgroup`` puts the reading process inside the job.

Counters are written as the kernel keeps them: v2 ``cpu.stat`` in microseconds, v1
``cpuacct.usage`` in nanoseconds. Files are rewritten in place (same inode), so readers
that keep them open see each update.
"""

from __future__ import annotations

from pathlib import Path

from fakeproc import FakeProc

JOB_ID = "4242"
SLUID = "sEKNKTV3WPV500"
LAYOUTS = ("v1", "v2-job-id", "v2-sluid")


class FakeJob:
    """A job holding ``cpus`` CPUs and ``memory_bytes`` on a 8-CPU fake node."""

    def __init__(
        self, tmp_path: Path, layout: str, cpus: str = "0-3", memory_bytes: int = 4 * 2**30
    ) -> None:
        self.layout = layout
        self.proc = FakeProc(tmp_path / "proc", ncpus=8)
        self.root = tmp_path / "cgroup"
        self.cpu_s = 0.0
        self.memory = 123 * 2**20
        name = SLUID if layout == "v2-sluid" else f"job_{JOB_ID}"
        inner = "step_0/user/task_0" if layout != "v1" else "step_0/task_0"
        if layout == "v1":
            rel = f"slurm/uid_1000/job_{JOB_ID}"
            self.cpu_file = self.root / "cpu,cpuacct" / rel / "cpuacct.usage"
            self.memory_file = self.root / "memory" / rel / "memory.usage_in_bytes"
            (self.root / "cpuset" / rel).mkdir(parents=True)
            (self.root / "cpuset" / rel / "cpuset.cpus").write_text(f"{cpus}\n")
            self.memory_file.parent.mkdir(parents=True)
            (self.memory_file.parent / "memory.limit_in_bytes").write_text(f"{memory_bytes}\n")
            lines = [
                f"12:cpuset:/{rel}/{inner}",
                f"5:cpu,cpuacct:/{rel}/{inner}",
                f"9:memory:/{rel}/{inner}",
                "1:name=systemd:/system.slice/slurmd.service",
            ]
        else:
            rel = f"system.slice/slurmstepd.scope/{name}"
            folder = self.root / rel
            self.cpu_file = folder / "cpu.stat"
            self.memory_file = folder / "memory.current"
            folder.mkdir(parents=True)
            (folder / "cpuset.cpus.effective").write_text(f"{cpus}\n")
            (folder / "memory.max").write_text(f"{memory_bytes}\n")
            (self.root / "system.slice/slurmstepd.scope/system").mkdir()
            lines = [f"0::/{rel}/{inner}"]
        self.cpu_file.parent.mkdir(parents=True, exist_ok=True)
        (self.cpu_file.parent / inner).mkdir(parents=True)
        (self.cpu_file.parent / inner / "cgroup.procs").write_text("777\n778\n")
        (self.proc.root / "self").mkdir()
        (self.proc.root / "self" / "cgroup").write_text("\n".join(lines) + "\n")
        self.job_cpu(0.0)

    def job_cpu(self, seconds: float) -> None:
        """Let the job's processes use ``seconds`` more CPU time (and the machine with it)."""
        self.cpu_s += seconds
        if seconds:
            self.proc.advance(max(seconds / 8, 1.0), {}, seconds)
        if self.layout == "v1":
            self.cpu_file.write_text(f"{round(self.cpu_s * 1e9)}\n")
        else:
            usec = round(self.cpu_s * 1e6)
            self.cpu_file.write_text(
                f"usage_usec {usec}\nuser_usec {usec}\nsystem_usec 0\nnr_periods 0\n"
            )
        self.memory_file.write_text(f"{self.memory}\n")

    def environ(self) -> dict[str, str]:
        """What SLURM exports to a task of this job."""
        env = {
            "SLURM_JOB_ID": JOB_ID,
            "SLURM_STEP_ID": "0",
            "SLURM_JOB_ACCOUNT": "vision",
            "SLURM_JOB_PARTITION": "gpu",
            "SLURM_CLUSTER_NAME": "hpc",
            "SLURMD_NODENAME": "node07",
            "SLURM_CPUS_ON_NODE": "4",
            "SLURM_MEM_PER_NODE": "4096",
            "SLURM_JOB_GPUS": "1,3",
            "SLURM_ARRAY_JOB_ID": "4240",
            "SLURM_ARRAY_TASK_ID": "2",
        }
        if self.layout == "v2-sluid":
            env["SLURM_JOB_SLUID"] = SLUID
        return env
