"""One record per SLURM job, whatever the order in which its records reach a store.

A job can have two kinds of record: the runs of trackers inside it (``impactlib run``,
``impactlib.init()``; their ``config["slurm"]`` names the job) and the record
``impactlib slurm ingest`` makes of its accounting (``config["slurm"]["source"] == "sacct"``,
id :func:`job_run_id`). The tracker measured the job from inside, so its run stands for the
job and the accounting record is *superseded*: it is kept, marked
``config["slurm"]["superseded_by"]`` with a tracker run's id, and every report leaves it out
(:func:`standing` for lists of runs; the rollups give it no month, so lab totals leave it
out too). It is kept rather than deleted for two reasons: SLURM's own view of the job
(state, memory requested, peak) is what the waste report reads for tracked jobs
(:func:`accounting_of`), and the estimate counts again if the tracker's run goes away.

The mark is set whoever comes second, so the order does not matter:

- ingest after the tracker's run is stored: the record is written already marked;
- the tracker's run after the ingest (a sync, a tracker writing to the lab's store itself,
  an import): the next rollup refresh marks it (:func:`mark_superseded`, from
  :func:`impactlib.store.rollup.refresh`, which ``sync`` and every lab report run), and a
  list of runs folds it at once (:func:`standing`);
- ingest again: each job's mark is set or cleared by what the store holds then, so an
  estimate whose tracker run was deleted counts again.

Trackers that do not know the cluster (``SLURM_CLUSTER_NAME`` unset) are matched by job id
alone, by ingest and by lists of runs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from .._time import iso_utc, now_utc
from ..footprint import Status

if TYPE_CHECKING:
    from .records import RunRecord


class Store(Protocol):
    """The two primitives of :class:`impactlib.store.base.Store` this module uses (named
    here rather than imported: the store's ``list_runs`` uses :func:`standing`)."""

    def read(self, sql: str, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        """The rows of one read-only query."""

    def write(
        self, statements: Iterable[tuple[str, Mapping[str, Any] | Sequence[Mapping[str, Any]]]]
    ) -> None:
        """Run ``(sql, params)`` pairs in one write transaction."""


ACCOUNTING = "sacct"  # config["slurm"]["source"] of a record made from SLURM's accounting
SUPERSEDED_BY = "superseded_by"
# How a marked record's stored config reads, for SQL (the rollups skip marked records).
MARKED_LIKE = f'%"{SUPERSEDED_BY}": "%'

_SELECT_CONFIGS = "SELECT id, config FROM runs WHERE id IN ({ids})"
# The tracker runs among some ids: an ingest's own accounting records (whose configs hold the
# whole of sacct's job) are not read back only to be found not to be trackers.
_ACCOUNTING_LIKE = f'%"source": "{ACCOUNTING}"%'
_SELECT_TRACKER_CONFIGS = _SELECT_CONFIGS + " AND config NOT LIKE :accounting"
_JOB_LIKE = '%"job_id": %'  # how the config of a record of a SLURM job reads
_SELECT_JOB_CONFIGS = "SELECT id, config FROM runs WHERE config LIKE :job"
_MARK = "UPDATE runs SET config = :config, updated_at = :updated_at WHERE id = :id"
_FINISH_STALE = (
    "UPDATE runs SET status = :status, ended_at = :ended_at, updated_at = :updated_at "
    "WHERE id = :id AND status = 'running'"
)
FAILED_STATES = ("FAILED", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL")
STOPPED_STATES = ("CANCELLED", "TIMEOUT", "DEADLINE", "PREEMPTED")


def run_status(state: str) -> Status:
    """The record status of a SLURM state (the state itself is kept in the record)."""
    if state == "COMPLETED":
        return Status.COMPLETED
    if state in FAILED_STATES:
        return Status.FAILED
    if state in STOPPED_STATES:
        return Status.CANCELLED  # as a tracker inside the job says it: scancel, time limit...
    return Status.INTERRUPTED  # any other end sacct may name (REQUEUED, SUSPENDED...)


class StaleTracker(NamedTuple):
    """A tracker's run still ``running`` in a store although SLURM says its job ended."""

    run_id: str
    state: str  # the job's SLURM state
    ended_at: str | None  # the job's end (ISO 8601 UTC)


def finish_stale_trackers(store: Store, stale: Sequence[StaleTracker]) -> None:
    """Finish the runs of trackers killed before they could finish their records, as SLURM
    says the job ended, at its end time.

    A tracker that is a line of a batch script (not ``exec``'ed) learns of ``scancel`` only
    when the shell dies, and slurmstepd's SIGKILL follows within milliseconds
    (:mod:`impactlib.cli.run_signals`): it usually finishes its record first, not always.
    Its last checkpoint (``save_interval``) holds its energy; what is fixed here is how it
    ended and when, so that it reads ``cancelled`` (or ``failed``) like a finished one. A
    job that completed while its tracker's record was still running lost its tracker
    first: ``killed``. Only records still ``running`` change; doing it twice does nothing.
    """
    rows = [
        {
            "id": item.run_id,
            "status": str(Status.KILLED if item.state == "COMPLETED" else run_status(item.state)),
            "ended_at": item.ended_at,
            "updated_at": iso_utc(now_utc(), timespec="microseconds"),
        }
        for item in stale
        if item.ended_at
    ]
    if rows:
        store.write([(_FINISH_STALE, rows)])


DROP_MONTHS = "DELETE FROM run_months WHERE run_id = :id"  # a record no longer counted as it was


class JobKey(NamedTuple):
    """A SLURM job: its cluster ("" where a tracker did not know it) and its id as sacct
    lists it (``123``, or ``100_7`` for an array task)."""

    cluster: str
    job_id: str


def job_run_id(cluster: str, job_id: str) -> str:
    """The record id of a job's accounting: the same for the same job, whoever ingests it."""
    return hashlib.sha256(f"slurm:{cluster}:{job_id}".encode()).hexdigest()[:32]


def slurm_of(config: Mapping[str, Any]) -> dict[str, Any]:
    """A record's ``config["slurm"]`` (empty outside SLURM)."""
    value = config.get("slurm")
    return value if isinstance(value, dict) else {}


def _key(slurm: Mapping[str, Any]) -> JobKey | None:
    job_id = slurm.get("job_id")
    return JobKey(str(slurm.get("cluster") or ""), str(job_id)) if job_id else None


def tracked_job(config: Mapping[str, Any]) -> JobKey | None:
    """The job a tracker's run measured from inside (None for accounting records and runs
    outside SLURM)."""
    slurm = slurm_of(config)
    return None if slurm.get("source") == ACCOUNTING else _key(slurm)


def _accounting_job(record: RunRecord) -> JobKey | None:
    """The job an accounting record describes (None for any other record)."""
    slurm = slurm_of(record.config)
    return _key(slurm) if slurm.get("source") == ACCOUNTING else None


def is_superseded(config: Mapping[str, Any]) -> bool:
    """Whether an accounting record is marked as standing for a job a tracker measured."""
    slurm = slurm_of(config)
    return slurm.get("source") == ACCOUNTING and bool(slurm.get(SUPERSEDED_BY))


def trackers_by_job(records: Iterable[RunRecord]) -> dict[JobKey, str]:
    """A tracker run's id per job it measured (the first one: a job run on several nodes,
    or tracked twice, has several)."""
    found: dict[JobKey, str] = {}
    for record in records:
        key = tracked_job(record.config)
        if key is not None:
            found.setdefault(key, record.id)
    return found


def tracker_of(trackers: Mapping[JobKey, str], job: JobKey) -> str | None:
    """The tracker run that stands for ``job``, if any: one of the same cluster, or one
    that did not know its cluster (it stands for the job of that id on any cluster)."""
    return trackers.get(job) or trackers.get(JobKey("", job.job_id))


def standing(records: Sequence[RunRecord]) -> list[RunRecord]:
    """``records`` without the accounting records a tracker's run stands for: marked, or
    whose tracker run is among ``records`` (not yet marked)."""
    trackers = trackers_by_job(records)
    out = []
    for record in records:
        job = _accounting_job(record)
        if job is not None and (
            is_superseded(record.config) or tracker_of(trackers, job) is not None
        ):
            continue
        out.append(record)
    return out


def accounting_of(records: Iterable[RunRecord]) -> dict[JobKey, RunRecord]:
    """Every accounting record by its job, superseded ones included (SLURM's view of jobs
    whose trackers' runs stand for them)."""
    found = {}
    for record in records:
        job = _accounting_job(record)
        if job is not None:
            found[job] = record
    return found


class StoredJob(NamedTuple):
    """What an ingestion needs of a stored accounting record: whether its accounting is the
    same (:func:`digest`) and whether it counts."""

    digest: str
    superseded: bool


class JobIndex(NamedTuple):
    """The SLURM jobs a store knows: accounting records and tracker runs, by job."""

    accounting: dict[JobKey, StoredJob]
    trackers: dict[JobKey, str]  # job -> a tracker run's id


def digest(slurm: Mapping[str, Any]) -> str:
    """A short fingerprint of a record's ``config["slurm"]`` (a month of a large cluster's
    records is compared by these, not held in memory)."""
    text = json.dumps(slurm, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def job_index(store: Store) -> JobIndex:
    """Every SLURM job the store holds a record of, read from the records' configs alone."""
    accounting: dict[JobKey, StoredJob] = {}
    trackers: dict[JobKey, str] = {}
    for run_id, text in store.read(_SELECT_JOB_CONFIGS, {"job": _JOB_LIKE}):
        config = json.loads(text) if text else {}
        slurm = slurm_of(config)
        key = _key(slurm)
        if key is None:
            continue
        if slurm.get("source") == ACCOUNTING:
            accounting[key] = StoredJob(digest(slurm), is_superseded(config))
        else:
            trackers.setdefault(key, str(run_id))
    return JobIndex(accounting, trackers)


def marked(config: Mapping[str, Any], tracker_id: str | None) -> dict[str, Any]:
    """``config`` with its accounting record marked superseded by ``tracker_id`` (None:
    the mark cleared)."""
    slurm = {k: v for k, v in slurm_of(config).items() if k != SUPERSEDED_BY}
    if tracker_id:
        slurm[SUPERSEDED_BY] = tracker_id
    return {**config, "slurm": slurm}


def mark_superseded(store: Store, run_ids: Sequence[str], chunk: int = 500) -> list[str]:
    """Mark the accounting records of the jobs that the tracker runs among ``run_ids`` (new
    or changed runs) measured, and drop their monthly rollups; finish those runs still
    ``running`` of jobs that ended (:func:`finish_stale_trackers`); returns the ids of the
    records newly marked. One read per ``chunk`` runs; trackers that name no cluster are
    left to the next ingest, which knows the jobs' clusters."""
    wanted: dict[str, list[str]] = {}  # accounting record id -> tracker run ids
    for start in range(0, len(run_ids), chunk):
        for run_id, config in _configs(store, run_ids[start : start + chunk], trackers=True):
            job = tracked_job(config)
            if job is not None and job.cluster:
                wanted.setdefault(job_run_id(job.cluster, job.job_id), []).append(run_id)
    ids = list(wanted)
    changed: list[dict[str, Any]] = []
    ended: list[StaleTracker] = []
    for start in range(0, len(ids), chunk):
        for record_id, config in _configs(store, ids[start : start + chunk]):
            slurm = slurm_of(config)
            if slurm.get("source") != ACCOUNTING:
                continue
            ended += [
                StaleTracker(run_id, str(slurm.get("state")), slurm.get("end"))
                for run_id in wanted[record_id]
            ]
            if not is_superseded(config):
                new = json.dumps(marked(config, wanted[record_id][0]), default=str)
                changed.append({"id": record_id, "config": new})
    finish_stale_trackers(store, ended)
    if changed:
        stamp = iso_utc(now_utc(), timespec="microseconds")
        rows = [{**row, "updated_at": stamp} for row in changed]
        store.write([(_MARK, rows), (DROP_MONTHS, [{"id": row["id"]} for row in rows])])
    return [row["id"] for row in changed]


def _configs(
    store: Store, ids: Sequence[str], trackers: bool = False
) -> list[tuple[str, dict[str, Any]]]:
    """The configs of the runs ``ids`` (``trackers``: of those that are no accounting
    record)."""
    if not ids:
        return []
    params: dict[str, str] = {f"id{i}": run_id for i, run_id in enumerate(ids)}
    names = ", ".join(f":{name}" for name in params)
    if trackers:
        params["accounting"] = _ACCOUNTING_LIKE
    sql = (_SELECT_TRACKER_CONFIGS if trackers else _SELECT_CONFIGS).format(ids=names)
    return [(str(i), json.loads(c) if c else {}) for i, c in store.read(sql, params)]
