"""Every SLURM version's ``sacct`` output shape gives the same records.

The recorded outputs of 22.05 (openapi/dbv0.0.38), 23.02 (data_parser v0.0.39), 23.11,
24.05, 24.11 and 25.05 (v0.0.40 to v0.0.43), ``--json`` and ``-P``, hold the same ten jobs:
completed, failed with exit 3, cancelled while running, cancelled while pending, an array
task, a name with ``|``, ``--mem=8G`` with a small peak, SLURM's default memory only
(DefMemPerCPU=1000, ``-c 2``), ``srun`` steps and two ranks.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from clihelp import cli
from fakesacct import VERSIONS, FakeSacct, recorded, recorded_scontrol

from impactlib.config import load_config
from impactlib.slurm import ingest as slurm_ingest
from impactlib.slurm.sacct import (
    UNCHECKED_NOTE,
    DefaultMemory,
    MemoryDefaults,
    SacctError,
    SacctJob,
    SacctWindow,
    parse_json,
    parse_memory_defaults,
    parse_parsable,
    read_sacct,
)
from impactlib.store import open_store

MIB = 2**20
WINDOW = SacctWindow(datetime(2026, 12, 7), datetime(2026, 12, 8))
PERIOD = ["--since", "2026-12-07", "--until", "2026-12-08"]


class Record(NamedTuple):
    """What each version must agree on, for one job."""

    job_id: str
    raw_job_id: str
    user: str
    account: str | None
    state: str
    elapsed_s: float
    cpu_s: float
    req_memory_bytes: int | None
    max_rss_bytes: int | None
    nodes: str | None


EXPECTED = [
    Record("201", "201", "alice", "lab", "COMPLETED", 20, 19.538, 2048 * MIB, 118 * MIB, "vm"),
    Record("202", "202", "alice", "lab", "FAILED", 5, 0.013, 1500 * MIB, 3 * MIB, "vm"),
    Record("203", "203", "bob", "physics", "CANCELLED", 10, 9.871, 1024 * MIB, 40 * MIB, "vm"),
    Record("204", "204", "alice", "lab", "CANCELLED", 0, 0.0, 1024 * MIB, None, None),
    Record("205_1", "206", "bob", "physics", "COMPLETED", 10, 9.471, 1024 * MIB, 30 * MIB, "vm"),
    Record("207", "207", "bob", "physics", "COMPLETED", 1, 0.008, 1024 * MIB, 2 * MIB, "vm"),
    Record("208", "208", "bob", "physics", "COMPLETED", 15, 0.31, 8192 * MIB, 61 * MIB, "vm"),
    Record("209", "209", "alice", "lab", "COMPLETED", 12, 11.251, None, 25 * MIB, "vm"),
    Record("210", "210", "alice", "lab", "COMPLETED", 16, 16.066, 3072 * MIB, 150 * MIB, "vm"),
    Record("211", "211", "bob", "physics", "COMPLETED", 11, 20.071, 2048 * MIB, 90 * MIB, "vm"),
]


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``-P`` prints the cluster's local time; the recordings were made on a UTC machine."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _defaults() -> MemoryDefaults:
    return parse_memory_defaults(*recorded_scontrol())


def _records(jobs: list[SacctJob]) -> list[Record]:
    return [
        Record(
            j.job_id,
            j.raw_job_id,
            j.user,
            j.account,
            j.state,
            j.elapsed_s,
            round(j.cpu_s, 3),
            j.req_memory_bytes,
            j.max_rss_bytes,
            j.nodes,
        )
        for j in jobs
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_json_and_parsable_of_every_version_give_the_same_records(version: str) -> None:
    found = recorded(version)
    from_json = parse_json(found.json_text, _defaults())
    assert from_json == parse_parsable(found.parsable_text, _defaults())
    assert _records(from_json) == EXPECTED
    by_id = {j.job_id: j for j in from_json}
    assert by_id["207"].name == "a|b"  # the "|" stayed in the name
    assert by_id["205_1"].name == "sweep"
    assert {j.cluster for j in from_json} == {"testcluster"}


@pytest.mark.parametrize("version", VERSIONS)
def test_requested_memory_is_the_job_total_whatever_the_unit_sacct_prints(version: str) -> None:
    """22.05's JSON ``required.memory`` is 1000 for 1000 MB per CPU and 8192 for 8 GiB per
    node; 23.02's carries the per-CPU flag bit: the job's total is read from neither."""
    jobs = {j.job_id: j for j in parse_json(recorded(version).json_text)}
    assert jobs["208"].req_memory_bytes == 8192 * MIB  # --mem=8G, per node
    assert jobs["202"].req_memory_bytes == 1500 * MIB  # --mem-per-cpu=1500, one CPU
    assert jobs["201"].req_memory_bytes == 2048 * MIB


@pytest.mark.parametrize("version", VERSIONS)
def test_default_memory_is_no_request(version: str) -> None:
    """Job 209 asked for no memory: SLURM recorded DefMemPerCPU x 2 CPUs as its request."""
    found = recorded(version)
    for jobs in (parse_json(found.json_text, _defaults()), parse_parsable(found.parsable_text)):
        job = {j.job_id: j for j in jobs}["209"]
        assert job.alloc_memory_bytes == 2000 * MIB  # still allocated, so still powered
    kinds = {j.job_id: j.req_memory_kind for j in parse_json(found.json_text, _defaults())}
    assert kinds["209"] == "default"
    assert {kinds[k] for k in kinds if k != "209"} == {"asked"}
    unchecked = {j.job_id: j for j in parse_json(found.json_text)}["209"]
    assert (unchecked.req_memory_bytes, unchecked.req_memory_kind) == (2000 * MIB, "unchecked")


def test_a_partition_s_default_comes_before_the_cluster_s() -> None:
    defaults = _defaults()
    assert defaults.cluster == DefaultMemory(per_cpu_mb=1000)
    assert defaults.partitions["debug"] == DefaultMemory()  # UNLIMITED: the cluster's
    assert defaults.partitions["big"] == DefaultMemory(per_node_mb=16000)
    assert defaults.is_default("debug", 2000, cpus=2, nodes=1)
    assert not defaults.is_default("debug", 2048, cpus=2, nodes=1)
    assert defaults.is_default("big", 32000, cpus=4, nodes=2)
    assert not defaults.is_default("big", 4000, cpus=4, nodes=1)
    none = parse_memory_defaults("DefMemPerNode = UNLIMITED\n", "")
    assert not none.is_default("debug", 1000, cpus=1, nodes=1)


@pytest.mark.parametrize("version", ["22.05", "25.05"])
def test_read_sacct_tells_defaults_through_scontrol(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    fake = FakeSacct(tmp_path)
    monkeypatch.setenv("PATH", fake.path)
    fake.answer_recorded(version)
    for shape in ("json", "parsable"):
        read = read_sacct(WINDOW, shape)
        assert (read.shape, read.notes) == (shape, ())
        assert _records(read.jobs) == EXPECTED
    fake.answer_recorded(version, scontrol=False)
    (fake.folder / "scontrol-config.out").unlink()
    read = read_sacct(WINDOW)
    assert read.notes == (UNCHECKED_NOTE,)  # said, not silent
    assert {j.job_id: j.req_memory_bytes for j in read.jobs}["209"] == 2000 * MIB


def _ingest(fake: FakeSacct, store: Path, *args: str) -> Any:
    env = {"PATH": fake.path, "TZ": "UTC", "IMPACTLIB_COUNTRY": "FR"}
    result = cli("slurm", "ingest", "--store", str(store), *PERIOD, *args, env=env)
    assert result.returncode == 0, result.stderr
    return result


def _waste(store: Path) -> dict[str, set[str]]:
    result = cli("report", "--store", str(store), "--by", "user", "--waste", "--format", "json")
    assert result.returncode == 0, result.stderr
    found: dict[str, set[str]] = {}

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if {"job", "kind"} <= set(value):
                found.setdefault(str(value["job"]), set()).add(str(value["kind"]))
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(json.loads(result.stdout))
    return found


@pytest.mark.parametrize("version", ["22.05", "23.02", "25.05"])
@pytest.mark.parametrize("shape", ["auto", "parsable"])
def test_ingested_waste_and_hosts_through_the_cli(tmp_path: Path, version: str, shape: str) -> None:
    """Over-requested memory shows on 22.05's JSON too; the default memory job is not
    "over-requested"; the job cancelled while pending is on no host."""
    fake = FakeSacct(tmp_path)
    fake.answer_recorded(version)
    store = tmp_path / "lab.db"
    _ingest(fake, store, "--sacct", shape)
    waste = _waste(store)
    assert "memory over-requested" in waste["208"]
    assert "memory over-requested" not in waste.get("209", set())
    assert "failed job" in waste["202"]
    runs = {r.config["slurm"]["job_id"]: r for r in open_store(str(store)).list_runs()}
    assert len(runs) == len(EXPECTED)
    assert runs["204"].host != "None assigned"
    assert {r.host for r in runs.values()} <= {"vm", "testcluster"}
    assert runs["207"].command == "slurm job 207: a|b"


@pytest.mark.parametrize("size", [1, 7, 4096])
def test_json_read_in_pieces_gives_the_same_jobs(size: int) -> None:
    """sacct's JSON is decoded as it arrives, a job at a time, whatever the cut."""
    text = recorded("24.11").json_text
    moved = text.replace('"jobs": [', '"meta_first": {"a": [1, 2]}, "jobs": [', 1)
    pieces = [moved[i : i + size] for i in range(0, len(moved), size)]
    assert parse_json(pieces, _defaults()) == parse_json(text, _defaults())


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('{\n  "jobs": [\n    {"job_id": 1},\n    {"job_id": 2,,}\n  ]\n}\n', 4),
        ('{\n  "jobs": [\n    {"job_id": 1}\n  ]\n}\n}', 6),
        ('{\n  "jobs": {"job_id": 1}\n}\n', 2),
    ],
)
def test_malformed_json_names_its_line_in_the_whole_text(text: str, line: int) -> None:
    pieces = [text[i : i + 5] for i in range(0, len(text), 5)]
    for given in (text, pieces):
        with pytest.raises(SacctError, match=f"sacct output line {line} is malformed"):
            parse_json(given)


def test_a_step_line_away_from_its_job_is_malformed() -> None:
    header, *lines = recorded("22.05").parsable_text.splitlines()
    lines.insert(len(lines) - 1, lines.pop(1))  # 201.batch among job 211's lines
    with pytest.raises(SacctError, match=r"line \d+ is malformed.*steps of job 201 without"):
        parse_parsable("\n".join([header, *lines]))


def test_a_large_read_is_written_in_batches_each_job_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A month of a large cluster is written a batch at a time (memory stays bounded):
    every job stored once, and ingesting again changes nothing."""
    monkeypatch.setattr(slurm_ingest, "WRITE_BATCH", 3)
    store = open_store(str(tmp_path / "lab.db"))
    jobs = parse_json(recorded("23.11").json_text, _defaults())
    first = slurm_ingest.ingest(jobs, store, load_config({"country": "FR"}))
    assert [o.outcome for o in first] == ["added"] * len(EXPECTED)
    assert sorted(r.config["slurm"]["job_id"] for r in store.list_runs()) == sorted(
        r.job_id for r in EXPECTED
    )
    again = slurm_ingest.ingest(jobs, store, load_config({"country": "FR"}))
    assert [o.outcome for o in again] == ["already stored"] * len(EXPECTED)
