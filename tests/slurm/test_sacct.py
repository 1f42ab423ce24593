"""sacct read through a fake executable on PATH, in the JSON and -P shapes of recent SLURM."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from fakesacct import FakeSacct, Job, Step, as_json, cluster_jobs, parsable

from impactlib.slurm.sacct import (
    FIELDS,
    SacctError,
    SacctWindow,
    parse_duration,
    parse_json,
    parse_parsable,
    parse_size,
    parse_tres,
    read_sacct,
)

WINDOW = SacctWindow(datetime(2025, 11, 1), datetime(2025, 12, 1))


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeSacct:
    fake = FakeSacct(tmp_path)
    monkeypatch.setenv("PATH", fake.path)
    return fake


def test_both_shapes_give_the_same_jobs_steps_folded_in() -> None:
    jobs = parse_json(as_json(cluster_jobs()))
    assert jobs == parse_parsable(parsable(cluster_jobs()))
    by_id = {j.job_id: j for j in jobs}
    assert sorted(by_id) == ["1001", "1002_1", "1002_2", "1003", "1004", "1005", "1006", "1007"]
    gpu = by_id["1001"]
    assert gpu.name == "train|v2" and gpu.user == "alice"  # the "|" stayed in the name
    assert gpu.cpu_s == pytest.approx(36000.0)  # batch + step 0
    assert gpu.max_rss_bytes == 20 * 2**30  # the largest step
    assert gpu.energy_j == 500_000  # the largest line: steps overlap in time
    assert (gpu.alloc_cpus, gpu.alloc_gpus, gpu.gpu_util_pct) == (8, 2, 120.0)
    assert gpu.req_memory_bytes == 32768 * 2**20
    assert by_id["1002_2"].state == "CANCELLED"  # "CANCELLED by 1001"
    assert by_id["1003"].energy_j is None  # 0 means no energy plugin, not zero joules
    assert not by_id["1006"].finished and by_id["1006"].end is None
    assert by_id["1005"].start == "2025-11-30T10:00:00.000+00:00"


def test_json_is_read_where_sacct_has_it(fake: FakeSacct) -> None:
    fake.answer(cluster_jobs())
    read = read_sacct(WINDOW)
    assert read.shape == "json" and len(read.jobs) == 8
    call = fake.calls()[-1]
    assert "--json" in call and "--allusers" in call
    assert call[call.index("-S") + 1] == "2025-11-01T00:00:00"
    assert call[call.index("-E") + 1] == "2025-12-01T00:00:00"


def test_parsable_output_where_sacct_has_no_json(fake: FakeSacct) -> None:
    fake.answer(cluster_jobs(), json_too=False)
    read = read_sacct(WINDOW)
    assert read.shape == "parsable"
    assert read.jobs == parse_json(as_json(cluster_jobs()))
    call = fake.calls()[-1]
    assert "--parsable2" in call and "--noconvert" in call and "-S" in call and "-E" in call
    assert f"--format={','.join(FIELDS)}" in call
    assert read_sacct(WINDOW, "parsable").shape == "parsable"


def test_json_asked_for_where_sacct_has_none_is_one_clear_error(fake: FakeSacct) -> None:
    fake.answer(cluster_jobs(), json_too=False)
    with pytest.raises(SacctError, match=r"sacct failed \(exit 1: sacct: unrecognized option"):
        read_sacct(WINDOW, "json")


def test_missing_and_failing_sacct(fake: FakeSacct, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.fail("sacct: error: Problem talking to the database: Connection refused\n")
    with pytest.raises(SacctError, match="Connection refused.*sacctmgr show cluster"):
        read_sacct(WINDOW)
    monkeypatch.setenv("PATH", str(fake.folder))  # no sacct there
    with pytest.raises(SacctError, match="sacct was not found on PATH"):
        read_sacct(WINDOW)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("JobID|User\n1|x\n", "line 1"),  # another header: fields asked for were not given
        ("|".join(FIELDS) + "\n1001|hpc|alice\n", "line 2"),  # too few fields
        ("|".join(FIELDS) + "\nabc" + "|x" * (len(FIELDS) - 1) + "\n", "line 2"),
        (
            parsable([Job(5, "u", "cpu", steps=[Step("batch", 1.0)])]).replace("|3600|", "|1:00|"),
            "line 2",
        ),
    ],
)
def test_a_malformed_parsable_line_is_named(text: str, where: str) -> None:
    with pytest.raises(
        SacctError, match=f"sacct output {where} is malformed.*nothing was ingested"
    ):
        parse_parsable(text)


def test_steps_without_their_job_line_are_malformed() -> None:
    lines = parsable([Job(5, "u", "cpu", steps=[Step("batch", 1.0)])]).splitlines()
    with pytest.raises(SacctError, match="line 2 is malformed.*steps of job 5 without"):
        parse_parsable("\n".join([lines[0], lines[2]]))


@pytest.mark.parametrize("text", ["{not json", '{"jobs": 3}', '{"jobs": [{"name": "x"}]}'])
def test_malformed_json_is_one_clear_error(text: str) -> None:
    with pytest.raises(SacctError, match="malformed"):
        parse_json(text)


def test_units_durations_and_tres() -> None:
    assert parse_size("4000M", "M") == 4000 * 2**20
    assert parse_size("1257496K", "") == 1257496 * 1024
    assert parse_size("2048", "M") == 2048 * 2**20
    assert parse_size("4Gn", "M", cpus=8, nodes=2) == 8 * 2**30  # old per-node suffix
    assert parse_size("2Gc", "M", cpus=8, nodes=2) == 16 * 2**30  # old per-CPU suffix
    assert parse_size("", "M") is None
    assert parse_duration("1-02:03:04.500") == pytest.approx(93784.5)
    assert parse_duration("03:04.250") == pytest.approx(184.25)
    assert parse_duration("") == 0.0
    assert parse_tres("cpu=8,mem=64G,gres/gpu=2") == {"cpu": "8", "mem": "64G", "gres/gpu": "2"}
    with pytest.raises(ValueError):
        parse_size("lots", "M")
