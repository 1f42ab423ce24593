"""Waste: energy spent on work that produced nothing, or on resources held but not used.

Three kinds, each a line a lab can act on (``impactlib report --waste``):

* **failed / cancelled / timed-out jobs**: their whole energy, and nothing else of theirs,
  so that no joule is counted twice. The job's state is SLURM's (its accounting, ingested),
  whether or not a tracker measured it; a tracked run without accounting counts by its own
  status (an exception: failed; ``scancel``: cancelled);
* **memory over-requested**: a SLURM job that asked for more than twice its peak resident
  memory (and at least 1 GiB more); the energy is what the unused gigabytes draw by the
  Green Algorithms memory power, held for the job's duration. SLURM's default memory per
  CPU or node is no request (the accounting's reader leaves it out of ``req_memory_bytes``);
  a tracked run without accounting has the request it recorded from inside the job
  (``SLURM_MEM_PER_*``), and its own peak;
* **idle GPUs**: GPUs a job held but did not use, where SLURM gathered ``gres/gpuutil``
  (percent summed over the job's GPUs); the energy is the job's GPU energy times the idle
  fraction, and the idle GPU-hours are given either way.

A tracked job's energy is its tracker's (the run that stands for the job); what SLURM knows
of it comes from its superseded accounting record (:mod:`impactlib.store.slurmjobs`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from ..store import RunRecord
from ..store.slurmjobs import JobKey, slurm_of, tracked_job
from ..units import J_PER_KWH, MEMORY_W_PER_GB, S_PER_H

MEMORY_FACTOR = 2.0  # "far above": requested more than twice the peak
MEMORY_MARGIN_BYTES = 2**30
_KINDS = {
    "FAILED": "failed job",
    "OUT_OF_MEMORY": "failed job (out of memory)",
    "NODE_FAIL": "failed job (node failure)",
    "BOOT_FAIL": "failed job (boot failure)",
    "CANCELLED": "cancelled job",
    "TIMEOUT": "timed-out job",
    "DEADLINE": "job past its deadline",
    "PREEMPTED": "preempted job",
}
# A tracked run's own status, where no accounting says how its job ended: a failed run
# anywhere; inside a SLURM job, one stopped before its end (scancel, a time limit, SIGKILL).
_RUN_KINDS = {
    "failed": "failed run",
    "cancelled": "cancelled run",
    "interrupted": "interrupted run",
    "killed": "killed run",
}


class WasteLine(NamedTuple):
    """One wasteful run, by the group it is reported under (user or project)."""

    group: str
    run_id: str
    job: str  # the SLURM job id, or "" for a run outside SLURM
    kind: str
    energy_j: float  # before PUE
    pue: float
    detail: str

    @property
    def energy_with_pue_j(self) -> float:
        """The wasted energy as reports show energy: PUE included."""
        return self.energy_j * self.pue


class _Job(NamedTuple):
    """What a run's waste is judged by: the run's energy, SLURM's view of its job."""

    record: RunRecord
    slurm: Mapping[str, Any]  # the accounting's config["slurm"], else the run's own
    group: str

    @property
    def job(self) -> str:
        return str(self.slurm.get("job_id") or "")

    def line(self, kind: str, energy_j: float, detail: str) -> WasteLine:
        pue = self.record.footprint.pue if self.record.footprint is not None else 1.0
        return WasteLine(self.group, self.record.id, self.job, kind, energy_j, pue, detail)


def _judged(record: RunRecord, by: str, accounting: Mapping[JobKey, RunRecord]) -> _Job:
    key = tracked_job(record.config)
    found = accounting.get(key) if key is not None else None
    if found is None and key is not None and not key.cluster:
        found = next((r for k, r in accounting.items() if k.job_id == key.job_id), None)
    slurm = slurm_of(found.config if found is not None else record.config)
    return _Job(record, slurm, str(getattr(record, by)))


def _failure(job: _Job) -> WasteLine | None:
    fp = job.record.footprint
    state = str(job.slurm.get("state") or "")
    kind = _KINDS.get(state)
    detail = state
    status = str(job.record.status)
    if kind is None and (status == "failed" or (job.job and not state)):
        # a run that raised, in a job that went on; or no accounting: the run's own status
        kind, detail = _RUN_KINDS.get(status), status
    if kind is None:
        return None
    if fp is None:  # a tracker killed before its first checkpoint: the job is listed all the same
        return job.line(kind, 0.0, f"{detail}; its run recorded no figures")
    return job.line(kind, fp.energy_j, detail)


def _requested(job: _Job) -> int | None:
    """The memory the job asked for: the accounting's, else what the tracker recorded."""
    if "req_memory_bytes" in job.slurm:  # the accounting's (None: SLURM's default)
        value = job.slurm.get("req_memory_bytes")
    else:
        cgroup = job.slurm.get("cgroup")
        inside = cgroup.get("memory_bytes") if isinstance(cgroup, dict) else None
        value = job.slurm.get("memory_bytes") or inside
    return int(value) if value else None


def _peak(job: _Job) -> int | None:
    value = job.slurm.get("max_rss_bytes")
    fp = job.record.footprint
    if not value and fp is not None:
        value = fp.peak_memory_bytes
    return int(value) if value else None


def _memory(job: _Job) -> WasteLine | None:
    fp, requested, peak = job.record.footprint, _requested(job), _peak(job)
    if fp is None or not requested or not peak:
        return None
    unused = requested - peak
    if requested <= MEMORY_FACTOR * peak or unused < MEMORY_MARGIN_BYTES:
        return None
    joules = unused / 1e9 * MEMORY_W_PER_GB * fp.duration_s
    detail = f"requested {requested / 2**30:.1f} GiB, peak {peak / 2**30:.1f} GiB"
    return job.line("memory over-requested", joules, detail)


def _gpus(job: _Job) -> WasteLine | None:
    fp = job.record.footprint
    gpus, util = job.slurm.get("alloc_gpus") or 0, job.slurm.get("gpu_util_pct")
    if fp is None or not gpus or util is None:
        return None
    idle = max(gpus - util / 100.0, 0.0)
    if idle <= 0:
        return None
    gpu_j = sum(c.energy_j for c in fp.components if c.component == "gpu")
    idle_hours = idle * fp.duration_s / S_PER_H
    detail = f"{idle:.2g} of {gpus} GPUs idle on average: {idle_hours:.3g} GPU-h"
    return job.line("idle GPUs", gpu_j * idle / gpus, detail)


def waste_lines(
    records: Iterable[RunRecord],
    by: str = "user",
    accounting: Mapping[JobKey, RunRecord] | None = None,
) -> list[WasteLine]:
    """Every waste line of ``records``, grouped under ``record.<by>`` (user or project);
    ``accounting``: the SLURM accounting records of the jobs, by job (superseded ones
    included: :func:`impactlib.store.slurmjobs.accounting_of`)."""
    out = []
    for record in records:
        job = _judged(record, by, accounting or {})
        failed = _failure(job)
        if failed is not None:  # all of its energy is waste: no part of it counts twice
            out.append(failed)
            continue
        out += [w for w in (_memory(job), _gpus(job)) if w is not None]
    return sorted(out, key=lambda w: (w.group, w.kind, w.job, w.run_id))


def waste_json(lines: Sequence[WasteLine]) -> list[dict[str, Any]]:
    """The JSON shape of ``impactlib report --waste --format json``."""
    return [{**line._asdict(), "energy_kwh": line.energy_with_pue_j / J_PER_KWH} for line in lines]
