"""SLURM itself: two users' real jobs on a real one-node cluster, checked against ``sacct``.

Every figure is compared with what SLURM's own accounting says of the same job (``sacct
-P``, read here with nothing of impactlib's parser): job ids, users, accounts, states,
elapsed and CPU time. The jobs are what researchers submit: ``impactlib run`` with and
without ``exec``, the Python API, untracked scripts, a failed one, jobs cancelled while
running and while pending, an array, a name with ``|``, memory asked for and not used, an
``srun`` step and two ranks; then what an administrator does with them (``impactlib slurm
ingest``, the users' ``impactlib sync``, in either order, and the lab's reports).

All jobs are submitted once for the module (they take most of its time); each test states
one property of their records. The cluster (``tests/slurmcluster.py``) runs
``jobacct_gather/cgroup``, and one tracked job runs under ``jobacct_gather/linux``, where
jobs have no ``cpuacct`` cgroup.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from burn import CPU_BURN
from slurmcluster import (
    ALICE,
    BOB,
    CLUSTER,
    USERS,
    SlurmCluster,
    slurm_cluster_fixture,  # noqa: F401  (the session's cluster)
)

from impactlib.store import RunRecord, open_store
from impactlib.units import MEMORY_W_PER_GB

pytestmark = pytest.mark.slow

CPU_TOLERANCE = 0.05  # "within a few %": the tracker's and SLURM's counters of one cgroup
SACCT_FIELDS = (
    "JobID",
    "JobIDRaw",
    "User",
    "Account",
    "State",
    "ElapsedRaw",
    "TotalCPU",
    "ReqMem",
    "NodeList",
    "Start",
    "End",
    "JobName",
)
HOLD = textwrap.dedent(
    """
    import sys, time
    block = b"x" * (int(sys.argv[1]) << 20)  # written, so resident
    time.sleep(float(sys.argv[2]))
    """
)
API_JOB = textwrap.dedent(
    """
    import sys, time
    import impactlib
    tracker = impactlib.init()
    tracker.start()
    end = time.process_time() + float(sys.argv[1])
    while time.process_time() < end:
        pass
    tracker.stop()
    """
)
Options = dict[str, str | int | bool]  # sbatch's long options, as SlurmCluster.submit takes them
# key -> (user, what the batch script runs, sbatch options); the burns are CPU seconds
JOBS: dict[str, tuple[str, str, Options]] = {
    "run": (ALICE, "impactlib run -- python {burn} 8", {"mem": "2G"}),
    "exec": (BOB, "exec impactlib run -- python {burn} 8", {}),
    "api": (ALICE, "python {api} 8", {}),
    "untracked": (BOB, "python {burn} 2", {}),
    "failed": (ALICE, "sleep 1\nexit 3", {}),
    "failed-run": (BOB, "impactlib run -- bash -c 'sleep 1; exit 3'", {}),
    "array": (BOB, "impactlib run -- python {burn} 8", {"array": "0-1"}),
    "pipe-name": (BOB, "true", {"job_name": "a|b"}),
    "memory": (BOB, "python {hold} 50 6", {"mem": "3G"}),
    "srun": (ALICE, "srun impactlib run -- python {burn} 8", {}),
    # The ranks wait before burning: one rank measures the job's cgroup from its own start,
    # and a busy machine may start it after the other rank's command (whose CPU time before
    # that start no tracker could count).
    "ranks": (BOB, "srun impactlib run -- sh -c 'sleep 3; exec python {burn} 10'", {"ntasks": 2}),
}
TRACKED = ("run", "exec", "api", "failed-run", "array", "srun", "ranks")
STEPS = ("srun", "ranks")  # tracked in an srun step (step 0), not in the batch script
MEMORY_ASKED = ("run", "memory", "linux-run")  # --mem given
CANCELLED = {  # key -> (user, script): cancelled once the burn runs
    "cancel-run": (ALICE, "impactlib run -- python {burn} 120"),
    "cancel-exec": (BOB, "exec impactlib run -- python {burn} 120"),
}
LINUX_GATHER: dict[str, tuple[str, str, Options]] = {
    "linux-run": (ALICE, "impactlib run -- python {burn} 8", {"mem": "2G"})
}
OWNERS = {
    **{key: user for key, (user, _, _) in {**JOBS, **LINUX_GATHER}.items()},
    **{key: user for key, (user, _) in CANCELLED.items()},
    "pending": ALICE,
}
RUNNING_FOR_S = 4.0  # how long a cancelled job's burn runs before scancel


@dataclass
class Lab:
    """The module's jobs: their ids, when some were cancelled, and sacct's lines."""

    cluster: SlurmCluster
    ids: dict[str, str] = field(default_factory=dict)  # key -> job id (an array's job id)
    cancelled_at: dict[str, datetime] = field(default_factory=dict)
    pending_when_cancelled: str = ""
    since: datetime = field(default_factory=datetime.now)
    until: datetime = field(default_factory=datetime.now)
    sacct: dict[str, dict[str, str]] = field(default_factory=dict)  # job id -> sacct's line

    def jobs_of(self, key: str) -> list[dict[str, str]]:
        """sacct's job lines of a key (two for the array)."""
        wanted = self.ids[key]
        return [
            row
            for row in self.sacct.values()
            if row["JobID"] == wanted or row["JobID"].startswith(f"{wanted}_")
        ]

    def owner(self, key: str) -> str:
        """The user who submitted the job ``key``."""
        return OWNERS[key]


