"""Where a SLURM job's cgroup is, and what the job holds on this node.

A job's processes are not all descendants of the script that measures them (``srun``
steps and MPI launchers are started by ``slurmstepd``), but they all live under the job's
cgroup, whose CPU counter keeps every process's time, exited ones included. The path is
read from ``/proc/self/cgroup`` and never built from the job id: since SLURM 26.05 the v2
job directory is named by a random SLUID (``sEKNKTV3WPV500``) unless
``CgroupJobIdPaths=yes``, and tools that build ``job_<id>`` miss it. The layouts::

    v2: <root>/system.slice/[<node>_]slurmstepd.scope/<job_<id> | SLUID>/step_<n>/user/task_<k>
    v1: <root>/<controller>/slurm/uid_<uid>/job_<id>/step_<n>/task_<k>

The allocation (CPUs of the job's cpuset, its memory limit) is what the ``allocation`` idle
policy splits idle power by; where the files are missing the job's environment
(``SLURM_CPUS_ON_NODE``; ``SLURM_MEM_PER_NODE``, else ``SLURM_MEM_PER_CPU`` x CPUs) says it.
It is read even where the job has no CPU cgroup (v1 with ``jobacct_gather/linux`` leaves
``cpuacct`` at the root while ``task/cgroup`` still confines the job's memory and cores):
:func:`job_allocation`.
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple

from ..procfs import CgroupMembership, parse_cpu_list, parse_proc_cgroup
from .job import SlurmJob

_V1_JOB = re.compile(r"job_(\d+)")
_V1_UID = re.compile(r"uid_\d+")
_NO_LIMIT = 1 << 60  # v1 writes "no limit" as a number near 2^63


class Allocation(NamedTuple):
    """What the job holds on this node, and where that was read."""

    cpus: int | None
    memory_bytes: int | None
    memory_source: str  # the memory cgroup, or which SLURM_MEM_PER_* ("" when unknown)


class JobCgroup(NamedTuple):
    """The job's cgroup on this node and the allocation read from it."""

    version: int  # 1 or 2
    cpu_file: str  # cpu.stat (v2) or cpuacct.usage (v1)
    memory_file: str | None  # memory.current (v2) or memory.usage_in_bytes (v1)
    name: str  # the job directory: "job_42" or a SLUID
    cpus: int | None  # CPUs in the job's cpuset on this node
    memory_bytes: int | None  # the job's memory limit on this node


def find_job_cgroup(
    job: SlurmJob, procfs_root: str = "/proc", cgroup_root: str = "/sys/fs/cgroup"
) -> JobCgroup | None:
    """The job's cgroup as this process sees it, or None when this process is not inside
    the cgroup of ``job`` (another job's directory is never taken for ours)."""
    memberships = _memberships(procfs_root)
    unified = [m for m in memberships if m.hierarchy == 0 and not m.controllers]
    found = _v2(job, unified[0], cgroup_root) if unified else None
    return found or _v1(job, memberships, cgroup_root)


def job_allocation(
    job: SlurmJob, procfs_root: str = "/proc", cgroup_root: str = "/sys/fs/cgroup"
) -> Allocation:
    """What the job holds on this node whether or not it has a CPU cgroup: the CPUs of its
    cpuset and the limit of its memory cgroup (v1 ``memory.limit_in_bytes``, v2
    ``memory.max``) where this process is in the job's own, else SLURM's environment."""
    memberships = _memberships(procfs_root)
    by_controller = {c: m for m in memberships for c in m.controllers}
    unified = [m for m in memberships if m.hierarchy == 0 and not m.controllers]
    cpuset = memory = None
    folder = _v2_job_dir(job, unified[0], cgroup_root) if unified else None
    if folder is not None:
        cpuset = _read(folder, "cpuset.cpus.effective") or _read(folder, "cpuset.cpus")
        memory = _read(folder, "memory.max")
    if cpuset is None and (
        cpuset_dir := _v1_controller_dir(job, by_controller, "cpuset", cgroup_root)
    ):
        cpuset = _read(cpuset_dir, "cpuset.effective_cpus") or _read(cpuset_dir, "cpuset.cpus")
    if memory is None and (
        memory_dir := _v1_controller_dir(job, by_controller, "memory", cgroup_root)
    ):
        memory = _read(memory_dir, "memory.limit_in_bytes")
    cpus = _cpus(cpuset, job)
    return Allocation(cpus, _memory(memory, job, cpus), _memory_source(memory, job, cpus))


def _memberships(procfs_root: str) -> list[CgroupMembership]:
    try:
        with open(os.path.join(procfs_root, "self", "cgroup")) as fh:
            return parse_proc_cgroup(fh.read())
    except OSError:
        return []


def _belongs(job: SlurmJob, name: str) -> bool:
    """Whether the job directory ``name`` is this job's: ``job_<id>`` must carry its id; a
    SLUID must match ``SLURM_JOB_SLUID`` where SLURM exports it."""
    numbered = _V1_JOB.fullmatch(name)
    if numbered:
        return numbered.group(1) == job.raw_job_id
    return job.sluid is None or job.sluid == name


def _v2_job_dir(job: SlurmJob, membership: CgroupMembership, root: str) -> str | None:
    """The job's directory in the unified hierarchy, where this process is in it."""
    parts = [p for p in membership.path.split("/") if p]
    for i, part in enumerate(parts[:-1]):
        if part == "slurmstepd.scope" or part.endswith("_slurmstepd.scope"):
            name = parts[i + 1]
            if name == "system" or not _belongs(job, name):
                return None
            return os.path.join(root, *parts[: i + 2])
    return None


