"""Two users' local stores synced twice into a central store (SQLite and a real PostgreSQL):
every run once, a run still running when first copied caught up, and the lab report's
totals equal to the sums of the runs."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from clihelp import assert_one_line_error, cli
from sample_runs import make_record, make_series, save_record

from impactlib.footprint import Footprint
from impactlib.store import RunRecord, Store, open_store
from impactlib.store.rollup import Selection, lab_totals, refresh, unattributed
from impactlib.store.sync import sync


def _local_store(path: Path, user: str, months: list[str]) -> list[RunRecord]:
    """A node's store with one finished run per month, each with its per-minute series."""
    store = open_store(str(path))
    runs = []
    for i, month in enumerate(months):
        base = make_record(f"{user}-{i}", project=f"p{i % 2}", cpu_j=1e6 * (i + 1))
        fp = replace(base.footprint, started_at=f"{month}-01T10:00:00+00:00")
        record = replace(base, user=user, started_at=fp.started_at, footprint=fp)
        save_record(store, record)
        series = [replace(r, minute=f"{month}{r.minute[7:]}") for r in make_series(record.id)]
        store.checkpoint(record.id, "completed", fp, series)
        runs.append(record)
    store.close()
    return runs


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def central(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "central.db")
    return str(request.getfixturevalue("postgres_url"))


def test_two_users_synced_twice_give_each_run_once_and_totals_add_up(
    central: str, tmp_path: Path
) -> None:
    alice = _local_store(tmp_path / "alice.db", "alice", ["2026-01", "2026-02", "2026-02"])
    bob = _local_store(tmp_path / "bob.db", "bob", ["2026-02", "2026-03"])
    for _ in range(2):
        for local in ("alice.db", "bob.db"):
            result = cli("sync", "--to", central, "--store", str(tmp_path / local))
            assert result.returncode == 0, result.stderr
    assert "0 new run(s), 0 updated, 2 already there" in result.stdout
    dest = open_store(central)
    stored = dest.list_runs()
    assert sorted(r.id for r in stored) == sorted(r.id for r in alice + bob)
    assert all(len(dest.series(r.id)) == 90 for r in stored)

    report = cli("report", "--by", "user,month", "--format", "json", "--store", central)
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    for user, runs in (("alice", alice), ("bob", bob)):
        for month in {r.started_at[:7] for r in runs}:
            mine = [r for r in runs if r.started_at[:7] == month]
            (group,) = [g for g in data["groups"] if (g["user"], g["month"]) == (user, month)]
            assert group["runs"] == len(mine)
            assert group["energy_kwh"] == pytest.approx(sum(_fp(r).energy_kwh for r in mine))
            assert group["emissions_kg"] == pytest.approx(sum(_fp(r).emissions_kg for r in mine))
            assert group["cpu_hours"] == pytest.approx(sum(_fp(r).cpu_hours for r in mine))
    everything = alice + bob
    assert data["total"]["runs"] == 5
    assert data["total"]["energy_kwh"] == pytest.approx(sum(_fp(r).energy_kwh for r in everything))
    assert data["total"]["measured_share"] == pytest.approx(1.0)  # RAPL + NVML samples


def _fp(record: RunRecord) -> Footprint:
    assert record.footprint is not None
    return record.footprint


def test_a_run_still_running_when_first_synced_is_updated_when_it_finishes(
    central: str, tmp_path: Path
) -> None:
    local = open_store(str(tmp_path / "node.db"))
    record = make_record("long-job")
    local.insert_run(record, 10.0)
    first_half = make_series(record.id, minutes=10)
    local.checkpoint(record.id, "running", _fp(record), first_half)
    dest = open_store(central)
    assert sync(local, dest).copied == 1
    assert dest.get_run(record.id) is not None and len(dest.series(record.id)) == 30

    local.checkpoint(record.id, "completed", _fp(record), make_series(record.id, minutes=30))
    result = sync(local, dest)
    assert (result.copied, result.updated) == (0, 1)
    copied = dest.get_run(record.id)
    assert copied is not None and copied.status == "completed"
    assert len(dest.series(record.id)) == 90
    assert dest.series(record.id) == local.series(record.id)
    assert sync(local, dest).series_rows == 0  # nothing left to copy


def test_sync_resumes_after_an_interruption(tmp_path: Path) -> None:
    runs = _local_store(tmp_path / "node.db", "carol", ["2026-01", "2026-02", "2026-03"])
    local, dest = open_store(str(tmp_path / "node.db")), open_store(str(tmp_path / "c.db"))

    class Stop(Exception):
        pass

    def interrupt(done: int, total: int) -> None:
        if done == 2:
            raise Stop

    with pytest.raises(Stop):
        sync(local, dest, progress=interrupt)
    assert len(dest.list_runs()) == 2  # whole runs, each in its own transaction
    result = sync(local, dest)
    assert (result.copied, result.unchanged) == (1, 2)
    assert sorted(r.id for r in dest.list_runs()) == sorted(r.id for r in runs)