def _wait_for_burn(cluster: SlurmCluster, job_id: str, timeout_s: float = 60.0) -> None:
    """Until the job's workload runs (so its tracker has started)."""
    deadline = time.monotonic() + timeout_s
    wanted = f"SLURM_JOB_ID={job_id}".encode()
    while time.monotonic() < deadline:
        for proc in Path("/proc").iterdir():
            try:
                cmdline = (proc / "cmdline").read_bytes()
                if b"burn.py" in cmdline and wanted in (proc / "environ").read_bytes().split(b"\0"):
                    return
            except OSError:
                continue
        time.sleep(0.2)
    raise AssertionError(f"job {job_id}'s workload did not start in {timeout_s:g} s")


def _script(template: str, cluster: SlurmCluster) -> str:
    share = cluster.share
    return template.format(burn=share / "burn.py", hold=share / "hold.py", api=share / "api.py")


def _sacct_lines(cluster: SlurmCluster, ids: list[str]) -> dict[str, dict[str, str]]:
    rows = cluster.sacct_rows(ids, SACCT_FIELDS)
    return {row["JobID"]: row for row in rows if "." not in row["JobID"]}


@pytest.fixture(scope="module")
def lab(slurm_cluster: SlurmCluster) -> Lab:
    """Every job submitted, run and ended; sacct's lines of them."""
    cluster = slurm_cluster
    for name, text in (("burn.py", CPU_BURN), ("hold.py", HOLD), ("api.py", API_JOB)):
        (cluster.share / name).write_text(text)
        (cluster.share / name).chmod(0o644)
    lab = Lab(cluster, since=datetime.now() - timedelta(minutes=2))
    for key, (user, template) in CANCELLED.items():
        lab.ids[key] = cluster.submit(user, _script(template, cluster), job_name=key)
    for key in CANCELLED:
        cluster.wait_state(lab.ids[key], "RUNNING")
    # Pending behind the two running jobs: it asks for every CPU of the node.
    lab.ids["pending"] = cluster.submit(ALICE, "sleep 1", cpus_per_task=cluster.cpus)
    lab.pending_when_cancelled = cluster.state(lab.ids["pending"])
    cluster.cancel(lab.ids["pending"])
    for key, (user, template, options) in JOBS.items():
        lab.ids[key] = cluster.submit(user, _script(template, cluster), **options)
    for key in CANCELLED:
        _wait_for_burn(cluster, lab.ids[key])
    time.sleep(RUNNING_FOR_S)
    for key in CANCELLED:
        lab.cancelled_at[key] = datetime.now(timezone.utc)
        cluster.cancel(lab.ids[key])
    for job_id in lab.ids.values():
        cluster.wait(job_id)
    with cluster.gathering("linux"):
        for key, (user, template, options) in LINUX_GATHER.items():
            lab.ids[key] = cluster.submit(user, _script(template, cluster), **options)
            cluster.wait(lab.ids[key])
    lab.until = datetime.now() + timedelta(minutes=1)
    lab.sacct = _sacct_lines(cluster, list(lab.ids.values()))
    return lab


