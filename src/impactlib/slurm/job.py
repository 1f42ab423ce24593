"""The SLURM job a process runs in, from the environment SLURM gives it.

``srun`` and ``sbatch`` export the job's identity to every task (``SLURM_JOB_ID``,
``SLURM_STEP_ID``, ``SLURM_ARRAY_JOB_ID``/``SLURM_ARRAY_TASK_ID``, ``SLURM_JOB_ACCOUNT``,
``SLURM_JOB_PARTITION``, ``SLURMD_NODENAME``...). They are recorded with the run so that
``impactlib slurm ingest`` later knows that this job was measured, and is not estimated a
second time. GPU ids come from ``SLURM_STEP_GPUS``/``SLURM_JOB_GPUS``: they are the node's
global ids, unlike ``CUDA_VISIBLE_DEVICES``, which inside a job counts from 0 within the
job's device cgroup.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple


class SlurmJob(NamedTuple):
    """Identity of the job (and step) this process belongs to."""

    job_id: str  # the job as sacct lists it: "123", or "100_7" for an array task
    raw_job_id: str  # SLURM_JOB_ID itself (an array task has its own)
    step: str | None
    array_job_id: str | None
    array_task_id: str | None
    account: str | None
    partition: str | None
    cluster: str | None
    node: str | None
    gpus: tuple[str, ...]  # global GPU ids on this node (SLURM_STEP_GPUS or SLURM_JOB_GPUS)
    cpus_on_node: int | None
    memory_per_node_mb: int | None  # SLURM_MEM_PER_NODE (--mem)
    memory_per_cpu_mb: int | None  # SLURM_MEM_PER_CPU (--mem-per-cpu, or DefMemPerCPU)
    sluid: str | None

    def to_dict(self) -> dict[str, Any]:
        """The ``config["slurm"]`` part of a run record."""
        return dict(self._asdict(), gpus=list(self.gpus))


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def detect(environ: Mapping[str, str]) -> SlurmJob | None:
    """The job of a process with environment ``environ``, or None outside SLURM."""
    raw = environ.get("SLURM_JOB_ID") or environ.get("SLURM_JOBID")
    if not raw:
        return None
    array_job = environ.get("SLURM_ARRAY_JOB_ID") or None
    array_task = environ.get("SLURM_ARRAY_TASK_ID") or None
    job_id = f"{array_job}_{array_task}" if array_job and array_task else raw
    gpus = environ.get("SLURM_STEP_GPUS") or environ.get("SLURM_JOB_GPUS") or ""
    return SlurmJob(
        job_id=job_id,
        raw_job_id=raw,
        step=environ.get("SLURM_STEP_ID") or None,
        array_job_id=array_job,
        array_task_id=array_task,
        account=environ.get("SLURM_JOB_ACCOUNT") or None,
        partition=environ.get("SLURM_JOB_PARTITION") or None,
        cluster=environ.get("SLURM_CLUSTER_NAME") or None,
        node=environ.get("SLURMD_NODENAME") or environ.get("SLURM_TOPOLOGY_ADDR") or None,
        gpus=tuple(g.strip() for g in gpus.split(",") if g.strip()),
        cpus_on_node=_int(environ.get("SLURM_CPUS_ON_NODE")),
        memory_per_node_mb=_int(environ.get("SLURM_MEM_PER_NODE")),
        memory_per_cpu_mb=_int(environ.get("SLURM_MEM_PER_CPU")),
        sluid=environ.get("SLURM_JOB_SLUID") or None,
    )