def test_daemon_minutes_are_synced_and_reported_as_unattributed(tmp_path: Path) -> None:
    local, dest = open_store(str(tmp_path / "node.db")), open_store(str(tmp_path / "c.db"))
    rows = [
        {
            "host": "gpu1",
            "minute": f"2026-02-01T00:{m:02d}:00+00:00",
            "kind": kind,
            "name": "",
            "domain": "cpu:package-0",
            "energy_j": joules,
            "floor_w": None,
            "quality": "measured",
        }
        for m in range(3)
        for kind, joules in (("machine", 3.6e6), ("unattributed", 1.8e6))
    ]
    local.add_host_minutes(rows)
    assert sync(local, dest).host_minute_rows == 6
    assert sync(local, dest).host_minute_rows == 2  # the last minute again: it may still grow
    data = json.loads(
        cli("report", "--by", "host,month", "-f", "json", "--store", str(tmp_path / "c.db")).stdout
    )
    assert data["unattributed"] == [
        {
            "host": "gpu1",
            "month": "2026-02",
            "measured_kwh": pytest.approx(3.0),
            "unattributed_kwh": pytest.approx(1.5),
            "estimated_kwh": pytest.approx(0.0),
        }
    ]


def test_rollups_split_a_run_across_months_and_follow_updates(tmp_path: Path) -> None:
    store: Store = open_store(str(tmp_path / "s.db"))
    record = save_record(store, make_record("crossing"))
    series = make_series(record.id, minutes=4)
    series = [replace(r, minute="2026-01-31T23:5" + r.minute[15:]) for r in series[:6]] + [
        replace(r, minute="2026-02-01T00:0" + r.minute[15:]) for r in series[6:]
    ]
    store.checkpoint(record.id, "completed", _fp(record), series)
    refresh(store)
    lines = lab_totals(store, ("month",), Selection())
    assert [line.keys["month"] for line in lines] == ["2026-01", "2026-02"]
    assert sum(line.energy_kwh for line in lines) == pytest.approx(_fp(record).energy_kwh)
    assert [line.runs for line in lines] == [1, 1]
    assert lab_totals(store, (), Selection())[0].runs == 1
    bigger = replace(_fp(record), pue=3.0)
    store.checkpoint(record.id, "completed", bigger, [])
    refresh(store)
    assert lab_totals(store, (), Selection())[0].energy_kwh == pytest.approx(bigger.energy_kwh)


def test_a_checkpoint_in_the_same_instant_is_still_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rollups and sync tell a changed run by a newer ``updated_at``: two checkpoints in one
    clock reading (a flush, then stop(), or a clock stepped back) must still differ."""
    store: Store = open_store(str(tmp_path / "s.db"))
    frozen = datetime(2026, 2, 1, tzinfo=timezone.utc)
    monkeypatch.setattr("impactlib.store.base.now_utc", lambda: frozen)
    record = save_record(store, make_record("frozen"))
    refresh(store)
    bigger = replace(_fp(record), pue=3.0)
    store.checkpoint(record.id, "completed", bigger, [])
    refresh(store)
    assert lab_totals(store, (), Selection())[0].energy_kwh == pytest.approx(bigger.energy_kwh)
    monkeypatch.setattr("impactlib.store.base.now_utc", lambda: frozen - timedelta(hours=1))
    store.checkpoint(record.id, "completed", _fp(record), [])
    refresh(store)
    assert lab_totals(store, (), Selection())[0].energy_kwh == pytest.approx(_fp(record).energy_kwh)


def test_unreachable_database_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    url = "postgresql+psycopg://impact@127.0.0.1:1/lab"
    _local_store(tmp_path / "node.db", "dave", ["2026-01"])
    for args in (
        ("sync", "--to", url, "--store", str(tmp_path / "node.db")),
        ("db", "upgrade", "--store", url),
        ("report", "--by", "user", "--store", url),
    ):
        result = cli(*args)
        assert_one_line_error(result, "cannot open the store", "127.0.0.1:1", "check the URL")


def test_daemon_increments_keep_the_monthly_rollup_current(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "node.db"))
    row = {
        "host": "n1",
        "minute": "2026-05-31T23:59:00+00:00",
        "kind": "unattributed",
        "name": "",
        "domain": "cpu:package-0",
        "energy_j": 3.6e6,
        "floor_w": None,
        "quality": "measured",
    }
    store.add_host_minutes([row])
    store.add_host_minutes([row, {**row, "minute": "2026-06-01T00:00:00+00:00"}])
    lines = {
        u.keys["month"]: u.unattributed_kwh for u in unattributed(store, ("month",), Selection())
    }
    assert lines == {"2026-05": pytest.approx(2.0), "2026-06": pytest.approx(1.0)}
