"""SLURM jobs as run records, each with its energy from the best source there is.

In order of preference, and labelled in the record (``config["slurm"]["label"]``, the
components' ``method``/``quality`` and a note):

1. ``measured``: impactlib's daemon (``impactlib serve``) on the job's nodes attributed
   energy to the job's cgroup: the record holds that energy, per domain and per minute,
   method ``daemon`` (the daemon names its host as SLURM names the node, and the job by
   its id, or by its SLUID where SLURM names cgroups so);
2. ``slurm-exclusive``: SLURM's ``ConsumedEnergyRaw`` (its ``acct_gather_energy`` plugin,
   RAPL or IPMI) for a job that held whole nodes, where that node-level counter is the
   job's own energy (the partition is configured ``exclusive``, or the job held every core
   of its nodes by the partition's ``cores_per_node``);
3. ``estimated``: the Green Algorithms formula with the partition's hardware from the
   configuration (``slurm_partitions``; the formula's "any" CPU and GPU where none is
   given), CPU usage from ``TotalCPU``, GPU usage from ``gres/gpuutil`` where SLURM
   gathered it (else 100 %, as GA4HPC assumes), memory as requested.

A job a tracker measured from inside (``impactlib.init()`` or ``impactlib run``: its run
records the job id) is stood for by the tracker's run: its accounting record is stored all
the same, marked superseded, and every report leaves it out (:mod:`impactlib.store.slurmjobs`
says why it is kept and how the order of ingest and sync does not matter). Such a job is
reported as ``tracked by impactlib``, labelled ``measured`` only where the tracker read a
meter (``estimated`` where it modelled every component).

A record's id is derived from the cluster and the job id, so ingesting the same period
twice changes nothing; a job whose accounting changed since (sacct's state, times, CPU time
or memory; a tracker's run that appeared or went) is written again. Records are written
in transactions of ``WRITE_BATCH`` jobs, so that a month of a large cluster (100,000 jobs)
is never held in memory at once; an ingestion stopped half-way leaves whole batches stored,
and running it again completes it. Only finished jobs are ingested: a running one is
picked up by a later run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from .._time import iso_utc, parse_utc
from ..config import Config
from ..errors import ImpactError, UsageError
from ..footprint import (
    CarbonInfo,
    ChargedTo,
    Component,
    ComponentEnergy,
    Extent,
    Footprint,
    Method,
    Quality,
)
from ..store import RunRecord, SeriesRow, Store
from ..store.slurmjobs import (
    JobKey,
    StaleTracker,
    digest,
    finish_stale_trackers,
    job_index,
    job_run_id,
    marked,
    run_status,
    tracker_of,
)
from ..uncertainty import with_ranges
from ..units import J_PER_KWH, S_PER_H, j_to_kwh
from .hostlist import expand
from .partitions import PartitionHardware, known_partitions, partition_named
from .sacct import SacctJob

if TYPE_CHECKING:
    from ..planning.estimate import Term

LABELS = ("measured", "slurm-exclusive", "estimated")
OUTCOMES = ("added", "updated", "already stored", "tracked by impactlib", "not finished")
WRITE_BATCH = 10000  # jobs per transaction: bounds memory (about 100 MB in flight)


class IngestError(ImpactError):
    """A job that cannot be turned into a record (names the job and the fix)."""


class IngestedJob(NamedTuple):
    """What happened to one job of the accounting."""

    job: SacctJob
    label: str  # one of LABELS
    outcome: str  # one of OUTCOMES
    energy_j: float  # PUE included, as reports show energy (0 where no record was made)


def _is_exclusive(job: SacctJob, partition: PartitionHardware | None) -> bool:
    if partition is None:
        return False
    if partition.exclusive:
        return True
    cores = partition.cores_per_node
    return bool(cores and job.node_count and job.alloc_cpus >= job.node_count * cores)


def _note_of(term: Term) -> str:
    return (
        f"{term.count:g} {term.unit} x {term.power_w:g} W x usage {term.usage:.2f} ({term.source})"
    )


def _estimated(
    job: SacctJob, partition: PartitionHardware | None, config: Config
) -> list[ComponentEnergy]:
    """The Green Algorithms estimate of the job, one component per term."""
    from ..planning.estimate import estimate

    hours = job.elapsed_s / S_PER_H
    if hours <= 0 or not (job.alloc_cpus or job.alloc_gpus):
        return []
    capacity = job.elapsed_s * job.alloc_cpus
    usage = min(job.cpu_s / capacity, 1.0) if job.cpu_s > 0 and capacity > 0 else 1.0
    gpu_usage = 1.0
    if job.alloc_gpus and job.gpu_util_pct is not None:
        gpu_usage = min(max(job.gpu_util_pct / 100.0 / job.alloc_gpus, 0.0), 1.0)
    part = partition or PartitionHardware("")
    memory = job.req_memory_bytes or job.alloc_memory_bytes or 0
    try:
        result = estimate(
            hours=hours,
            cpu=part.cpu,
            cores=float(job.alloc_cpus) if job.alloc_cpus else None,
            cpu_w_per_core=part.cpu_w_per_core,
            usage=usage,
            gpu=part.gpu if job.alloc_gpus else None,
            gpus=float(job.alloc_gpus) if job.alloc_gpus else None,
            gpu_w=part.gpu_w if job.alloc_gpus else None,
            gpu_usage=gpu_usage,
            memory_gb=memory / 1e9,
            memory_w_per_gb=config.memory_w_per_gb,
        )
    except UsageError as exc:
        raise IngestError(
            f"job {job.job_id} (partition {job.partition}) cannot be estimated: {exc}; "
            "fix that partition in the slurm_partitions setting"
        ) from exc
    return [
        ComponentEnergy(
            domain=f"{t.component}:green-algorithms",
            component=Component(t.component),
            method=Method.GREEN_ALGORITHMS,
            extent=Extent.ALLOCATION,
            quality=Quality.ESTIMATED,
            domain_j=t.energy_kwh * J_PER_KWH,
            dynamic_j=t.energy_kwh * J_PER_KWH,
            idle_j=0.0,
            unattributed_j=0.0,
            note=_note_of(t),
        )
        for t in result.terms
    ]


def _exclusive(job: SacctJob) -> list[ComponentEnergy]:
    joules = job.energy_j or 0.0
    return [
        ComponentEnergy(
            domain="node:slurm",
            component=Component.NODE,
            method=Method.SLURM_EXCLUSIVE,
            extent=Extent.MACHINE,
            quality=Quality.MEASURED,
            domain_j=joules,
            dynamic_j=joules,
            idle_j=0.0,
            unattributed_j=0.0,
            note="ConsumedEnergyRaw of SLURM's energy accounting: the nodes' energy, the "
            "job's own because it held them exclusively",
        )
    ]


class _Measured(NamedTuple):
    """What impactlib's daemon attributed to a job on its nodes."""

    components: list[ComponentEnergy]
    per_minute: dict[tuple[str, Component], float]  # (minute ISO, component kind) -> J
    hosts: list[str]


