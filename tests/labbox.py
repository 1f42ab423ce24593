"""The lab in a box: every way a run reaches a lab's store, and every output read back.

:func:`live_lab` runs ``impactlib serve`` as root on one fake host
(:class:`fakelab.ScriptedHost`) and two unprivileged users' trackers (``impactlib run`` and
the Python API, each with and without the daemon); :func:`ingest_slurm` ingests a SLURM job
from a fake ``sacct``, :func:`import_codecarbon` a CodeCarbon file, :func:`sync` copies a
store to the lab's database; :func:`read_outputs` and :func:`dashboard_totals` then ask that
database for every output a person reads. The checks on them are in :mod:`labchecks`.

CI runs as root: the users' processes are started with ``user=``/``group=``, as
``tests/cli/test_serve.py`` does."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from daemonhost import (
    NOBODY,
    OTHER_UID,
    python_for,
    serve,
    user_env,
    user_home,
    write_calibrated_model,
)
from fakelab import PACKAGE, ScriptedHost
from fakesacct import FakeSacct, Job, Step

IDLE_W, W_PER_CPU = 10.0, 15.0
CODECARBON = Path(__file__).parent / "data" / "codecarbon" / "emissions-3.3.2.csv"
PERIOD = ("--since", "2025-11-01", "--until", "2025-12-01")
PARTITIONS = "[cpu]\ncpu_w_per_core = 12.0\ncores_per_node = 64\n"

# A user's Python program measured through the API; it prints what the API told it.
API_JOB = textwrap.dedent(
    """
    import json, sys, time
    import impactlib
    with impactlib.track(project=sys.argv[1], country="FR") as tracker:
        time.sleep(float(sys.argv[2]))
    print(json.dumps({"run_id": tracker.run_id, "energy_kwh": tracker.energy_consumption}))
    """
)


@dataclass(frozen=True)
class Tracked:
    """One live run: who, through which door, and what it printed."""

    label: str
    uid: int
    interface: str  # "cli" or "api"
    daemon: bool
    stdout: str = ""
    stderr: str = ""
    returncode: int = 0


@dataclass
class Lab:
    """What the live part made: the runs, the stores that hold them (the users' and the
    daemon's) and the daemon's last /metrics."""

    tracked: list[Tracked] = field(default_factory=list)
    user_stores: list[str] = field(default_factory=list)
    daemon_store: str = ""
    metrics_text: str = ""

    @property
    def stores(self) -> list[str]:
        return [*self.user_stores, self.daemon_store]


def impactlib_cli(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``impactlib ARGS`` as root, in a fresh interpreter, at 80 columns."""
    return subprocess.run(
        [sys.executable, "-m", "impactlib.cli.main", *args],
        env={**os.environ, "COLUMNS": "80", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _start(
    tracked: Tracked, folder: Path, host: ScriptedHost, sock: str, seconds: float
) -> subprocess.Popen[str]:
    """Start one user's tracked job (its pid is mirrored into the fake /proc at once)."""
    python = python_for(tracked.uid)
    env = {
        **user_env(user_home(folder, tracked.uid), host, sock),
        "IMPACTLIB_INTERVAL": "0.1",
        "COLUMNS": "80",
    }
    project = f"{tracked.interface}-{'daemon' if tracked.daemon else 'alone'}"
    if tracked.interface == "cli":
        sleep = f"import time; time.sleep({seconds})"
        command = [*python, "-m", "impactlib.cli.main", "run", "--country", "FR"]
        command += ["--project", project, "--", python[-1], "-c", sleep]
    else:
        command = [*python, "-c", API_JOB, project, str(seconds)]
    process = subprocess.Popen(
        command,
        user=tracked.uid,
        group=tracked.uid,
        cwd="/",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    host.watch(process.pid)
    return process


# Without the daemon, `impactlib run` discovers its command in the fake /proc at its first
# rescan (2 s): the command lasts past it, so that its whole CPU time is seen.
SECONDS = {("cli", False): 2.6, ("cli", True): 1.2, ("api", False): 1.2, ("api", True): 1.2}


def run_trackers(folder: Path, host: ScriptedHost, sock: str) -> list[Tracked]:
    """Two users, each through the CLI and the API, each with and without the daemon, all at
    once on the same host."""
    plan = [
        Tracked("nobody cli+daemon", NOBODY, "cli", True),
        Tracked("nobody api alone", NOBODY, "api", False),
        Tracked(f"{OTHER_UID} api+daemon", OTHER_UID, "api", True),
        Tracked(f"{OTHER_UID} cli alone", OTHER_UID, "cli", False),
    ]
    nowhere = str(folder / "no-daemon.sock")  # no daemon answers there
    started = []
    for tracked in plan:
        seconds = SECONDS[(tracked.interface, tracked.daemon)]
        process = _start(tracked, folder, host, sock if tracked.daemon else nowhere, seconds)
        started.append((tracked, process))
    done = []
    for tracked, process in started:
        out, err = process.communicate(timeout=120)
        done.append(replace(tracked, stdout=out, stderr=err, returncode=process.returncode))
    return done


def ingest_slurm(folder: Path) -> tuple[str, subprocess.CompletedProcess[str]]:
    """One finished SLURM job of another user, estimated from its partition's table."""
    sacct = FakeSacct(folder / "slurm")
    sacct.answer([Job(1005, "erin", "cpu", steps=[Step("batch", 3600.0, 2**20)])])
    partitions = folder / "partitions.toml"
    partitions.write_text(PARTITIONS)
    store = str(folder / "slurm.db")
    result = impactlib_cli(
        "slurm", "ingest", *PERIOD, "--slurm-partitions", str(partitions), "--store", store,
        env={"PATH": sacct.path, "TZ": "UTC", "IMPACTLIB_COUNTRY": "FR"},
    )  # fmt: skip
    return store, result


def import_codecarbon(folder: Path) -> tuple[str, subprocess.CompletedProcess[str]]:
    """A CodeCarbon file another user brings (two runs)."""
    store = str(folder / "codecarbon.db")
    result = impactlib_cli(
        "import", "codecarbon", str(CODECARBON), "--store", store, "--user", "eve", "--utc"
    )
    return store, result


def sync(store: str, url: str) -> subprocess.CompletedProcess[str]:
    return impactlib_cli("sync", "--to", url, "--store", store)


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as answer:
        text: str = answer.read().decode()
    return text


def scrape_settled(url: str, ticks_s: float = 0.6, within_s: float = 30.0) -> str:
    """The daemon's /metrics once its totals have stopped moving (two scrapes, a few of its
    ticks apart, the same): after the host froze, however late a busy machine runs it."""
    deadline = time.monotonic() + within_s
    last = scrape(url)
    while time.monotonic() < deadline:
        time.sleep(ticks_s)
        now = scrape(url)
        if now == last:
            return now
        last = now
    raise AssertionError(f"the daemon's /metrics still moved {within_s:g} s after the host froze")


def live_lab(folder: Path) -> Lab:
    """The daemon and the users' trackers on one fake host, until the daemon has stopped
    (its store then holds every minute); ``folder`` must be traversable by every user."""
    lab = Lab()
    with ScriptedHost(folder / "h", IDLE_W, W_PER_CPU) as host:
        for zone in host.powercap.zones.values():  # root-only, as since Linux 5.10
            zone.counter.chmod(0o600)
        write_calibrated_model(folder / "model.json", PACKAGE, IDLE_W, W_PER_CPU)
        args = ["--powercap-root", str(host.powercap.root), "--interval", "0.25"]
        args += ["--metrics-address", "127.0.0.1:0", "--store", str(folder / "daemon.db")]
        env = {
            "IMPACTLIB_POWER_MODEL": str(folder / "model.json"),
            "IMPACTLIB_PROCFS_ROOT": str(host.procfs),
            # The daemon's memory stays a modelled domain, at 0 W: a model draws with the
            # wall clock, which freezing the host cannot stop, and the daemon's totals must
            # hold still between its /metrics and its store.
            "IMPACTLIB_MEMORY_W_PER_GB": "0",
        }
        with serve(args, env, folder / "impactlib.sock") as served:
            lab.tracked = run_trackers(folder, host, served.socket)
            host.freeze()  # no energy from now on: the daemon's totals stop moving
            assert served.metrics_url is not None
            lab.metrics_text = scrape_settled(served.metrics_url)
    homes = dict.fromkeys(user_home(folder, t.uid) for t in lab.tracked)
    lab.user_stores = [str(home / "store.db") for home in homes]
    lab.daemon_store = str(folder / "daemon.db")
    return lab


def new_database(server: str) -> str:
    """An empty database of its own on the tests' PostgreSQL server."""
    import sqlalchemy

    name = f"lab_{uuid.uuid4().hex[:12]}"
    engine = sqlalchemy.create_engine(server + "postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return server + name


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def dashboard(store: str) -> Iterator[str]:
    """``impactlib dashboard`` on 127.0.0.1 over ``store``; yields its URL once it listens."""
    port = free_port()
    command = ["dashboard", "--store", store, "--port", str(port)]
    process = subprocess.Popen(
        [sys.executable, "-m", "impactlib.cli.main", *command], stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert process.poll() is None, "impactlib dashboard ended early"
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(timeout=10)


REPORT_FORMATS = ("table", "json", "csv", "markdown", "latex", "html")
LAB_FORMATS = ("table", "json", "csv")


def read_outputs(url: str) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every output of the lab's store, read at 80 columns (several at once)."""
    commands: dict[str, Sequence[str]] = {
        f"report {f}": ("report", "--store", url, "--format", f) for f in REPORT_FORMATS
    }
    commands.update(
        {
            f"lab report {f}": ("report", "--store", url, "--by", "user,month", "--format", f)
            for f in LAB_FORMATS
        }
    )
    commands["lab summary"] = ("export", "--store", url, "--format", "lab-summary")
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(impactlib_cli, *args) for name, args in commands.items()}
        return {name: future.result() for name, future in futures.items()}


def dashboard_totals(url: str) -> dict[str, object]:
    with dashboard(url) as page, urllib.request.urlopen(page + "api/totals", timeout=30) as answer:
        body: dict[str, object] = json.loads(answer.read())
    return body
