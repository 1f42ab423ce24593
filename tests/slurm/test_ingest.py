"""Jobs from the accounting stored once each, energy labelled measured / slurm-exclusive /
estimated, idempotent and all-or-nothing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from fakesacct import PARTITIONS, Job, Step, as_json, cluster_jobs
from sample_runs import make_record

from impactlib.config import Config, load_config
from impactlib.slurm.ingest import IngestError, ingest, job_run_id
from impactlib.slurm.sacct import parse_json
from impactlib.store import RunRecord, Store, open_store
from impactlib.units import MEMORY_W_PER_GB


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(str(tmp_path / "store.db"))


def _config(partitions: object = PARTITIONS) -> Config:
    return load_config({"slurm_partitions": partitions, "country": "FR", "pue": 1.2})


def _tracked(store: Store, job_id: str) -> RunRecord:
    """A run a tracker recorded inside job ``job_id``."""
    record = make_record("f" * 32)
    record = replace(record, user="erin", config={"slurm": {"job_id": job_id, "cluster": "hpc"}})
    store.insert_run(record, 10.0)
    assert record.footprint is not None
    store.checkpoint(record.id, "completed", record.footprint, [])
    return record


def _snapshot(store: Store) -> list[tuple[object, ...]]:
    runs = store.list_runs()
    return [(r.id, r.updated_at, r.footprint, tuple(store.series(r.id))) for r in runs]


def test_each_job_once_with_its_user_and_label(store: Store) -> None:
    tracked = _tracked(store, "1005")
    outcomes = ingest(parse_json(as_json(cluster_jobs())), store, _config())
    by_job = {o.job.job_id: o for o in outcomes}
    assert {k: (o.label, o.outcome) for k, o in by_job.items()} == {
        "1001": ("estimated", "added"),
        "1002_1": ("estimated", "added"),
        "1002_2": ("estimated", "added"),
        "1003": ("estimated", "added"),
        "1004": ("slurm-exclusive", "added"),
        "1005": ("measured", "tracked by impactlib"),
        "1006": ("", "not finished"),
        "1007": ("", "not finished"),
    }
    runs = store.list_runs()
    per_job: dict[str, list[RunRecord]] = {}
    for run in runs:
        per_job.setdefault(run.config["slurm"]["job_id"], []).append(run)
    assert {job: len(found) for job, found in per_job.items()} == dict.fromkeys(
        ["1001", "1002_1", "1002_2", "1003", "1004", "1005"], 1
    )
    assert per_job["1005"][0].id == tracked.id  # the tracker's run stands for its job
    users = {job: found[0].user for job, found in per_job.items()}
    assert users == {
        "1001": "alice",
        "1002_1": "bob",
        "1002_2": "bob",
        "1003": "carol",
        "1004": "dave",
        "1005": "erin",
    }
    for job, found in per_job.items():
        if job == "1005":
            continue
        record = found[0]
        assert record.id == job_run_id("hpc", job)
        assert record.config["slurm"]["label"] == by_job[job].label
        fp = record.footprint
        assert fp is not None and fp.warnings[0].endswith(by_job[job].label)
        wanted = (
            ("slurm-exclusive", "measured") if job == "1004" else ("green-algorithms", "estimated")
        )
        assert {(c.method, c.quality) for c in fp.components} == {wanted}
    assert {r.config["slurm"]["job_id"]: r.status for r in runs} == {
        "1001": "completed",
        "1002_1": "completed",
        "1002_2": "cancelled",  # CANCELLED: the word a tracker stopped by scancel writes
        "1003": "failed",
        "1004": "completed",
        "1005": "completed",
    }


def test_estimate_and_exclusive_energy_are_exact(store: Store) -> None:
    ingest(parse_json(as_json(cluster_jobs())), store, _config())
    failed = store.get_run(job_run_id("hpc", "1003"))
    assert failed is not None and failed.footprint is not None
    # 1 h x (4 cores x 12 W x usage 0.5 + 8000 MiB as GB x 0.3725 W/GB)
    memory_gb = 8000 * 2**20 / 1e9
    assert failed.footprint.energy_j == pytest.approx(
        (4 * 12 * 0.5 + memory_gb * MEMORY_W_PER_GB) * 3600
    )
    assert failed.footprint.pue == 1.2
    assert failed.footprint.emissions_kg == pytest.approx(
        failed.footprint.energy_kwh * failed.footprint.carbon.mean_g_per_kwh / 1000  # type: ignore[union-attr]
    )
    exclusive = store.get_run(job_run_id("hpc", "1004"))
    assert exclusive is not None and exclusive.footprint is not None
    assert exclusive.footprint.energy_j == pytest.approx(3_600_000)
    series = store.series(exclusive.id)
    assert sum(row.energy_j for row in series) == pytest.approx(3_600_000)
    shared = store.get_run(job_run_id("hpc", "1001"))
    assert shared is not None and shared.footprint is not None
    assert any("ConsumedEnergyRaw (500000 J) not used" in w for w in shared.footprint.warnings)
    gpu = next(c for c in shared.footprint.components if c.component == "gpu")
    assert gpu.energy_j == pytest.approx(2 * 300 * 0.6 * 7200)  # gpuutil 120 % over 2 GPUs


def test_a_job_holding_every_core_of_its_nodes_is_exclusive(store: Store) -> None:
    whole = Job(77, "ann", "cpu", cpus=64, steps=[Step("batch", 100.0, 1024, 7_200_000)])
    part = Job(78, "ann", "cpu", cpus=32, steps=[Step("batch", 100.0, 1024, 7_200_000)])
    outcomes = ingest(parse_json(as_json([whole, part])), store, _config())
    assert [o.label for o in outcomes] == ["slurm-exclusive", "estimated"]


def test_ingesting_twice_changes_nothing(store: Store) -> None:
    jobs = parse_json(as_json(cluster_jobs()))
    ingest(jobs, store, _config())
    before = _snapshot(store)
    again = ingest(jobs, store, _config())
    assert _snapshot(store) == before
    assert {o.outcome for o in again} == {"already stored", "not finished"}


def test_a_job_that_cannot_be_estimated_stores_nothing(store: Store) -> None:
    partitions = {**PARTITIONS, "cpu": {"cpu": "Quantum Flux 9000"}}
    with pytest.raises(IngestError, match="job 1002_1 .*partition cpu.*slurm_partitions"):
        ingest(parse_json(as_json(cluster_jobs())), store, _config(partitions))
    assert store.list_runs() == []


def test_without_partition_hardware_the_estimate_says_which_defaults(store: Store) -> None:
    ingest(parse_json(as_json(cluster_jobs()[:1])), store, _config({}))
    record = store.get_run(job_run_id("hpc", "1001"))
    assert record is not None and record.footprint is not None
    assert any("'any' CPU (12 W/core) and GPU (200 W)" in w for w in record.footprint.warnings)


def test_a_job_the_daemon_measured_holds_the_daemons_energy(store: Store) -> None:
    def row(
        minute: str, name: str, domain: str, joules: float, quality: str = "measured"
    ) -> dict[str, object]:
        return {
            "host": "node02",
            "minute": minute,
            "kind": "job",
            "name": name,
            "domain": domain,
            "energy_j": joules,
            "floor_w": None,
            "quality": quality,
        }

    store.add_host_minutes(
        [
            row("2025-11-30T10:00:00+00:00", "1003", "cpu:package-0", 1000.0),
            row("2025-11-30T10:01:00+00:00", "1003", "cpu:package-0", 1500.0),
            row("2025-11-30T10:01:00+00:00", "1003", "dram:0", 100.0),
            row("2025-11-30T10:01:00+00:00", "1003", "memory:model", 10.0, "estimated"),
            row("2025-11-30T10:01:00+00:00", "999", "cpu:package-0", 5e6),  # another job
        ]
    )
    outcomes = {
        o.job.job_id: o for o in ingest(parse_json(as_json(cluster_jobs())), store, _config())
    }
    assert (outcomes["1003"].label, outcomes["1003"].outcome) == ("measured", "added")
    record = store.get_run(job_run_id("hpc", "1003"))
    assert record is not None and record.footprint is not None
    assert record.config["slurm"]["label"] == "measured"
    # The daemon's share of a metered domain is attributed; of a modelled one, an estimate.
    assert {(c.domain, c.method, c.quality, c.energy_j) for c in record.footprint.components} == {
        ("cpu:package-0@node02", "daemon", "attributed", 2500.0),
        ("dram:0@node02", "daemon", "attributed", 100.0),
        ("memory:model@node02", "daemon", "estimated", 10.0),
    }
    series = {(r.minute, r.component): r.energy_j for r in store.series(record.id)}
    assert series == {
        ("2025-11-30T10:00:00+00:00", "cpu"): 1000.0,
        ("2025-11-30T10:01:00+00:00", "cpu"): 1500.0,
        ("2025-11-30T10:01:00+00:00", "dram"): 100.0,
        ("2025-11-30T10:01:00+00:00", "memory"): 10.0,
    }
    assert outcomes["1002_1"].label == "estimated"  # the same node, another job


@pytest.mark.postgres
def test_a_lab_postgresql_store_takes_an_ingestion_once(postgres_url: str) -> None:
    lab = open_store(postgres_url)
    jobs = parse_json(as_json(cluster_jobs()))
    ingest(jobs, lab, _config())
    before = _snapshot(lab)
    assert len(before) == 6
    again = ingest(jobs, lab, _config())
    assert {o.outcome for o in again} == {"already stored", "not finished"}
    assert _snapshot(lab) == before