class DaemonJobs:
    """The daemon's per-minute job rows in the store, read once per host (one ingestion
    looks at many jobs of each node)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._hosts: dict[str, dict[str, list[tuple[Any, ...]]]] = {}

    def rows(self, host: str, raw_job_id: str) -> list[tuple[Any, ...]]:
        """(host, minute, kind, name, domain, energy_j, floor_w, quality) of one job on one
        host."""
        if host not in self._hosts:
            by_job: dict[str, list[tuple[Any, ...]]] = {}
            for row in self._store.host_minutes(host, "job"):
                by_job.setdefault(str(row[3]), []).append(row)
            self._hosts[host] = by_job
        return self._hosts[host].get(raw_job_id, [])

    def measured(self, job: SacctJob) -> _Measured | None:
        """The job's energy as the daemon attributed it, or None where it saw nothing."""
        try:
            hosts = expand(job.nodes)
        except ValueError as exc:
            raise IngestError(f"job {job.job_id}: node list {job.nodes!r} ({exc})") from exc
        per_domain: dict[tuple[str, str, Quality], float] = {}
        per_minute: dict[tuple[str, Component], float] = {}
        seen = []
        for host in hosts:
            rows = self.rows(host, job.raw_job_id)
            seen += [host] if rows else []
            for _, minute, _, _, domain, joules, _, quality in rows:
                kind = _component_of(str(domain))
                # The daemon's share of a metered domain is attributed; of a modelled one,
                # still an estimate.
                served = Quality.ATTRIBUTED if Quality(quality).metered else Quality.ESTIMATED
                key = (host, str(domain), served)
                per_domain[key] = per_domain.get(key, 0.0) + joules
                per_minute[(minute, kind)] = per_minute.get((minute, kind), 0.0) + joules
        if not per_domain:
            return None
        components = [
            ComponentEnergy(
                domain=f"{domain}@{host}",
                component=_component_of(domain),
                method=Method.DAEMON,
                extent=Extent.MACHINE,
                quality=quality,
                domain_j=joules,
                dynamic_j=joules,
                idle_j=0.0,
                unattributed_j=0.0,
                note=f"attributed to the job's cgroup by impactlib's daemon on {host}",
            )
            for (host, domain, quality), joules in sorted(per_domain.items())
        ]
        return _Measured(components, per_minute, seen)


