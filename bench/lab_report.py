"""Lab report benchmark: a monthly per-user report over a year of per-minute data from 20
servers must take <= 1 s on SQLite and on PostgreSQL (DESIGN.md §5).

Builds the data in a fresh store: on each server, back-to-back jobs of 1 to 12 hours by ten
users on five projects, each job with its run record and one series row per minute, plus the
daemon's per-minute unattributed remainder of every server (``host_minutes``): with the
defaults, 2 x 10.5 million per-minute rows. Then it times, separately:

- the first rollup build (once, after a bulk load; syncs and reports keep it current after);
- ``impactlib report --by user,month`` as the library runs it (rollup refresh check + query),
  best and worst of 5;
- the same through the command line, interpreter start-up included.

Usage::

    python bench/lab_report.py                       # SQLite in a temporary directory
    python bench/lab_report.py --postgres URL        # and a PostgreSQL database (emptied)
    python bench/lab_report.py --servers 2 --days 30 # a quick look
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from impactlib.footprint import CarbonInfo, ComponentEnergy, Footprint
from impactlib.report import lab
from impactlib.store import Store, open_store
from impactlib.store.rollup import Selection, refresh
from impactlib.store.sync import _UPSERT_RUN

YEAR_START = datetime(2025, 1, 1, tzinfo=timezone.utc)
USERS = [f"user{i:02d}" for i in range(10)]
PROJECTS = ["vision", "nlp", "speech", "climate", "genomics"]
CHUNK = 200_000


def minutes(days: int) -> list[str]:
    """The stored stamps of every minute of the period (computed once, shared by servers)."""
    return [
        (YEAR_START + timedelta(minutes=m)).isoformat(timespec="seconds")
        for m in range(days * 1440)
    ]


def footprint(run_id: str, start: str, end: str, duration_s: float, joules: float) -> Footprint:
    comps = (
        ComponentEnergy(
            "cpu:package-0",
            "cpu",
            "rapl",
            "tree",
            "attributed",
            joules,
            joules * 0.8,
            joules * 0.2,
            0.0,
        ),
    )
    kwh = joules / 3.6e6 * 1.2
    return Footprint(
        run_id,
        "tree",
        "usage",
        start,
        end,
        duration_s,
        comps,
        1.2,
        kwh * 0.056,
        CarbonInfo("static", "FR", 56.0, "bench"),
        cpu_hours=duration_s / 3600 * 8,
    )


def jobs(server: int, stamps: Sequence[str], rng: random.Random) -> Iterator[dict[str, Any]]:
    """Back-to-back jobs on one server: (run row, first minute, number of minutes)."""
    minute = 0
    n = 0
    while minute < len(stamps):
        length = min(rng.randint(60, 720), len(stamps) - minute)
        run_id = f"s{server:02d}-j{n:05d}"
        watts = rng.uniform(150, 400)
        fp = footprint(
            run_id,
            stamps[minute],
            stamps[minute + length - 1],
            length * 60.0,
            watts * length * 60.0,
        )
        yield {
            "row": {
                "id": run_id,
                "project": rng.choice(PROJECTS),
                "experiment": "",
                "username": rng.choice(USERS),
                "host": f"node{server:02d}",
                "pid": 1,
                "command": "python train.py",
                "git_commit": None,
                "started_at": stamps[minute],
                "ended_at": stamps[minute + length - 1],
                "updated_at": stamps[minute + length - 1],
                "status": "completed",
                "save_interval": 10.0,
                "duration_s": fp.duration_s,
                "energy_kwh": fp.energy_kwh,
                "emissions_kg": fp.emissions_kg,
                "config": "{}",
                "footprint": json.dumps(fp.to_dict()),
                "model": None,
                "epochs": "[]",
            },
            "first": minute,
            "length": length,
            "joules": watts * 60.0,
        }
        minute += length
        n += 1


def series_rows(job: dict[str, Any], stamps: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    run_id = job["row"]["id"]
    for m in range(job["first"], job["first"] + job["length"]):
        yield (run_id, stamps[m], "cpu", job["joules"])


def host_rows(server: int, stamps: Sequence[str], rng: random.Random) -> Iterator[tuple[Any, ...]]:
    host = f"node{server:02d}"
    for stamp in stamps:
        yield (host, stamp, "unattributed", "", "cpu:package-0", rng.uniform(600, 3000), None)


def chunks(rows: Iterator[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def load(store: Store, servers: int, days: int) -> tuple[int, int]:
    """Fill the store; returns (runs, per-minute rows)."""
    stamps = minutes(days)
    rng = random.Random(42)
    postgres = hasattr(store, "_engine")
    runs = rows = 0
    for server in range(servers):
        server_jobs = list(jobs(server, stamps, rng))
        store._write([(_UPSERT_RUN, [j["row"] for j in server_jobs])])
        runs += len(server_jobs)
        series = (r for j in server_jobs for r in series_rows(j, stamps))
        rows += _bulk(
            store, postgres, "series", ("run_id", "minute", "component", "energy_j"), series
        )
        rows += _bulk(
            store,
            postgres,
            "host_minutes",
            ("host", "minute", "kind", "name", "domain", "energy_j", "floor_w"),
            host_rows(server, stamps, rng),
        )
        print(f"  server {server + 1}/{servers} loaded", file=sys.stderr)
    return runs, rows


def _bulk(
    store: Store,
    postgres: bool,
    table: str,
    columns: Sequence[str],
    rows: Iterator[tuple[Any, ...]],
) -> int:
    """Plain INSERTs on SQLite, COPY on PostgreSQL (what a bulk load would use)."""
    count = 0
    if postgres:
        raw = store._engine.raw_connection()  # type: ignore[attr-defined]
        try:
            with (
                raw.cursor() as cur,
                cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
                    count += 1
            raw.commit()
        finally:
            raw.close()
        return count
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    conn = store._conn  # type: ignore[attr-defined]
    for batch in chunks(rows):
        conn.execute("BEGIN")
        conn.executemany(sql, batch)
        conn.execute("COMMIT")
        count += len(batch)
    return count


def bench(target: str, servers: int, days: int) -> dict[str, float]:
    store = open_store(target)
    started = time.perf_counter()
    runs, rows = load(store, servers, days)
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    refresh(store)
    rollup_s = time.perf_counter() - started
    last = (YEAR_START + timedelta(days=days - 1)).strftime("%Y-%m")
    selection = Selection(YEAR_START.strftime("%Y-%m"), last)
    times = []
    for _ in range(5):
        started = time.perf_counter()
        report = lab.build(store, ("user", "month"), selection)
        times.append(time.perf_counter() - started)
    assert report.total is not None and report.total.runs == runs
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "impactlib.cli.main",
            "report",
            "--by",
            "user,month",
            "-f",
            "json",
            "--store",
            target,
        ],
        check=True,
        capture_output=True,
    )
    cli_s = time.perf_counter() - started
    store.close()
    return {
        "runs": runs,
        "rows": rows,
        "load_s": loaded,
        "rollup_s": rollup_s,
        "report_best_s": min(times),
        "report_worst_s": max(times),
        "report_median_s": statistics.median(times),
        "cli_s": cli_s,
        "lines": len(report.lines),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=20)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--postgres", help="an empty PostgreSQL database's SQLAlchemy URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        targets = [("SQLite", str(Path(tmp) / "lab.db"))]
        if args.postgres:
            targets.append(("PostgreSQL", args.postgres))
        for name, target in targets:
            print(f"{name}: loading {args.servers} servers x {args.days} days...", file=sys.stderr)
            r = bench(target, args.servers, args.days)
            print(
                f"{name}: {r['runs']:,} runs, {r['rows']:,} per-minute rows "
                f"(loaded in {r['load_s']:.0f} s); first rollup build {r['rollup_s']:.1f} s; "
                f"report --by user,month ({r['lines']} lines): best {r['report_best_s']:.3f} s, "
                f"median {r['report_median_s']:.3f} s, worst {r['report_worst_s']:.3f} s; "
                f"from the command line {r['cli_s']:.2f} s"
            )


if __name__ == "__main__":
    main()
