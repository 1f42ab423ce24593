"""One record per SLURM job, whatever the order (issue 17, bug 2 and M8).

A lab store (SQLite and a real PostgreSQL) takes the administrator's ``slurm ingest`` and the
users' ``sync`` in every order, again and again: after every step each job counts at most
once, in the list of runs and in the lab totals alike; once both have run, exactly once,
the tracker's run standing for a tracked job. The estimate a tracker's run superseded counts
again when that run is gone, and a job whose accounting changed is written again.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fakesacct import PARTITIONS, cluster_jobs
from fakesacct import as_json as sacct_json
from sample_runs import make_record, save_record

from impactlib.config import Config, load_config
from impactlib.footprint import Method, Quality
from impactlib.slurm.ingest import ingest
from impactlib.slurm.sacct import SacctJob, parse_json
from impactlib.store import RunRecord, Store, open_store
from impactlib.store.rollup import Selection, lab_totals
from impactlib.store.slurmjobs import job_run_id
from impactlib.store.sync import sync

# job -> the user whose tracker measured it (1002_2 was cancelled, 1003 failed)
TRACKED = {"1002_1": "bob", "1002_2": "bob", "1003": "carol"}
ORDERS = (
    ("ingest", "sync"),
    ("sync", "ingest"),
    ("ingest", "sync", "ingest", "sync"),
    ("sync", "ingest", "sync", "ingest"),
    ("ingest", "ingest", "sync", "sync", "ingest"),
)


def _config() -> Config:
    return load_config({"slurm_partitions": PARTITIONS, "country": "FR", "pue": 1.2})


def _jobs() -> list[SacctJob]:
    return parse_json(sacct_json(cluster_jobs()))


FINISHED = [job.job_id for job in _jobs() if job.finished]


def _tracker(job_id: str, user: str, cluster: str | None = "hpc", **slurm: Any) -> RunRecord:
    """A run a tracker recorded inside ``job_id`` (its own figures: RAPL and NVML)."""
    record = make_record(f"{job_id.replace('_', 'x')}{'f' * 28}"[:32], project="lab")
    config = {"slurm": {"job_id": job_id, "cluster": cluster, "account": "lab", **slurm}}
    return replace(record, user=user, config=config)


def _node_store(path: Path, trackers: list[RunRecord]) -> Store:
    store = open_store(str(path))
    for record in trackers:
        save_record(store, record)
    return store


def _job_of(record: RunRecord) -> str:
    return str(record.config["slurm"]["job_id"])


def _counted(lab: Store) -> Counter[str]:
    """How many times each job counts in the list of runs, and in the lab totals (they must
    agree: per user, as many runs and as much energy)."""
    runs = lab.list_runs()
    per_user: dict[str, list[RunRecord]] = {}
    for run in runs:
        per_user.setdefault(run.user, []).append(run)
    totals = {t.keys["user"]: t for t in lab_totals(lab, ["user"], Selection())}
    assert set(totals) == set(per_user)
    for user, mine in per_user.items():
        assert totals[user].runs == len(mine), user
        energy = sum(r.footprint.energy_kwh for r in mine if r.footprint is not None)
        assert totals[user].energy_kwh == pytest.approx(energy), user
    return Counter(_job_of(run) for run in runs)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def lab(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "sqlite":
        return open_store(str(tmp_path / "lab.db"))
    return open_store(str(request.getfixturevalue("postgres_url")))


@pytest.mark.parametrize("order", ORDERS, ids=["-".join(order) for order in ORDERS])
def test_each_job_counts_once_whatever_the_order(
    lab: Store, tmp_path: Path, order: tuple[str, ...]
) -> None:
    trackers = [_tracker(job, user) for job, user in TRACKED.items()]
    node = _node_store(tmp_path / "node.db", trackers)
    for step in order:
        if step == "ingest":
            ingest(_jobs(), lab, _config())
        else:
            sync(node, lab)
        assert max(_counted(lab).values()) == 1, step  # never twice, at any step
    assert _counted(lab) == Counter(FINISHED)
    standing = {_job_of(r): r.id for r in lab.list_runs()}
    assert {job: standing[job] for job in TRACKED} == {
        t.config["slurm"]["job_id"]: t.id for t in trackers
    }


def test_the_estimate_counts_again_when_the_tracker_run_is_gone(tmp_path: Path) -> None:
    lab = open_store(str(tmp_path / "lab.db"))
    tracker = _tracker("1003", "carol")
    sync(_node_store(tmp_path / "node.db", [tracker]), lab)
    ingest(_jobs(), lab, _config())
    assert lab.get_run(job_run_id("hpc", "1003")) is not None  # kept, superseded
    assert _counted(lab)["1003"] == 1
    lab.write(
        [
            ("DELETE FROM series WHERE run_id = :id", {"id": tracker.id}),
            ("DELETE FROM runs WHERE id = :id", {"id": tracker.id}),
        ]
    )
    outcomes = {o.job.job_id: o.outcome for o in ingest(_jobs(), lab, _config())}
    assert outcomes["1003"] == "added"
    assert _counted(lab) == Counter(FINISHED)
    assert {r.id for r in lab.list_runs() if _job_of(r) == "1003"} == {job_run_id("hpc", "1003")}


def test_a_tracker_that_did_not_know_its_cluster_stands_for_its_job(tmp_path: Path) -> None:
    lab = open_store(str(tmp_path / "lab.db"))
    tracker = _tracker("1003", "carol", cluster=None)
    save_record(lab, tracker)
    outcomes = {o.job.job_id: o.outcome for o in ingest(_jobs(), lab, _config())}
    assert outcomes["1003"] == "tracked by impactlib"
    assert _counted(lab) == Counter(FINISHED)


def test_a_job_whose_accounting_changed_is_written_again(tmp_path: Path) -> None:
    """sacct's state, elapsed and CPU time of a stored job change (slurmctld's restart
    rewrote a cancelled job; a node's late report): the next ingest writes them."""
    lab = open_store(str(tmp_path / "lab.db"))
    ingest(_jobs(), lab, _config())
    before = lab.get_run(job_run_id("hpc", "1003"))
    assert before is not None and before.footprint is not None
    changed = [
        job._replace(state="CANCELLED", elapsed_s=job.elapsed_s * 2, cpu_s=job.cpu_s / 2)
        if job.job_id == "1003"
        else job
        for job in _jobs()
    ]
    outcomes = {o.job.job_id: o.outcome for o in ingest(changed, lab, _config())}
    assert outcomes["1003"] == "updated"
    assert {o for job, o in outcomes.items() if job != "1003"} <= {"already stored", "not finished"}
    after = lab.get_run(job_run_id("hpc", "1003"))
    assert after is not None and after.footprint is not None
    slurm = after.config["slurm"]
    assert (slurm["state"], after.status, after.footprint.duration_s) == (
        "CANCELLED",
        "cancelled",
        2 * before.footprint.duration_s,
    )
    assert after.footprint.energy_j != before.footprint.energy_j
    series_j = sum(row.energy_j for row in lab.series(after.id))
    assert series_j == pytest.approx(after.footprint.energy_j)  # the old series replaced
    assert _counted(lab) == Counter(FINISHED)
    again = {o.job.job_id: o.outcome for o in ingest(changed, lab, _config())}
    assert again["1003"] == "already stored"


def _modelled(record: RunRecord) -> RunRecord:
    """The tracker on a machine without meters: every component modelled."""
    assert record.footprint is not None
    comps = tuple(
        replace(c, method=Method.MODEL_TDP, quality=Quality.ESTIMATED)
        for c in record.footprint.components
    )
    return replace(record, footprint=replace(record.footprint, components=comps))


def test_a_tracked_job_is_labelled_measured_only_where_its_tracker_read_a_meter(
    tmp_path: Path,
) -> None:
    """M2: without RAPL the tracker models the CPU; that job is tracked, not measured."""
    lab = open_store(str(tmp_path / "lab.db"))
    save_record(lab, _tracker("1003", "carol"))
    save_record(lab, _modelled(_tracker("1002_1", "bob")))
    outcomes = {o.job.job_id: (o.label, o.outcome) for o in ingest(_jobs(), lab, _config())}
    assert outcomes["1003"] == ("measured", "tracked by impactlib")
    assert outcomes["1002_1"] == ("estimated", "tracked by impactlib")