def _v2(job: SlurmJob, membership: CgroupMembership, root: str) -> JobCgroup | None:
    folder = _v2_job_dir(job, membership, root)
    if folder is None or not os.path.isfile(os.path.join(folder, "cpu.stat")):
        return None
    cpus = _cpus(_read(folder, "cpuset.cpus.effective") or _read(folder, "cpuset.cpus"), job)
    return JobCgroup(
        2,
        os.path.join(folder, "cpu.stat"),
        os.path.join(folder, "memory.current"),
        os.path.basename(folder),
        cpus,
        _memory(_read(folder, "memory.max"), job, cpus),
    )


def _v1_job_path(path: str) -> tuple[list[str], str] | None:
    """The components up to ``job_<id>`` under ``slurm*/uid_<uid>/``, and that name."""
    parts = [p for p in path.split("/") if p]
    for i in range(len(parts) - 2):
        under_uid = parts[i].startswith("slurm") and _V1_UID.fullmatch(parts[i + 1])
        if under_uid and _V1_JOB.fullmatch(parts[i + 2]):
            return parts[: i + 3], parts[i + 2]
    return None


def _v1_dir(root: str, membership: CgroupMembership, controller: str) -> str | None:
    """The job directory in the hierarchy holding ``controller`` (mounted as e.g.
    ``cpu,cpuacct``, ``cpuacct`` or a symlink to it)."""
    found = _v1_job_path(membership.path)
    if found is None:
        return None
    mounts = (",".join(sorted(membership.controllers)), ",".join(membership.controllers))
    for mount in (*mounts, controller):
        folder = os.path.join(root, mount, *found[0])
        if os.path.isdir(folder):
            return folder
    return None


def _v1(job: SlurmJob, memberships: list[CgroupMembership], root: str) -> JobCgroup | None:
    by_controller = {c: m for m in memberships for c in m.controllers}
    cpuacct = by_controller.get("cpuacct")
    found = _v1_job_path(cpuacct.path) if cpuacct else None
    if cpuacct is None or found is None or not _belongs(job, found[1]):
        return None
    folder = _v1_dir(root, cpuacct, "cpuacct")
    if folder is None or not os.path.isfile(os.path.join(folder, "cpuacct.usage")):
        return None
    memory_dir = _v1_controller_dir(job, by_controller, "memory", root)
    cpuset_dir = _v1_controller_dir(job, by_controller, "cpuset", root)
    cpuset = None
    if cpuset_dir is not None:
        cpuset = _read(cpuset_dir, "cpuset.effective_cpus") or _read(cpuset_dir, "cpuset.cpus")
    cpus = _cpus(cpuset, job)
    return JobCgroup(
        1,
        os.path.join(folder, "cpuacct.usage"),
        os.path.join(memory_dir, "memory.usage_in_bytes") if memory_dir else None,
        found[1],
        cpus,
        _memory(_read(memory_dir, "memory.limit_in_bytes") if memory_dir else None, job, cpus),
    )


def _v1_controller_dir(
    job: SlurmJob, by_controller: dict[str, CgroupMembership], controller: str, root: str
) -> str | None:
    """The job's directory in the v1 hierarchy of ``controller``, where this process is in
    the job's own group there."""
    membership = by_controller.get(controller)
    found = _v1_job_path(membership.path) if membership else None
    if membership is None or found is None or not _belongs(job, found[1]):
        return None
    return _v1_dir(root, membership, controller)


def _read(folder: str, name: str) -> str | None:
    try:
        with open(os.path.join(folder, name)) as fh:
            return fh.read().strip() or None
    except OSError:
        return None


def _cpu_count(cpuset: str | None) -> int | None:
    try:
        return parse_cpu_list(cpuset) or None if cpuset else None
    except ValueError:
        return None


def _cpus(cpuset: str | None, job: SlurmJob) -> int | None:
    return _cpu_count(cpuset) or job.cpus_on_node


def _limit(text: str | None) -> int | None:
    """A cgroup memory limit in bytes (None for v1's "no limit" or v2's ``max``)."""
    return int(text) if text and text.isdigit() and int(text) < _NO_LIMIT else None


def _memory(limit: str | None, job: SlurmJob, cpus: int | None) -> int | None:
    """The cgroup's limit, else ``--mem`` (``SLURM_MEM_PER_NODE``), else ``--mem-per-cpu``
    (``SLURM_MEM_PER_CPU``) times the job's CPUs on this node."""
    if (found := _limit(limit)) is not None:
        return found
    if job.memory_per_node_mb:
        return job.memory_per_node_mb * 2**20
    if job.memory_per_cpu_mb and cpus:
        return job.memory_per_cpu_mb * cpus * 2**20
    return None


def _memory_source(limit: str | None, job: SlurmJob, cpus: int | None) -> str:
    """Where :func:`_memory` found the job's memory."""
    if _limit(limit) is not None:
        return "the job's memory cgroup"
    if job.memory_per_node_mb:
        return "SLURM_MEM_PER_NODE"
    return "SLURM_MEM_PER_CPU x CPUs" if job.memory_per_cpu_mb and cpus else ""
