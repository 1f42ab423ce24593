"""SLURM ingest benchmark: ``impactlib slurm ingest`` of 100,000 jobs must take <= 60 s and
<= 500 MB of resident memory, on SQLite and on PostgreSQL (issue 17).

The jobs are the recorded ``sacct`` outputs of ``tests/data/sacct/<version>/`` (ten jobs:
completed, failed, cancelled while running and while pending, an array task, a name with
``|``, over-requested and default memory, steps, ranks), repeated with new job ids, users
and start times until there are as many as asked, and written in that version's shape,
pretty-printed as sacct prints it. A fake ``sacct`` on ``PATH`` streams the file (``cat``:
its own memory is not the ingest's); a fake ``scontrol`` gives the recorded defaults. The
command runs as users run it, interpreter start-up included; its wall time and peak
resident memory (``wait4``'s ``ru_maxrss``, the largest of it and its children) are
printed per store, with its CPU time (user + system), which a loaded machine does not
inflate as it does wall time.

Usage::

    python bench/slurm_ingest.py                          # SQLite, 100,000 jobs, 25.05 JSON
    python bench/slurm_ingest.py --postgres               # and a PostgreSQL started here
    python bench/slurm_ingest.py --postgres-url URL       # or an existing (emptied) database
    python bench/slurm_ingest.py --jobs 10000 --version 22.05 --shape parsable
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

RECORDED = Path(__file__).resolve().parent.parent / "tests" / "data" / "sacct"
USERS = 200
SPACING_S = 13  # between two jobs' starts: 100,000 jobs span about 15 days
LIMIT_S, LIMIT_MB = 60.0, 500.0


class Figures(NamedTuple):
    """One timed ingest."""

    store: str
    wall_s: float
    cpu_s: float  # user + system, of it and its children: the machine's load aside
    peak_rss_mb: float
    summary: str


# -- the jobs -------------------------------------------------------------------------------


_JOB, _ARRAY, _USER = 987654321, 987654320, "@user@"
_MOMENT = re.compile(r"\b8(\d{9})\b")  # a time written as 8_000_000_000 + its epoch offset


def _marked(job: dict[str, Any], base: int) -> dict[str, Any]:
    """The job with markers where each copy differs: ids, user, times (see _MOMENT)."""
    out = copy.deepcopy(job)
    old = out["job_id"]
    out["job_id"] = _JOB
    out["user"] = out["group"] = _USER
    if out["array"]["job_id"]:
        out["array"]["job_id"] = _ARRAY
    times = [out["time"], *(step["time"] for step in out["steps"])]
    for when in times:
        for key in ("start", "end", "eligible", "submission"):
            if when.get(key):
                when[key] = 8_000_000_000 + when[key] - base
    for step in out["steps"]:
        ident = step["step"].get("id")
        if isinstance(ident, str) and ident.startswith(f"{old}."):
            step["step"]["id"] = f"{_JOB}.{ident.split('.', 1)[1]}"
        elif isinstance(ident, dict):
            ident["job_id"] = _JOB
        if "job_id" in step["step"]:
            step["step"]["job_id"] = _JOB
    return out


def _moment(at: int, found: re.Match[str]) -> str:
    return str(at + int(found.group(1)))


def write_json(version: str, jobs: int, target: Path) -> None:
    """``jobs`` jobs in the version's ``sacct --json`` shape, pretty-printed as sacct
    prints it: each recorded job's text with new ids, user and times."""
    recorded = json.loads((RECORDED / version / "sacct.json").read_text())
    base = min(job["time"]["submission"] for job in recorded["jobs"])
    texts = [
        textwrap.indent(json.dumps(_marked(job, base), indent=2), "    ")
        for job in recorded.pop("jobs")
    ]
    with target.open("w") as out:
        out.write('{\n  "jobs": [\n')
        for number in range(jobs):
            new, at = 1_000_000 + number, base + (number // len(texts)) * SPACING_S
            text = texts[number % len(texts)]
            text = text.replace(str(_JOB), str(new)).replace(str(_ARRAY), str(new - 1))
            text = text.replace(_USER, f"user{number % USERS:03d}")
            text = _MOMENT.sub(partial(_moment, at), text)
            out.write(("" if number == 0 else ",\n") + text)
        out.write("\n  ],\n")
        out.write(json.dumps(recorded, indent=2)[2:] + "\n")  # meta, errors, warnings


def write_parsable(version: str, jobs: int, target: Path) -> None:
    """``jobs`` jobs in the version's ``sacct -P`` shape (a job's lines, then the next's)."""
    from datetime import datetime, timedelta

    header, *lines = (RECORDED / version / "sacct.txt").read_text().splitlines()
    fields = header.split("|")
    at = {name: i for i, name in enumerate(fields)}
    groups: list[list[list[str]]] = []
    for line in lines:
        values = line.split("|", len(fields) - 1)
        if "." not in values[0]:
            groups.append([])
        groups[-1].append(values)

    def moved(text: str, shift: int) -> str:
        if not text[:1].isdigit():
            return text
        return (datetime.fromisoformat(text) + timedelta(seconds=shift)).isoformat()

    with target.open("w") as out:
        out.write(header + "\n")
        for number in range(jobs):
            group = groups[number % len(groups)]
            shift, new = (number // len(groups)) * SPACING_S, 1_000_000 + number
            for values in group:
                row = list(values)
                step = row[0].partition(".")[2]
                shown = f"{new - 1}_1" if "_" in values[0] else str(new)
                row[at["JobID"]] = f"{shown}.{step}" if step else shown
                row[at["JobIDRaw"]] = f"{new}.{step}" if step else str(new)
                if row[at["User"]]:
                    row[at["User"]] = f"user{number % USERS:03d}"
                row[at["Start"]] = moved(row[at["Start"]], shift)
                row[at["End"]] = moved(row[at["End"]], shift)
                out.write("|".join(row) + "\n")


# -- fakes and stores -----------------------------------------------------------------------


def fake_commands(folder: Path, output: Path) -> Path:
    """``sacct`` printing ``output`` whatever it is asked, ``scontrol`` the recorded
    defaults; returns their directory."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    scripts = {
        "sacct": f'#!/bin/sh\nexec cat "{output}"\n',
        "scontrol": (
            "#!/bin/sh\n"
            f'case "$2" in config) exec cat "{RECORDED}/scontrol-config.txt";; '
            f'partition) exec cat "{RECORDED}/scontrol-partition.txt";; esac\nexit 1\n'
        ),
    }
    for name, text in scripts.items():
        path = bin_dir / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return bin_dir


@contextmanager
def postgres(folder: Path) -> Iterator[str]:
    """A PostgreSQL server of its own (as tests/pgserver.py starts one): its database URL."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not initdb or not pg_ctl:
        raise SystemExit("PostgreSQL's initdb and pg_ctl are not on PATH")
    data = Path(tempfile.mkdtemp(prefix="impactlib-pg-", dir=folder))
    run_as: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        shutil.chown(data, "postgres")
        folder.chmod(0o755)
        run_as = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run(
        [*run_as, initdb, "-D", str(data), "-U", "impact", "--auth=trust"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    log = data / "log"
    subprocess.run(
        [*run_as, pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "impact",
                "-d",
                "postgres",
                "-c",
                "CREATE DATABASE bench",
            ],
            check=True,
            capture_output=True,
        )
        yield f"postgresql+psycopg://impact@127.0.0.1:{port}/bench"
    finally:
        subprocess.run(
            [*run_as, pg_ctl, "-D", str(data), "-m", "fast", "stop"], capture_output=True
        )


def timed_ingest(bin_dir: Path, store: str, shape: str, label: str) -> Figures:
    """One ``impactlib slurm ingest`` of the fake's jobs into ``store``."""
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "TZ": "UTC",
        "IMPACTLIB_COUNTRY": "FR",
    }
    args = [
        sys.executable,
        "-m",
        "impactlib.cli.main",
        "slurm",
        "ingest",
        "--sacct",
        shape,
        "--since",
        "2026-01-01",
        "--until",
        "2027-12-31",
        "--store",
        store,
    ]
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(args, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, problem = out.read().decode(), err.read().decode()
    if child.returncode != 0:
        raise SystemExit(f"ingest into {label} failed ({child.returncode}): {problem[-2000:]}")
    summary = text.strip().splitlines()[-1] if text.strip() else ""
    cpu = usage.ru_utime + usage.ru_stime
    return Figures(label, wall, cpu, usage.ru_maxrss / 1024, summary)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--version", default="25.05", choices=sorted(os.listdir(RECORDED)))
    parser.add_argument("--shape", default="json", choices=("json", "parsable"))
    parser.add_argument("--postgres", action="store_true", help="also start a PostgreSQL")
    parser.add_argument("--postgres-url", help="also an existing, empty PostgreSQL database")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="impactlib-slurm-bench-") as tmp:
        folder = Path(tmp)
        output = folder / ("sacct.json" if args.shape == "json" else "sacct.txt")
        started = time.perf_counter()
        (write_json if args.shape == "json" else write_parsable)(args.version, args.jobs, output)
        size_mb = output.stat().st_size / 2**20
        print(
            f"{args.jobs} jobs, SLURM {args.version} {args.shape} shape: {size_mb:.0f} MB of "
            f"sacct output (written in {time.perf_counter() - started:.0f} s)"
        )
        bin_dir = fake_commands(folder, output)
        results = []
        if not args.no_sqlite:
            results.append(timed_ingest(bin_dir, str(folder / "lab.db"), args.shape, "SQLite"))
        if args.postgres_url:
            results.append(timed_ingest(bin_dir, args.postgres_url, args.shape, "PostgreSQL"))
        elif args.postgres:
            with postgres(folder) as url:
                results.append(timed_ingest(bin_dir, url, args.shape, "PostgreSQL"))
        for figures in results:
            verdict = (
                "ok" if figures.wall_s <= LIMIT_S and figures.peak_rss_mb <= LIMIT_MB else "MISSED"
            )
            print(
                f"{figures.store}: {figures.wall_s:.1f} s wall ({figures.cpu_s:.1f} CPU-s), "
                f"peak RSS {figures.peak_rss_mb:.0f} MB (target <= {LIMIT_S:.0f} s, "
                f"<= {LIMIT_MB:.0f} MB): {verdict}\n  {figures.summary}"
            )


if __name__ == "__main__":
    main()
