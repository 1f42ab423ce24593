"""The lab in a box, property-based: labs of random shape keep the same invariants.

Hypothesis draws the lab: how many users, how many runs each and in which months (metered
runs, put in each user's own store through the store's API), how many SLURM jobs (ingested
from a fake ``sacct``, estimated) and which CodeCarbon files are imported, where each
lands (a local store synced later, or the lab's database directly), and the order of every
ingest and sync, one store possibly synced twice. Every output is then read from the lab's
PostgreSQL database, in process for speed (the CLI through Click's runner, the dashboard's
API through Starlette's test client), and checked with ``tests/labchecks.py``.
"""

from __future__ import annotations

import csv
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from fakesacct import FakeSacct, Job, Step
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from labbox import CODECARBON, LAB_FORMATS, PARTITIONS, PERIOD, REPORT_FORMATS, new_database
from labchecks import CHECKS, pairs
from labview import LabView
from sample_runs import make_record, save_record
from typer.testing import CliRunner

from impactlib.cli.main import build_app
from impactlib.store import open_store

USERS = ("ann", "ben", "chen", "dominique")
MONTHS = ("2026-01", "2026-02", "2026-03")
JOBS = (  # finished jobs of the cluster's users, estimated from their partition
    Job(2001, "ann", "cpu", steps=[Step("batch", 1800.0, 2**20)]),
    Job(2002, "erin", "cpu", elapsed_s=600, steps=[Step("batch", 1200.0, 2**20)]),
)


@dataclass(frozen=True)
class Shape:
    """One lab: runs per user (their months), SLURM jobs, the CodeCarbon import, and the
    order of operations."""

    runs: dict[str, list[tuple[str, float]]]  # user -> (month, CPU joules) per run
    jobs: int
    codecarbon: tuple[Path, ...]  # the CodeCarbon files imported (in one command)
    direct: frozenset[str]  # "slurm", "codecarbon": written straight into the lab's store
    order: list[str]  # the operations, in order
    twice: str | None  # a local store synced a second time


@st.composite
def shapes(draw: st.DrawFn) -> Shape:
    users = draw(st.lists(st.sampled_from(USERS), min_size=1, max_size=3, unique=True))
    run = st.tuples(st.sampled_from(MONTHS), st.floats(1e3, 5e7))
    runs = {u: draw(st.lists(run, min_size=0, max_size=3)) for u in users}
    jobs = draw(st.integers(0, len(JOBS)))
    files = sorted(CODECARBON.parent.glob("emissions-*.csv"))
    codecarbon = tuple(sorted(draw(st.sets(st.sampled_from(files)))))
    direct = frozenset(draw(st.sets(st.sampled_from(("slurm", "codecarbon")))))
    writes = ["slurm"] * bool(jobs) + ["codecarbon"] * bool(codecarbon)
    local = [name for name in writes if name not in direct]
    operations = [*writes, *(f"sync {name}" for name in [*users, *local])]
    order = list(draw(st.permutations(operations)))
    for name in local:  # a local store is synced after what writes it
        write, sync = order.index(name), order.index(f"sync {name}")
        if sync < write:
            order[write], order[sync] = order[sync], order[write]
    syncs = [op.removeprefix("sync ") for op in order if op.startswith("sync ")]
    twice = draw(st.sampled_from([None, *syncs]))
    return Shape(runs, jobs, codecarbon, direct, order, twice)


def invoke(*args: str, env: dict[str, str] | None = None) -> str:
    """``impactlib ARGS`` in process at 80 columns; its stdout (it must succeed)."""
    result = CliRunner().invoke(build_app(), list(args), env={"COLUMNS": "80", **(env or {})})
    assert result.exit_code == 0, f"impactlib {' '.join(args)}: {result.output}"
    return result.stdout