# -- reading stores, sacct's values -----------------------------------------------------------


def _records(path: Path, tmp: Path) -> list[RunRecord]:
    """The runs of a store, read from a copy (a user's store stays theirs alone)."""
    tmp.mkdir(parents=True, exist_ok=True)
    copy = tmp / path.name
    for suffix in ("", "-wal"):
        if Path(f"{path}{suffix}").exists():
            shutil.copy(f"{path}{suffix}", f"{copy}{suffix}")
    with sqlite3.connect(copy) as conn:  # the copy's WAL folded in, as SQLite reads it
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return open_store(str(copy)).list_runs()


def _slurm(record: RunRecord) -> dict[str, Any]:
    value = record.config.get("slurm")
    return value if isinstance(value, dict) else {}


def _seconds(text: str) -> float:
    """sacct's ``[D-][HH:]MM:SS[.mmm]`` as seconds."""
    days, _, clock = text.rpartition("-")
    parts = [float(p) for p in clock.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0.0)
    return (int(days or 0) * 24 + parts[0]) * 3600 + parts[1] * 60 + parts[2]


def _bytes(text: str) -> int | None:
    """sacct's ``--noconvert`` ``ReqMem`` (``3072M``) as bytes."""
    if not text:
        return None
    units = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    number = text.rstrip("KMGTnc")
    unit = text[len(number) :].rstrip("nc")
    return int(float(number) * units.get(unit, 1))


def _cpu_s(record: RunRecord) -> float:
    assert record.footprint is not None, record.id
    return record.footprint.cpu_hours * 3600.0