def _component_of(domain_id: str) -> Component:
    """The component of a domain id (``cpu:package-0`` is a CPU's)."""
    return Component(domain_id.split(":", 1)[0])


class _Pricing(NamedTuple):
    carbon: CarbonInfo
    g_per_kwh: float


def _pricing(config: Config) -> _Pricing:
    """The configured zone's annual intensity (accounting is priced after the fact, once)."""
    from ..carbon.location import locate
    from ..carbon.select import static_series

    location = locate(config)
    static = static_series(location.zone)
    g = static.points[0].g_per_kwh
    carbon = CarbonInfo(
        static.source, static.zone, g, static.detail, None, location.by, location.detail
    )
    return _Pricing(carbon, g)


def _hourly(run_id: str, job: SacctJob, components: Sequence[ComponentEnergy]) -> list[SeriesRow]:
    """The energy spread evenly over the job's run time, in hour buckets (the accounting
    has no finer time series; hours keep a month of a cluster's jobs small)."""
    if not components or job.start is None:
        return []
    start = parse_utc(job.start)
    end = start + timedelta(seconds=max(job.elapsed_s, 1.0))
    rows: list[SeriesRow] = []
    bucket = start.replace(minute=0, second=0, microsecond=0)
    while bucket < end:
        nxt = bucket + timedelta(hours=1)
        share = (min(end, nxt) - max(start, bucket)).total_seconds() / (end - start).total_seconds()
        for kind in sorted({c.component for c in components}):
            joules = sum(c.energy_j for c in components if c.component == kind) * share
            rows.append(SeriesRow(run_id, iso_utc(bucket, timespec="seconds"), kind, joules))
        bucket = nxt
    return rows


