"""A tracker inside a SLURM job: the job's cgroup as its scope, the allocation as its idle policy.

The tracker knows nothing of SLURM: the faces that create trackers (``impactlib.init()``,
``impactlib run``) hand it :func:`place` as its :data:`~impactlib.attribution.scope.Placer`,
which answers, where the process runs in a job:

* the idle policy ``allocation``, unless the user chose one: a job holds its allocation
  whether it uses it or not, so that is what idle power is split by;
* the job's account as the project, unless the user chose one (or ``slurm_project =
  "default"``): the project ``impactlib slurm ingest`` files the job under;
* the job's cgroup on this node as the scope, where one is found and the user chose neither
  a scope nor another process's tree: it holds every process of the job (``srun`` steps,
  MPI ranks), descendants of the tracker or not;
* where the job has no CPU cgroup (v1 with ``jobacct_gather/linux``), the tracker's own
  process tree, holding what the job holds (its cpuset, its memory cgroup's limit or
  ``SLURM_MEM_PER_*``), with a note in the record saying so: never a silent fallback;
* what the record says about the job (``config["slurm"]``): its identity and, when measured
  by its cgroup, which one and what the job held.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..attribution.scope import (
    CgroupScope,
    MachineScope,
    PendingTreeScope,
    Placement,
    Scope,
    TreeScope,
)
from ..config import Config
from .cgroup import find_job_cgroup, job_allocation
from .job import SlurmJob, detect


def place(
    config: Config, scope: Scope, own_tree: bool, environ: Mapping[str, str] | None = None
) -> Placement | None:
    """The tracker's settings and scope inside the SLURM job this process runs in (None
    outside a job). ``own_tree``: the tracker measures its own process tree, not one it was
    given, so the job's cgroup may stand for it."""
    job = detect(os.environ if environ is None else environ)
    if job is None:
        return None
    if config.sources.get("idle_policy", "default") == "default":
        sources = {**config.sources, "idle_policy": "default under SLURM (the job's allocation)"}
        config = replace(config, idle_policy="allocation", sources=sources)
    config = _project(config, job)
    if own_tree and isinstance(scope, TreeScope | PendingTreeScope):
        scope, note = _job_scope(scope, config, job)
        if note:
            config = replace(config, problems=(*config.problems, note))
    return Placement(config, scope, {"slurm": _details(job, scope)})


def _project(config: Config, job: SlurmJob) -> Config:
    """The job's account as the project, where none was set and ``slurm_project`` is
    ``account``: ingested jobs are filed under their account, and one account's work must
    not be split between it and ``default`` by whether a tracker measured it."""
    chosen = config.sources.get("project", "default") != "default"
    if chosen or config.slurm_project != "account" or not job.account:
        return config
    sources = {**config.sources, "project": "default under SLURM (the job's account)"}
    return replace(config, project=job.account, sources=sources)


def _job_scope(
    scope: TreeScope | PendingTreeScope, config: Config, job: SlurmJob
) -> tuple[Scope, str | None]:
    """The job's cgroup where the user left the scope to us and one is found; else the
    tree, holding the job's allocation, and (when the cgroup was looked for) why."""
    chosen = config.sources.get("scope", "default") != "default"
    found = None if chosen else find_job_cgroup(job, config.procfs_root, config.cgroup_root)
    if found is not None:
        return CgroupScope(
            found.cpu_file, found.version, found.memory_file, found.cpus, found.memory_bytes
        ), None
    held = job_allocation(job, config.procfs_root, config.cgroup_root)
    scope = replace(scope, cpus=held.cpus, memory_bytes=held.memory_bytes)
    if chosen:
        return scope, None
    memory = (
        f"{held.memory_bytes / 2**30:.1f} GiB from {held.memory_source}"
        if held.memory_bytes
        else "memory unknown: split by resident memory"
    )
    return scope, (
        f"SLURM job {job.job_id}: no CPU cgroup of the job found in /proc/self/cgroup "
        "(jobacct_gather/linux puts jobs in no cpuacct cgroup), so this process tree is "
        "measured: srun steps and ranks it did not start are not counted; idle power is "
        f"split by the job's allocation ({held.cpus or '?'} CPUs, {memory})"
    )


def _details(job: SlurmJob, scope: Scope) -> dict[str, Any]:
    details: dict[str, Any] = job.to_dict()
    if isinstance(scope, CgroupScope):
        details["cgroup"] = {
            "cpu_file": scope.cpu_file,
            "version": scope.version,
            "cpus": scope.cpus,
            "memory_bytes": scope.memory_bytes,
        }
    elif not isinstance(scope, MachineScope) and (scope.cpus or scope.memory_bytes):
        details["allocation"] = {"cpus": scope.cpus, "memory_bytes": scope.memory_bytes}
    return details