def build(shape: Shape, folder: Path, url: str) -> LabView:
    """Make the lab ``shape`` describes, in its order; the view of every output."""
    expected: set[str] = set()
    slurm_ids: list[str] = []
    stores = {name: str(folder / f"{name}.db") for name in [*shape.runs, "slurm", "codecarbon"]}
    for user, runs in shape.runs.items():
        store = open_store(stores[user])  # each user's own store, through the store's API
        for index, (month, cpu_j) in enumerate(runs):
            run_id = f"{user[:4]}{index:04d}"  # tables name a run by its first 8 characters
            record = make_record(run_id, project=f"p{index % 2}", cpu_j=cpu_j, gpu_j=0)
            assert record.footprint is not None
            start = f"{month}-1{index}T09:00:00+00:00"
            end = f"{month}-1{index}T11:00:00+00:00"
            fp = replace(record.footprint, started_at=start, ended_at=end)
            record = replace(record, user=user, started_at=start, ended_at=end, footprint=fp)
            save_record(store, record)
            expected.add(record.id)
    sacct = FakeSacct(folder / "sacct")
    sacct.answer(list(JOBS[: shape.jobs]))
    partitions = folder / "partitions.toml"
    partitions.write_text(PARTITIONS)

    def write(name: str) -> None:
        where = url if name in shape.direct else stores[name]
        if name == "slurm":
            env = {"PATH": sacct.path, "TZ": "UTC", "IMPACTLIB_COUNTRY": "FR"}
            table = ("--slurm-partitions", str(partitions))
            invoke("slurm", "ingest", *PERIOD, *table, "--store", where, env=env)
        else:
            who = ("--user", "eve", "--utc")
            files = [str(path) for path in shape.codecarbon]
            invoke("import", "codecarbon", *files, *who, "--store", where)

    for operation in shape.order:
        if operation.startswith("sync "):
            name = operation[5:]
            for _ in range(2 if shape.twice == name else 1):
                invoke("sync", "--to", url, "--store", stores[name])
        else:
            write(operation)
    if shape.jobs:
        slurm_store = url if "slurm" in shape.direct else stores["slurm"]
        slurm_ids = [r.id for r in open_store(slurm_store).list_runs() if r.config.get("slurm")]
        expected.update(slurm_ids)
    for path in shape.codecarbon:
        with path.open(newline="") as fh:
            expected.update(row["run_id"] for row in csv.DictReader(fh))
    outputs = {}
    for f in REPORT_FORMATS:
        outputs[f"report {f}"] = invoke("report", "--store", url, "--format", f)
    for f in LAB_FORMATS:
        outputs[f"lab report {f}"] = invoke("report", "--store", url, "--by", "user,month", "-f", f)
    outputs["lab summary"] = invoke("export", "--store", url, "--format", "lab-summary")
    records = open_store(url).list_runs()
    return LabView(
        records=records,
        expected_ids=expected,
        outputs=outputs,
        dashboard=dashboard_totals(url),
        slurm_jobs={r.id: r.config["slurm"]["job_id"] for r in records if r.id in slurm_ids},
        country_given=set(slurm_ids),
    )


def dashboard_totals(url: str) -> dict[str, object]:
    """What the dashboard's page fetches, through its application."""
    from starlette.testclient import TestClient

    from impactlib.server.dashboard import create_app

    with TestClient(create_app(open_store(url))) as client:
        answer = client.get("/api/totals")
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


@settings(
    max_examples=10,
    deadline=None,
    # Each example builds a whole lab: no shrinking (its failure lists every output that
    # disagrees), and the session's PostgreSQL server outlives the examples.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(shape=shapes())
def test_random_labs_keep_every_invariant(postgres_server: str, shape: Shape) -> None:
    total = sum(len(r) for r in shape.runs.values()) + shape.jobs + len(shape.codecarbon)
    assume(total > 0)  # an empty lab has no total to agree on
    with tempfile.TemporaryDirectory() as folder:
        view = build(shape, Path(folder), new_database(postgres_server))
        failures = []
        for check, output in pairs(live=False):
            try:
                CHECKS[check](view, output)
            except AssertionError as exc:
                failures.append(f"[{check}: {output}] {exc}")
        assert not failures, f"{len(failures)} invariant(s) broken:\n" + "\n".join(failures)
