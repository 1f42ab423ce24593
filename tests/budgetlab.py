"""A synthetic year of a lab's computing, for the budget tests.

One run a day for project ``mri-seg`` (user ``alice``, SLURM account ``lab1``), from 1
January 2026 until the day before ``until``: day ``i`` of the year (0 = 1 January) uses
``1 + i % 7`` kWh (PUE 1, no series, so each day's run lands in the month it started) and
emits 0.1 kg CO2e per kWh. The mean is 4 kWh a day over any whole week, so the figures
the tests expect can be worked out by hand.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from sample_runs import make_record, save_record

from impactlib.store.base import Store

YEAR_START = date(2026, 1, 1)
G_PER_KWH = 100.0  # 0.1 kg CO2e per kWh


def day_kwh(day: date) -> float:
    """What the lab used on ``day``."""
    return 1.0 + (day - YEAR_START).days % 7


def add_day(store: Store, day: date, kwh: float, project: str = "mri-seg", **slurm: str) -> None:
    """One finished run that started at noon on ``day`` and used ``kwh``."""
    record = make_record(
        f"day-{project}-{day.isoformat()}",
        project=project,
        cpu_j=kwh * 3.6e6,
        gpu_j=0.0,
        pue=1.0,
        g_per_kwh=G_PER_KWH,
    )
    assert record.footprint is not None
    stamp = f"{day.isoformat()}T12:00:00+00:00"
    ended = f"{day.isoformat()}T13:00:00+00:00"
    footprint = replace(record.footprint, started_at=stamp, ended_at=ended)
    config = {**record.config, "slurm": {"job_id": day.strftime("%j"), "account": "lab1", **slurm}}
    save_record(
        store,
        replace(
            record,
            started_at=stamp,
            ended_at=ended,
            updated_at=ended,
            footprint=footprint,
            config=config,
        ),
    )


def fill_year(store: Store, until: date) -> float:
    """The synthetic year's runs up to the day before ``until``; returns the kWh used."""
    total, day = 0.0, YEAR_START
    while day < until:
        add_day(store, day, day_kwh(day))
        total += day_kwh(day)
        day += timedelta(days=1)
    return total
