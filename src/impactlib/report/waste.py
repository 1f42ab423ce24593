"""Waste: energy spent on work that produced nothing, or on resources held but not used.

Three kinds, each a line a lab can act on (``impactlib report --waste``):

* **failed / cancelled / timed-out jobs**: their whole energy (a SLURM job's state from the
  accounting; a tracked run that ended with an exception counts as failed), and nothing
  else of theirs, so that no joule is counted twice;
* **memory over-requested**: a SLURM job that asked for more than twice its peak resident
  memory (and at least 1 GiB more); the energy is what the unused gigabytes draw by the
  Green Algorithms memory power, held for the job's duration;
* **idle GPUs**: GPUs a job held but did not use, where SLURM gathered ``gres/gpuutil``
  (percent summed over the job's GPUs); the energy is the job's GPU energy times the idle
  fraction, and the idle GPU-hours are given either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from ..store import RunRecord
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


def _slurm(record: RunRecord) -> dict[str, Any]:
    value = record.config.get("slurm")
    return value if isinstance(value, dict) else {}


def _failure(record: RunRecord, group: str) -> WasteLine | None:
    fp = record.footprint
    state = str(_slurm(record).get("state") or "")
    kind = _KINDS.get(state)
    if kind is None and record.status == "failed":
        kind = "failed run"
    if kind is None or fp is None:
        return None
    return WasteLine(group, record.id, _job(record), kind, fp.energy_j, fp.pue, state or "failed")


def _job(record: RunRecord) -> str:
    return str(_slurm(record).get("job_id") or "")


def _memory(record: RunRecord, group: str) -> WasteLine | None:
    slurm, fp = _slurm(record), record.footprint
    requested, peak = slurm.get("req_memory_bytes"), slurm.get("max_rss_bytes")
    if fp is None or not requested or not peak:
        return None
    unused = requested - peak
    if requested <= MEMORY_FACTOR * peak or unused < MEMORY_MARGIN_BYTES:
        return None
    joules = unused / 1e9 * MEMORY_W_PER_GB * fp.duration_s
    detail = f"requested {requested / 2**30:.1f} GiB, peak {peak / 2**30:.1f} GiB"
    return WasteLine(
        group, record.id, _job(record), "memory over-requested", joules, fp.pue, detail
    )


def _gpus(record: RunRecord, group: str) -> WasteLine | None:
    slurm, fp = _slurm(record), record.footprint
    gpus, util = slurm.get("alloc_gpus") or 0, slurm.get("gpu_util_pct")
    if fp is None or not gpus or util is None:
        return None
    idle = max(gpus - util / 100.0, 0.0)
    if idle <= 0:
        return None
    gpu_j = sum(c.energy_j for c in fp.components if c.component == "gpu")
    idle_hours = idle * fp.duration_s / S_PER_H
    detail = f"{idle:.2g} of {gpus} GPUs idle on average: {idle_hours:.3g} GPU-h"
    joules = gpu_j * idle / gpus
    return WasteLine(group, record.id, _job(record), "idle GPUs", joules, fp.pue, detail)


def waste_lines(records: Iterable[RunRecord], by: str = "user") -> list[WasteLine]:
    """Every waste line of ``records``, grouped under ``record.<by>`` (user or project)."""
    out = []
    for record in records:
        group = str(getattr(record, by))
        failed = _failure(record, group)
        if failed is not None:  # all of its energy is waste: no part of it counts twice
            out.append(failed)
            continue
        out += [w for w in (_memory(record, group), _gpus(record, group)) if w is not None]
    return sorted(out, key=lambda w: (w.group, w.kind, w.job, w.run_id))


def waste_json(lines: Sequence[WasteLine]) -> list[dict[str, Any]]:
    """The JSON shape of ``impactlib report --waste --format json``."""
    return [{**line._asdict(), "energy_kwh": line.energy_with_pue_j / J_PER_KWH} for line in lines]
