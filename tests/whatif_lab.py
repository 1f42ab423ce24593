"""A lab whose runs shifting would have made cleaner, over a replayed day of RTE intensities
with a known trough: the what-if's CLI and dashboard tests share it, and the hand
computation of what it saves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from clihelp import cli
from replay_server import ReplayServer, Route, clean_env
from sample_runs import make_record, save_record

from impactlib.carbon.select import static_series
from impactlib.footprint import CarbonInfo, LocatedBy
from impactlib.store import open_store
from impactlib.store.records import SeriesRow

UTC = timezone.utc
DAY = datetime(2026, 3, 10, tzinfo=UTC)
PUE = 1.5
HIGH_J, LOW_J = 120_000.0, 60_000.0  # energy per minute, before PUE: 2 kWh/h and 1 kWh/h


def rte_intensity(when: datetime) -> float:
    """The replayed day and the next: 200 g/kWh, except 120 on 10 March from 12:00 to
    14:00 and the trough, 30, on 11 March from 02:00 to 03:00 (UTC)."""
    if when.date() == DAY.date() and 12 <= when.hour < 14:
        return 120.0
    if when.date() == (DAY + timedelta(days=1)).date() and when.hour == 2:
        return 30.0
    return 200.0


def _bound(where: str, index: int) -> datetime:
    text = where.split("date'")[index + 1].split("'")[0]
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def rte_records(path: str, query: dict[str, list[str]]) -> dict[str, Any]:
    """ODRÉ's records endpoint over the synthetic days: every 15 minutes within the
    ``where`` interval, paged by ``offset``/``limit``."""
    where = query["where"][0]
    lo, hi = _bound(where, 0), _bound(where, 1)
    stamps = []
    when = lo.replace(minute=lo.minute - lo.minute % 15, second=0)
    while when <= hi:
        if when >= lo:
            stamps.append(when)
        when += timedelta(minutes=15)
    offset, limit = int(query["offset"][0]), int(query["limit"][0])
    rows = [
        {"date_heure": s.isoformat(), "taux_co2": rte_intensity(s)}
        for s in stamps[offset : offset + limit]
    ]
    return {"total_count": len(stamps), "results": rows}


RTE: dict[str, Route] = {r"/api/explore/v2\.1/catalog/datasets/[\w-]+/records": rte_records}


def _store_run(
    store: Any,
    run_id: str,
    user: str,
    project: str,
    start: datetime,
    joules: list[float],
    zone: str = "FR",
    keep_series: bool = True,
) -> None:
    """A finished run of ``len(joules)`` minutes (one CPU series row per minute)."""
    record = make_record(run_id, project=project, cpu_j=sum(joules), gpu_j=0.0, pue=PUE)
    assert record.footprint is not None
    end = start + timedelta(minutes=len(joules))
    g = static_series(zone).points[0].g_per_kwh
    fp = replace(
        record.footprint,
        started_at=start.isoformat(),
        ended_at=end.isoformat(),
        duration_s=60.0 * len(joules),
        emissions_kg=sum(joules) / 3.6e6 * PUE * g / 1000,
        carbon=CarbonInfo("static", zone, g, "OWID / Ember", None, LocatedBy.CONFIGURATION),
    )
    record = replace(
        record, user=user, started_at=fp.started_at, ended_at=fp.ended_at, footprint=fp
    )
    save_record(store, record)
    if keep_series:
        rows = [
            SeriesRow(run_id, (start + timedelta(minutes=i)).isoformat(), "cpu", j)
            for i, j in enumerate(joules)
        ]
        store.checkpoint(run_id, record.status, fp, rows, ())


def seed(path: str) -> None:
    """Four runs: ann's hour at 200 g, ben's 90 minutes (30 heavy, 60 light) across the
    12:00 step, cat's in Germany (tables only), dan's without a per-minute series."""
    store = open_store(path)
    _store_run(store, "run-ann", "ann", "vision", DAY + timedelta(hours=10), [LOW_J] * 60)
    heavy_then_light = [HIGH_J] * 30 + [LOW_J] * 60
    start = DAY + timedelta(hours=11, minutes=30)
    _store_run(store, "run-ben", "ben", "nlp", start, heavy_then_light)
    _store_run(store, "run-cat", "cat", "nlp", DAY + timedelta(hours=9), [LOW_J] * 30, zone="DE")
    _store_run(
        store, "run-dan", "dan", "vision", DAY + timedelta(hours=9), [LOW_J] * 30, keep_series=False
    )


@contextmanager
def replayed_lab(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, more_routes: dict[str, Route] | None = None
) -> Iterator[ReplayServer]:
    """:func:`seed`'s runs in the store ``IMPACTLIB_STORE`` names (``tmp_path/lab.db``), RTE
    (and ``more_routes``) replayed on 127.0.0.1 at ``IMPACTLIB_RTE_URL``, nothing else
    inherited (:func:`replay_server.clean_env`)."""
    clean_env(monkeypatch, tmp_path)
    store = str(tmp_path / "lab.db")
    monkeypatch.setenv("IMPACTLIB_STORE", store)
    seed(store)
    with ReplayServer({**RTE, **(more_routes or {})}) as server:
        monkeypatch.setenv("IMPACTLIB_RTE_URL", server.url)
        yield server


def report_json(*args: str) -> dict[str, Any]:
    """``impactlib report ARGS --format json``, which must succeed."""
    result = cli("report", *args, "--format", "json")
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def kg(kwh: float, g_per_kwh: float) -> float:
    """Emissions of ``kwh`` (before PUE) at ``g_per_kwh``, PUE included."""
    return kwh * PUE * g_per_kwh / 1000


# By hand. ann: 1 kWh at 200 g as run; moved 16 h to 02:00 next day, all of it in the
# trough. ben: 11:30-12:00 heavy (1 kWh) at 200, 12:00-13:00 light (1 kWh) at 120; best start
# is 02:00 next day: heavy (1 kWh) and half the light (0.5 kWh) at 30, the rest at 200.
ANN_RUN, ANN_MOVED = kg(1.0, 200), kg(1.0, 30)
BEN_RUN, BEN_MOVED = kg(1.0, 200) + kg(1.0, 120), kg(1.0, 30) + kg(0.5, 30) + kg(0.5, 200)
SHIFT_HEADLINE = "What if shift=24h: 518 g CO2e saved (66 %) of 780 g, 2 runs priced"
