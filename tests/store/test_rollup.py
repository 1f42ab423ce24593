"""Monthly rollups say "measured" only of energy a meter read: a daemon that models the CPU
(``cpu:model``) adds to the servers' *estimated* energy, by increments, by a sync's re-roll
and in a store written before the quality was kept."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from impactlib.footprint import (
    ChargedTo,
    Component,
    ComponentEnergy,
    Extent,
    Footprint,
    Method,
    Quality,
    Status,
)
from impactlib.store import RunRecord, open_store, schema
from impactlib.store.rollup import Selection, lab_totals, refresh, reroll_host, unattributed
from impactlib.store.sync import put_runs

KWH = 3.6e6


def minute_rows(host: str, domain: str, quality: str) -> list[dict[str, object]]:
    """One minute of a daemon: the domain's whole energy (1 kWh) and what nobody held."""
    return [
        {
            "host": host,
            "minute": "2026-03-01T10:00:00+00:00",
            "kind": kind,
            "name": "",
            "domain": domain,
            "energy_j": joules,
            "floor_w": None,
            "quality": quality,
        }
        for kind, joules in (("machine", KWH), ("unattributed", 0.25 * KWH))
    ]


def test_modelled_machine_energy_is_estimated_not_measured(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "s.db"))
    store.add_host_minutes(minute_rows("modelled", "cpu:model", "estimated"))
    store.add_host_minutes(minute_rows("metered", "cpu:package-0", "measured"))

    def lines() -> dict[str, tuple[float, float, float]]:
        return {
            u.keys["host"]: (u.measured_kwh, u.estimated_kwh, u.unattributed_kwh)
            for u in unattributed(store, ("host",), Selection())
        }

    expected = {
        "modelled": (pytest.approx(0.0), pytest.approx(1.0), pytest.approx(0.25)),
        "metered": (pytest.approx(1.0), pytest.approx(0.0), pytest.approx(0.25)),
    }
    assert lines() == expected  # the daemon's increments
    for host in ("modelled", "metered"):
        reroll_host(store, host, "2026-03")
    assert lines() == expected  # rolled again from the minutes, as a sync does


def test_a_store_from_before_the_quality_is_upgraded_when_opened(tmp_path: Path) -> None:
    """A schema-2 file (no quality, modelled energy summed as measured) opens with its
    modelled rows estimated and its monthly rollup rolled again."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE host_minutes (host TEXT NOT NULL, minute TEXT NOT NULL, kind TEXT NOT NULL,
            name TEXT NOT NULL, domain TEXT NOT NULL, energy_j DOUBLE PRECISION NOT NULL,
            floor_w DOUBLE PRECISION, PRIMARY KEY (host, minute, kind, name, domain));
        CREATE TABLE host_months (host TEXT NOT NULL, month TEXT NOT NULL,
            measured_j DOUBLE PRECISION NOT NULL, unattributed_j DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (host, month));
        INSERT INTO host_minutes VALUES
            ('n1', '2026-03-01T10:00:00+00:00', 'machine', '', 'cpu:model', 3600000.0, 5.0),
            ('n1', '2026-03-01T10:00:00+00:00', 'machine', '', 'gpu:GPU-1', 7200000.0, 30.0);
        INSERT INTO host_months VALUES ('n1', '2026-03', 10800000.0, 0.0);
        PRAGMA user_version = 2;
        """
    )
    conn.close()
    store = open_store(str(path))
    qualities = {row[4]: row[7] for row in store.host_minutes("n1")}
    assert qualities == {"cpu:model": "estimated", "gpu:GPU-1": "measured"}

    refresh(store)
    (line,) = unattributed(store, (), Selection())
    assert (line.measured_kwh, line.estimated_kwh) == (pytest.approx(2.0), pytest.approx(1.0))


def test_lab_totals_count_as_measured_only_what_a_meter_read(tmp_path: Path) -> None:
    """A job the daemon measured on a node whose memory it models, and a CodeCarbon import:
    measured_kwh holds the metered share only; the modelled and imported energy is not."""
    store = open_store(str(tmp_path / "s.db"))
    parts = [
        ("cpu:package-0", Component.CPU, Quality.ATTRIBUTED, 3 * KWH),
        ("memory:model", Component.MEMORY, Quality.ESTIMATED, 1 * KWH),
        ("codecarbon:gpu", Component.GPU, Quality.IMPORTED, 2 * KWH),
    ]
    fp = Footprint(
        run_id="r" * 32,
        charged_to=ChargedTo.SLURM_JOB,
        idle_policy="allocation",
        started_at="2026-03-01T10:00:00+00:00",
        ended_at="2026-03-01T11:00:00+00:00",
        duration_s=3600.0,
        components=tuple(
            ComponentEnergy(d, c, Method.DAEMON, Extent.MACHINE, q, j, j, 0.0, 0.0)
            for d, c, q, j in parts
        ),
        pue=1.0,
        emissions_kg=0.0,
        carbon=None,
    )
    record = RunRecord(
        id=fp.run_id,
        project="p",
        experiment="",
        user="alice",
        host="n1",
        pid=0,
        command="job",
        git_commit=None,
        started_at=fp.started_at,
        ended_at=fp.ended_at,
        updated_at=fp.started_at,
        status=Status.COMPLETED,
        footprint=fp,
    )
    put_runs(store, [(record, [])])
    refresh(store)
    (line,) = lab_totals(store, (), Selection())
    assert line.energy_kwh == pytest.approx(6.0)
    assert (line.measured_kwh, line.estimated_kwh) == (pytest.approx(3.0), pytest.approx(3.0))


@pytest.mark.postgres
def test_db_upgrade_keeps_a_lab_database_modelled_energy_apart(postgres_url: str) -> None:
    """A PostgreSQL store of schema 2 (its daemon's modelled CPU summed as measured):
    ``impactlib db upgrade`` marks those rows estimated, and the servers' measured energy
    is then only what a meter read."""
    import sqlalchemy
    from clihelp import cli

    old = [
        statement.replace(",\n        quality TEXT NOT NULL DEFAULT 'measured'", "").replace(
            ",\n        estimated_j DOUBLE PRECISION NOT NULL DEFAULT 0", ""
        )
        for statement in schema.CREATE
    ]
    engine = sqlalchemy.create_engine(postgres_url)
    with engine.begin() as conn:
        for statement in old:
            conn.execute(sqlalchemy.text(statement))
        conn.execute(
            sqlalchemy.text(
                "INSERT INTO host_minutes VALUES ('n1', '2026-03-01T10:00:00+00:00', 'machine', "
                "'', 'cpu:model', 3600000.0, 5.0), ('n1', '2026-03-01T10:00:00+00:00', "
                "'machine', '', 'gpu:GPU-1', 7200000.0, 30.0)"
            )
        )
        conn.execute(
            sqlalchemy.text("INSERT INTO host_months VALUES ('n1', '2026-03', 10800000.0, 0.0)")
        )
    engine.dispose()
    result = cli("db", "upgrade", "--store", postgres_url)
    assert result.returncode == 0, result.stderr
    store = open_store(postgres_url)
    assert {row[4]: row[7] for row in store.host_minutes("n1")} == {
        "cpu:model": "estimated",
        "gpu:GPU-1": "measured",
    }
    refresh(store)
    (line,) = unattributed(store, (), Selection())
    assert (line.measured_kwh, line.estimated_kwh) == (pytest.approx(2.0), pytest.approx(1.0))