def _utc(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _job_ids(runs: list[RunRecord]) -> Counter[str]:
    return Counter(str(_slurm(r).get("job_id")) for r in runs)


# -- the users' and the lab's stores ------------------------------------------------------


@dataclass
class Stores:
    """Every store of the module, as records, and the reports made of them."""

    user_runs: dict[str, list[RunRecord]]  # user -> the runs in their default store
    ingested: dict[str, list[RunRecord]]  # sacct shape -> a store filled by ingest alone
    sync_then_ingest: list[RunRecord]
    ingest_then_sync: list[RunRecord]
    reports: dict[str, Any]  # name -> a report's JSON
    outputs: dict[str, str]  # name -> a command's output


def _ok(done: Any, what: str) -> str:
    assert done.returncode == 0, f"{what}: rc {done.returncode}\n{done.stdout}\n{done.stderr}"
    return str(done.stdout)


@pytest.fixture(scope="module")
def stores(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Stores:
    """The users' stores, and lab stores filled in each order an administrator may use."""
    cluster, tmp = lab.cluster, tmp_path_factory.mktemp("stores")
    shared = cluster.base / "lab"
    shared.mkdir(mode=0o1777)
    shared.chmod(0o1777)  # the users sync into it
    window = ["--since", lab.since.isoformat(timespec="seconds")]
    window += ["--until", lab.until.isoformat(timespec="seconds")]
    outputs: dict[str, str] = {}

    def ingest(store: Path, *shape: str) -> None:
        done = cluster.impactlib("slurm", "ingest", *window, *shape, "--store", str(store))
        outputs[f"ingest {store.name} {' '.join(shape)}"] = _ok(done, f"ingest into {store}")

    def sync(store: Path) -> None:
        for user in USERS:
            done = cluster.impactlib("sync", "--to", str(store), user=user)
            outputs[f"sync {store.name} {user}"] = _ok(done, f"{user}'s sync into {store}")

    def lab_store(name: str) -> Path:
        path = shared / name
        open_store(str(path)).close()  # created by the administrator, writable by all
        path.chmod(0o666)
        return path

    ingested = {}
    for shape in ("auto", "parsable"):
        path = lab_store(f"ingest-{shape}.db")
        ingest(path, "--sacct", shape)
        ingested[shape] = _records(path, tmp / shape)
    first = lab_store("sync-then-ingest.db")
    sync(first)
    ingest(first)
    second = lab_store("ingest-then-sync.db")
    ingest(second)
    sync(second)
    ingest(second)
    sync(second)
    reports = {}
    for path in (first, second):
        done = cluster.impactlib("report", "--store", str(path), "--by", "user", "-f", "json")
        reports[f"by user {path.name}"] = json.loads(_ok(done, "report --by user"))
        done = cluster.impactlib(
            "report", "--store", str(path), "--by", "user", "--waste", "-f", "json"
        )
        reports[f"waste {path.name}"] = json.loads(_ok(done, "report --waste"))
        done = cluster.impactlib("report", "--store", str(path), "--by", "project", "-f", "json")
        reports[f"by project {path.name}"] = json.loads(_ok(done, "report --by project"))
    done = cluster.impactlib("report", "--format", "json", user=ALICE)
    reports[f"runs {ALICE}"] = json.loads(_ok(done, f"{ALICE}'s report --format json"))
    return Stores(
        user_runs={u: _records(cluster.store_of(u), tmp / u) for u in USERS},
        ingested=ingested,
        sync_then_ingest=_records(first, tmp / "first"),
        ingest_then_sync=_records(second, tmp / "second"),
        reports=reports,
        outputs=outputs,
    )


def _tracked_runs(lab: Lab, stores: Stores, key: str) -> dict[str, list[RunRecord]]:
    """The owner's runs of each job of ``key``, by job id."""
    runs = stores.user_runs[lab.owner(key)]
    return {
        row["JobID"]: [r for r in runs if _slurm(r).get("job_id") == row["JobID"]]
        for row in lab.jobs_of(key)
    }


# -- the cluster ------------------------------------------------------------------------


def test_the_cluster_starts_within_a_minute(slurm_cluster: SlurmCluster) -> None:
    assert slurm_cluster.started_in_s < 60.0


def test_sacct_knows_every_job_as_submitted(lab: Lab) -> None:
    """The jobs ran as meant (else the other checks check nothing): states and users."""
    states = {key: [row["State"].split()[0] for row in lab.jobs_of(key)] for key in lab.ids}
    assert states == {
        **{key: ["COMPLETED"] for key in JOBS},
        "failed": ["FAILED"],
        "failed-run": ["FAILED"],
        "array": ["COMPLETED", "COMPLETED"],
        "cancel-run": ["CANCELLED"],
        "cancel-exec": ["CANCELLED"],
        "pending": ["CANCELLED"],
        "linux-run": ["COMPLETED"],
    }
    assert lab.pending_when_cancelled == "PENDING"
    for key in lab.ids:
        assert {row["User"] for row in lab.jobs_of(key)} == {lab.owner(key)}


# -- what the trackers recorded -------------------------------------------------------------


@pytest.mark.parametrize("key", [*TRACKED, *CANCELLED, *LINUX_GATHER])
def test_a_tracked_job_has_one_record_naming_it_as_sacct_does(
    lab: Lab, stores: Stores, key: str
) -> None:
    for job_id, runs in _tracked_runs(lab, stores, key).items():
        row = lab.sacct[job_id]
        assert len(runs) == 1, f"{key} {job_id}: {len(runs)} records (two ranks: one per node)"
        slurm = _slurm(runs[0])
        assert (slurm["raw_job_id"], slurm["cluster"], slurm["account"]) == (
            row["JobIDRaw"],
            CLUSTER,
            row["Account"],
        )
        assert runs[0].user == row["User"]
        assert slurm["step"] == ("0" if key in STEPS else None)


@pytest.mark.parametrize("key", [*TRACKED, *LINUX_GATHER])
def test_a_tracked_job_s_state_and_time_are_sacct_s(lab: Lab, stores: Stores, key: str) -> None:
    """The record ends as the job did, and no later than it (a tracker runs inside it)."""
    status = {"COMPLETED": "completed", "FAILED": "failed"}
    for job_id, runs in _tracked_runs(lab, stores, key).items():
        row = lab.sacct[job_id]
        assert runs[0].status == status[row["State"].split()[0]], f"{key} {job_id}"
        assert runs[0].footprint is not None
        assert runs[0].footprint.duration_s <= float(row["ElapsedRaw"]) + 1.0, f"{key} {row}"


MEASURED = [k for k in TRACKED if k != "failed-run"]  # the failed run burns nothing


@pytest.mark.parametrize("key", MEASURED)
def test_a_tracked_job_measures_its_cgroup(lab: Lab, stores: Stores, key: str) -> None:
    """Under jobacct_gather/cgroup the tracker reads the job's v1 cgroup (SLURM names it
    ``slurm_<node>``), which holds ``srun`` steps and ranks the tracker did not start."""
    node = lab.cluster.node
    for job_id, runs in _tracked_runs(lab, stores, key).items():
        cgroup = _slurm(runs[0]).get("cgroup") or {}
        assert cgroup.get("version") == 1, f"{key}: no cgroup in {_slurm(runs[0])}"
        assert f"/slurm_{node}/uid_" in cgroup["cpu_file"]
        assert f"/job_{lab.sacct[job_id]['JobIDRaw']}/" in cgroup["cpu_file"]


@pytest.mark.parametrize("key", [*MEASURED, *LINUX_GATHER])
def test_a_tracked_job_s_cpu_time_is_sacct_s(lab: Lab, stores: Stores, key: str) -> None:
    """The tracker's CPU time is sacct's TotalCPU within a few % (the interpreter's start
    before the tracker's is all that differs), two ranks and ``srun`` steps included."""
    for job_id, runs in _tracked_runs(lab, stores, key).items():
        ours, theirs = _cpu_s(runs[0]), _seconds(lab.sacct[job_id]["TotalCPU"])
        assert ours == pytest.approx(theirs, rel=CPU_TOLERANCE), f"{key} {job_id}"


def test_a_tracked_job_is_charged_its_memory_allocation(lab: Lab, stores: Stores) -> None:
    """``--mem=2G`` is what the job holds, under either gather plugin (with
    ``jobacct_gather/linux`` the job has no cpuacct cgroup, only a memory one, and
    ``SLURM_MEM_PER_NODE``): the memory component draws 0.3725 W/GB of it."""
    for key in ("run", "linux-run"):
        (runs,) = _tracked_runs(lab, stores, key).values()
        fp = runs[0].footprint
        assert fp is not None
        memory_j = sum(c.energy_j for c in fp.components if c.component == "memory")
        expected = MEMORY_W_PER_GB * 2 * 2**30 / 1e9 * fp.duration_s
        assert memory_j == pytest.approx(expected, rel=0.1), key


def test_without_a_cpu_cgroup_the_record_says_so(lab: Lab, stores: Stores) -> None:
    """jobacct_gather/linux: no cpuacct cgroup, so the tracker measures the process tree;
    the record must say why (never a silent fallback)."""
    (runs,) = _tracked_runs(lab, stores, "linux-run").values()
    fp = runs[0].footprint
    assert fp is not None
    assert any("cgroup" in warning for warning in fp.warnings), fp.warnings


# Unmet (issue 17, "Signals as SLURM sends them"): a plain line is a race. slurmstepd sends
# SIGTERM to the batch shell only and SIGKILLs the step 0.2-17 ms after the shell dies;
# `impactlib run` learns of it through its parent-death signal and finishes in about 1 ms,
# which wins 4 times in 6 here. Not strict: it passes when the race is won. The lab's store
# is right either way (the next test): ingest finishes such a record from sacct's state.
PLAIN_LINE_RACE = pytest.mark.xfail(
    reason="issue 17 unmet: a non-exec'ed `impactlib run` can be SIGKILLed by slurmstepd "
    "before it finishes its record (docs/slurm.md, Cancellation and time limits)",
    strict=False,
)


@pytest.mark.parametrize(
    "key", [pytest.param(k, marks=PLAIN_LINE_RACE) if k == "cancel-run" else k for k in CANCELLED]
)
def test_scancel_finishes_the_record_of_a_tracked_job(lab: Lab, stores: Stores, key: str) -> None:
    """``impactlib run`` in a batch script, ``exec``ed or not: scancel's SIGTERM ends the
    record as cancelled, with the time it ran up to the signal (nothing lost beyond the
    last tick of one second)."""
    (runs,) = _tracked_runs(lab, stores, key).values()
    run = runs[0]
    assert run.status == "cancelled", f"{key}: {run.status}"
    assert run.ended_at is not None
    assert _utc(run.ended_at) >= lab.cancelled_at[key] - timedelta(seconds=1.5)


@pytest.mark.parametrize("order", ["sync_then_ingest", "ingest_then_sync"])
@pytest.mark.parametrize("key", CANCELLED)
def test_the_lab_store_holds_every_cancelled_run_as_cancelled(
    lab: Lab, stores: Stores, key: str, order: str
) -> None:
    """Where the race above was lost, the lab's store still says how the job ended: the
    ingest (or the sync after it) finishes a tracker's run left ``running`` from SLURM's
    accounting, as cancelled, at the job's end; in either order."""
    runs = getattr(stores, order)
    for job_id in _tracked_runs(lab, stores, key):
        (run,) = [r for r in runs if _slurm(r).get("job_id") == job_id and r.pid > 0]
        assert run.status == "cancelled", f"{key} ({order}): {run.status}"
        assert run.ended_at is not None
        assert _utc(run.ended_at) >= lab.cancelled_at[key] - timedelta(seconds=1.5)


def test_a_tracked_command_that_fails_is_a_failed_run(lab: Lab, stores: Stores) -> None:
    (runs,) = _tracked_runs(lab, stores, "failed-run").values()
    assert runs[0].status == "failed"


@pytest.mark.parametrize("key", TRACKED)
def test_a_tracked_job_s_project_is_its_account(lab: Lab, stores: Stores, key: str) -> None:
    """Under SLURM the project defaults to the job's account, as ingested jobs have it."""
    for job_id, runs in _tracked_runs(lab, stores, key).items():
        assert runs[0].project == lab.sacct[job_id]["Account"]


def _values(tree: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(tree, dict):
        for name, value in tree.items():
            yield name, value
            yield from _values(value)
    elif isinstance(tree, list):
        for item in tree:
            yield from _values(item)


def test_the_job_id_is_in_the_run_json_and_summary(lab: Lab, stores: Stores) -> None:
    """A user finds which job a run was: ``report --format json`` and the summary that
    ``impactlib run`` prints into the job's output name it."""
    job_id = lab.ids["run"]
    found = {value for name, value in _values(stores.reports[f"runs {ALICE}"]) if name == "job_id"}
    assert job_id in found
    output = (lab.cluster.home(ALICE) / f"slurm-{job_id}.out").read_text()
    assert job_id in output.split("saved to")[0], output


# -- what the administrator's ingest made of them -----------------------------------------------


@pytest.mark.parametrize("shape", ["auto", "parsable"])
def test_ingest_stores_each_job_with_sacct_s_fields(lab: Lab, stores: Stores, shape: str) -> None:
    runs = stores.ingested[shape]
    assert _job_ids(runs) == Counter(list(lab.sacct))  # each job once
    for run in runs:
        slurm = _slurm(run)
        row = lab.sacct[slurm["job_id"]]
        where = f"{shape} {slurm['job_id']}"
        assert (run.user, run.project, slurm["state"]) == (
            row["User"],
            row["Account"],
            row["State"].split()[0],
        ), where
        assert run.footprint is not None
        assert run.footprint.duration_s == float(row["ElapsedRaw"]), where
        assert _cpu_s(run) == pytest.approx(_seconds(row["TotalCPU"]), rel=0.01, abs=0.02), where
        assert slurm["name"] == row["JobName"], where


@pytest.mark.parametrize("shape", ["auto", "parsable"])
def test_ingest_keeps_the_requested_memory(lab: Lab, stores: Stores, shape: str) -> None:
    """``--mem`` as sacct's ReqMem, whatever output shape SLURM 22.05 gives."""
    asked = {row["JobID"] for key in MEMORY_ASKED for row in lab.jobs_of(key)}
    for run in stores.ingested[shape]:
        slurm = _slurm(run)
        if slurm["job_id"] in asked:
            row = lab.sacct[slurm["job_id"]]
            assert slurm["req_memory_bytes"] == _bytes(row["ReqMem"]), f"{shape} {row}"


@pytest.mark.parametrize("shape", ["auto", "parsable"])
def test_a_job_cancelled_while_pending_has_no_host(lab: Lab, stores: Stores, shape: str) -> None:
    """sacct names no node for it ("None assigned"): that is not a server of the lab."""
    (run,) = [r for r in stores.ingested[shape] if _slurm(r)["job_id"] == lab.ids["pending"]]
    assert lab.sacct[lab.ids["pending"]]["NodeList"] == "None assigned"
    assert run.host != "None assigned"
    assert run.footprint is not None and run.footprint.energy_j == 0.0


@pytest.mark.parametrize("order", ["sync_then_ingest", "ingest_then_sync"])
def test_each_job_is_counted_once_whatever_the_order(lab: Lab, stores: Stores, order: str) -> None:
    """Users' syncs and the administrator's ingests in either order: one run per job,
    the tracker's own where a tracker measured it."""
    runs = getattr(stores, order)
    assert _job_ids(runs) == Counter(list(lab.sacct))
    tracked = {
        row["JobID"] for key in (*TRACKED, *CANCELLED, *LINUX_GATHER) for row in lab.jobs_of(key)
    }
    for run in runs:
        slurm = _slurm(run)
        assert (slurm.get("source") == "sacct") == (slurm["job_id"] not in tracked), slurm


def _groups(report: dict[str, Any], by: str) -> dict[str, tuple[int, float]]:
    """group -> (runs, kWh) of ``report --by <by> --format json``."""
    return {row[by]: (row["runs"], row["energy_kwh"]) for row in report["groups"]}


def test_the_lab_totals_are_the_same_in_either_order(lab: Lab, stores: Stores) -> None:
    first = _groups(stores.reports["by user sync-then-ingest.db"], "user")
    second = _groups(stores.reports["by user ingest-then-sync.db"], "user")
    jobs = dict(Counter(row["User"] for row in lab.sacct.values()))
    runs = {
        order: {user: n for user, (n, _) in groups.items()}
        for order, groups in (("sync then ingest", first), ("ingest then sync", second))
    }
    assert runs == {"sync then ingest": jobs, "ingest then sync": jobs}
    for user in jobs:
        assert second[user][1] == pytest.approx(first[user][1], rel=1e-6), user


def test_report_by_project_is_by_account(lab: Lab, stores: Stores) -> None:
    """Tracked and ingested jobs of one account are one project."""
    projects = _groups(stores.reports["by project sync-then-ingest.db"], "project")
    accounts = Counter(row["Account"] for row in lab.sacct.values())
    assert {project: runs for project, (runs, _) in projects.items()} == dict(accounts)


def _waste(report: Any) -> dict[str, set[str]]:
    """job id -> the kinds of waste ``report --waste --format json`` lists for it."""
    found: dict[str, set[str]] = {}
    for _, value in _values({"report": report}):
        for line in value if isinstance(value, list) else []:
            if isinstance(line, dict) and {"job", "kind"} <= set(line):
                found.setdefault(str(line["job"]), set()).add(str(line["kind"]))
    return found


@pytest.mark.parametrize("store", ["sync-then-ingest.db", "ingest-then-sync.db"])
def test_waste_lists_failed_cancelled_and_unused_memory(
    lab: Lab, stores: Stores, store: str
) -> None:
    """Failed and cancelled jobs, tracked or not, and memory requested far above the peak
    (SLURM's default memory per CPU is no request)."""
    waste, ids = _waste(stores.reports[f"waste {store}"]), lab.ids
    missing = [
        key for key in ("failed", "failed-run", *CANCELLED, "pending") if ids[key] not in waste
    ]
    unused = [key for key in MEMORY_ASKED if "memory over-requested" not in waste.get(ids[key], ())]
    assert (missing, unused) == ([], []), f"{store}: {waste} (ids {ids})"
    assert "memory over-requested" not in waste.get(ids["untracked"], set()), waste


@pytest.mark.parametrize("shape", ["auto", "parsable"])
def test_a_pipe_in_a_job_name_stays_in_it(lab: Lab, stores: Stores, shape: str) -> None:
    (run,) = [r for r in stores.ingested[shape] if _slurm(r)["job_id"] == lab.ids["pipe-name"]]
    assert _slurm(run)["name"] == "a|b"
    assert "a|b" in run.command