def job_record(
    job: SacctJob,
    config: Config,
    pricing: _Pricing,
    partitions: tuple[PartitionHardware, ...],
    measured: _Measured | None = None,
) -> tuple[RunRecord, list[SeriesRow]]:
    """The run record of a job no tracker measured (the daemon's figures where it has
    them), and its series."""
    partition = partition_named(partitions, job.partition)
    exclusive = measured is None and bool(job.energy_j) and _is_exclusive(job, partition)
    if measured is not None:
        components, label = measured.components, "measured"
    elif exclusive:
        components, label = _exclusive(job), "slurm-exclusive"
    else:
        components, label = _estimated(job, partition, config), "estimated"
    notes = [f"SLURM job {job.job_id} ({job.state}) from sacct: {label}"]
    if measured is not None:
        notes[0] += f" by impactlib's daemon on {', '.join(measured.hosts)}"
    elif job.energy_j and not exclusive:
        notes.append(
            f"SLURM's ConsumedEnergyRaw ({job.energy_j:g} J) not used: it covers whole nodes "
            "and the job shared them (set exclusive or cores_per_node for the partition)"
        )
    if (partition is None or not partition.has_hardware) and label == "estimated":
        notes.append(
            f"partition {job.partition} has no hardware in slurm_partitions: the Green "
            "Algorithms 'any' CPU (12 W/core) and GPU (200 W) were used"
        )
    run_id = job_run_id(job.cluster, job.job_id)
    started = job.start or job.end or ""
    energy = sum(c.energy_j for c in components)
    footprint = Footprint(
        run_id=run_id,
        charged_to=ChargedTo.SLURM_JOB,
        idle_policy="allocation",
        started_at=started,
        ended_at=job.end or started,
        duration_s=job.elapsed_s,
        components=tuple(components),
        pue=config.pue,
        emissions_kg=j_to_kwh(energy) * config.pue * pricing.g_per_kwh / 1000.0,
        carbon=pricing.carbon,
        cpu_hours=job.cpu_s / S_PER_H,
        gpu_hours=job.alloc_gpus * job.elapsed_s / S_PER_H,
        peak_memory_bytes=job.max_rss_bytes or 0,
        warnings=tuple(notes),
    )
    footprint = with_ranges(footprint)  # each component's range from its method; totals'
    values = {k: getattr(config, k) for k in ("zone", "country", "region", "pue")}
    record = RunRecord(
        id=run_id,
        project=job.account or config.project,
        experiment=job.partition or "",
        user=job.user,
        host=job.nodes or job.cluster,
        pid=0,
        command=f"slurm job {job.job_id}: {job.name}",
        git_commit=None,
        started_at=started,
        ended_at=footprint.ended_at,
        updated_at=footprint.ended_at or started,
        status=run_status(job.state),
        config={
            "values": values,
            "sources": {k: config.sources.get(k, "default") for k in values},
            "slurm": {"source": "sacct", "label": label, **job._asdict()},
        },
        footprint=footprint,
    )
    if measured is not None:
        series = [
            SeriesRow(run_id, minute, kind, joules)
            for (minute, kind), joules in sorted(measured.per_minute.items())
        ]
        return record, series
    return record, _hourly(run_id, job, components)


def _tracked_label(run: RunRecord | None) -> str:
    """A tracked job's label: ``measured`` only where its tracker read a meter."""
    fp = run.footprint if run is not None else None
    metered = fp is not None and any(c.quality.metered for c in fp.components)
    return "measured" if metered else "estimated"


def ingest(jobs: Sequence[SacctJob], store: Store, config: Config) -> list[IngestedJob]:
    """Store the finished jobs not stored yet, or stored as they were before, all at once;
    say what happened to each."""
    from ..store.sync import put_runs

    known = job_index(store)
    pricing = _pricing(config)
    partitions = known_partitions(config)  # configured, and what SLURM says of them
    daemon = DaemonJobs(store)
    outcomes: list[IngestedJob] = []
    changed: list[tuple[RunRecord, list[SeriesRow]]] = []
    stale: list[StaleTracker] = []  # trackers killed before they finished their records
    for job in jobs:
        if not job.finished or not (job.start or job.end):
            outcomes.append(IngestedJob(job, "", "not finished", 0.0))
            continue
        record, series = job_record(job, config, pricing, partitions, daemon.measured(job))
        fp = record.footprint
        assert fp is not None
        key = JobKey(job.cluster, job.job_id)
        tracker = tracker_of(known.trackers, key)
        record = replace(record, config=marked(record.config, tracker))
        old = known.accounting.get(key)
        if old is not None and old.digest == digest(record.config["slurm"]):
            outcome = "already stored"
        else:
            changed.append((record, series))
            if len(changed) >= WRITE_BATCH:
                put_runs(store, changed)
                changed = []
            # An estimate that was superseded counts again: added, as far as reports go.
            counted_before = old is not None and not old.superseded
            outcome = "updated" if counted_before else "added"
        if tracker is not None:
            run = store.get_run(tracker)
            if run is not None and run.status == "running":
                stale.append(StaleTracker(tracker, job.state, job.end))
            label, energy = _tracked_label(run), 0.0
            outcomes.append(IngestedJob(job, label, "tracked by impactlib", energy))
            continue
        energy = fp.energy_j * fp.pue
        outcomes.append(IngestedJob(job, record.config["slurm"]["label"], outcome, energy))
    put_runs(store, changed)
    finish_stale_trackers(store, stale)
    return outcomes
