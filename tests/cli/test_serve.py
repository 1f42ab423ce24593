"""``impactlib serve`` end to end: the real daemon over a fake host (10 W + 15 W per busy CPU),
real processes under two other users, and an unprivileged ``impactlib run`` that gets measured
CPU energy from it.

The host is a :class:`fakelab.ScriptedHost` counting each watched process's own CPU time: the
daemon reads its fake ``/proc``, where only the test's processes (and a fixed background) load
the machine, and the package follows that load. A burner of ``process_time`` costs the same
CPU time however busy the real machine is, so no figure depends on what else runs."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from clihelp import assert_one_line_error, cli
from daemonhost import (
    IDLE_W,
    NOBODY,
    OTHER_UID,
    Served,
    calibrated_host,
    machine_balance,
    needs_root,
    python_for,
    serve,
    serve_host,
    truth_j,
    user_env,
    user_home,
)
from fakehost import one_package
from fakelab import PACKAGE, ScriptedHost
from powercap import FakePowercap
from prometheus_client.parser import text_string_to_metric_families

import impactlib.meters as meters_module
from impactlib.cli.hardware import hardware_report
from impactlib.config import load_config
from impactlib.meters import MeterSettings, open_meters
from impactlib.meters.daemon import ask
from impactlib.meters.rapl import RaplMeter
from impactlib.store import open_store

root_only = pytest.mark.skipif(os.geteuid() != 0, reason=needs_root)

CPU_BURN = "import sys, time\nend = time.process_time() + float(sys.argv[1])\n" + (
    "while time.process_time() < end:\n    pass\n"
)

# The same, then idle a moment before exiting: the fake host reads a process's CPU time
# every 20 ms while it lives, and the tests are of attribution, not of that lag.
BURN_THEN_REST = CPU_BURN + "time.sleep(0.5)\n"

WALL_BURN = "import sys, time\nend = time.monotonic() + float(sys.argv[1])\n" + (
    "while time.monotonic() < end:\n    pass\n"
)

# One user's job: a parent that runs a burning child, then asks the daemon about its own
# tree (the child has exited: its energy must still be there) and about another user's pid.
USER_JOB = textwrap.dedent(
    """
    import json, os, subprocess, sys, time
    from impactlib.meters.daemon import ask
    sock, burn, seconds, other = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    time.sleep(0.5)
    # Asked while the other user's job surely runs (it started first and lasts seconds).
    theirs = ask(sock, f"/v1/processes/{other}").status if other != "0" else None
    subprocess.run([sys.executable, "-c", burn, seconds], check=True)
    time.sleep(0.6)
    t = os.times()
    mine = ask(sock, f"/v1/processes/{os.getpid()}")
    print(json.dumps({
        "pid": os.getpid(),
        "cpu_s": t.user + t.system + t.children_user + t.children_system,
        "status": mine.status, "tree": mine.body, "theirs": theirs,
    }))
    """
)


@pytest.fixture
def host() -> Iterator[tuple[Path, ScriptedHost]]:
    with calibrated_host() as made:
        yield made


@pytest.fixture
def daemon(host: tuple[Path, ScriptedHost]) -> Iterator[Served]:
    with serve_host(*host, metrics_address="127.0.0.1:0") as served:
        yield served


def start_job(
    host: ScriptedHost, uid: int, sock: str, seconds: float, other: int
) -> subprocess.Popen[str]:
    """One user's job, watched by the fake host from its start."""
    python = python_for(uid)
    job = subprocess.Popen(
        [*python, "-c", USER_JOB, sock, BURN_THEN_REST, str(seconds), str(other)],
        user=uid,
        group=uid,
        cwd="/",
        stdout=subprocess.PIPE,
        text=True,
    )
    host.watch(job.pid)
    return job


@pytest.mark.slow
@root_only
def test_two_users_each_get_their_measured_share(
    host: tuple[Path, ScriptedHost], daemon: Served
) -> None:
    _, fake = host
    first = start_job(fake, NOBODY, daemon.socket, 1.5, 0)
    second = start_job(fake, OTHER_UID, daemon.socket, 1.5, first.pid)
    results = [json.loads(job.communicate(timeout=120)[0]) for job in (first, second)]
    for job in results:
        assert job["status"] == 200
        energy = job["tree"]["domains"][PACKAGE]["energy_j"]
        assert energy == pytest.approx(truth_j(job["cpu_s"]), rel=0.05), job
        assert job["tree"]["domains"][PACKAGE]["floor_source"] == "calibrated"
    assert results[1]["theirs"] == 403  # the second user asked about the first's process
    whole = machine_balance(daemon.socket)  # root sees all
    assert {str(NOBODY), str(OTHER_UID)} <= set(whole["users_j"])
    assert daemon.metrics_url is not None
    with urllib.request.urlopen(daemon.metrics_url, timeout=10) as answer:
        text = answer.read().decode()
    users = {
        s.labels["user"]
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "impactlib_energy_joules_total"
    }
    assert {"nobody", str(OTHER_UID)} <= users


@pytest.mark.slow
@root_only
def test_a_job_beside_a_noisy_neighbour_gets_the_same_figure(
    host: tuple[Path, ScriptedHost], daemon: Served
) -> None:
    _, fake = host
    job = start_job(fake, NOBODY, daemon.socket, 1.5, 0)
    alone = json.loads(job.communicate(timeout=120)[0])
    neighbour = subprocess.Popen(
        [*python_for(OTHER_UID), "-c", WALL_BURN, "4"], user=OTHER_UID, group=OTHER_UID, cwd="/"
    )
    fake.watch(neighbour.pid)  # its CPU time loads the fake host
    try:
        job = start_job(fake, NOBODY, daemon.socket, 1.5, 0)
        beside = json.loads(job.communicate(timeout=120)[0])
    finally:
        neighbour.wait(timeout=60)
    figures = [job["tree"]["domains"][PACKAGE]["energy_j"] for job in (alone, beside)]
    assert figures[1] == pytest.approx(figures[0], rel=0.10)
    for job, figure in zip((alone, beside), figures, strict=True):
        assert figure == pytest.approx(truth_j(job["cpu_s"]), rel=0.10)


@pytest.mark.slow
@root_only
def test_an_unprivileged_run_records_measured_cpu_energy_from_the_daemon(
    host: tuple[Path, ScriptedHost], daemon: Served
) -> None:
    public, fake = host
    for zone in fake.powercap.zones.values():  # root-only, as since Linux 5.10
        zone.counter.chmod(0o600)
    home = user_home(public, NOBODY)
    python = python_for(NOBODY)
    env = {**user_env(home, fake, daemon.socket), "IMPACTLIB_COUNTRY": "FR"}
    # The daemon measures the tree of the `impactlib run` process, its own start-up included
    # (tens of ms of CPU): 4 s of work keep that well inside the tolerance.
    command = [*python, "-m", "impactlib.cli.main", "run", "--", python[-1], "-c"]
    run = subprocess.Popen(
        [*command, BURN_THEN_REST, "4"],
        user=NOBODY,
        group=NOBODY,
        cwd="/",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    fake.watch(run.pid)
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    (record,) = open_store(str(home / "store.db")).list_runs()
    assert record.user == "nobody" and record.footprint is not None
    (cpu,) = [c for c in record.footprint.components if c.component == "cpu"]
    assert (cpu.domain, cpu.method, cpu.quality) == (PACKAGE, "daemon", "attributed")
    cpu_s = record.footprint.cpu_hours * 3600
    assert cpu_s == pytest.approx(4.0, rel=0.1)
    assert cpu.energy_j == pytest.approx(truth_j(cpu_s), rel=0.10)
    assert "[daemon, attributed]" in stderr
    # the floor the daemon split with (its calibrated model), as its note says: the user's
    # own tracker has no model and its observed floor split nothing here
    assert (cpu.idle_floor_w, cpu.idle_floor_source) == (IDLE_W, "calibrated")


def test_bad_options_are_one_line(tmp_path: Path) -> None:
    regular = tmp_path / "file"
    regular.write_text("")
    sys_root = FakePowercap(tmp_path / "sys")
    sys_root.add_package(0)
    common = ["serve", "--powercap-root", str(sys_root.root), "--metrics-address", ""]
    assert_one_line_error(cli(*common, "--socket", str(regular)), "not a socket")
    assert_one_line_error(
        cli(*common, "--socket", str(tmp_path / "s"), "--idle-policy", "allocation"), "use usage"
    )
    assert_one_line_error(
        cli("serve", "--socket", str(tmp_path / "s"), "--metrics-address", "nowhere"),
        "use HOST:PORT",
    )
    assert_one_line_error(cli("serve", "--interval", "-1"), "--interval")
    assert_one_line_error(cli("serve", "--metrics-containers", "maybe"), "true or false")
    assert regular.read_text() == ""


def test_serve_answers_then_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    fake = FakePowercap(tmp_path / "sys")
    fake.add_package(0)
    sock = tmp_path / "d.sock"
    args = ["--powercap-root", str(fake.root), "--metrics-address", "", "--interval", "0.2"]
    with serve([*args, "--store", str(tmp_path / "s.db")], {}, sock) as served:
        assert ask(served.socket, "/v1/health").body["status"] == "ok"
        time.sleep(0.6)  # a few ticks
    assert served.process.returncode == 0
    assert not sock.exists()
    # The store got the minutes at exit, the unfinished one included.
    assert open_store(str(tmp_path / "s.db")).host_minutes(os.uname().nodename, "machine")


def test_hardware_says_how_to_get_measured_values_without_a_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = one_package(tmp_path / "sys")
    fake.deny(PACKAGE)  # root-only counters, injected (CI runs as root)

    def open_denied(settings: MeterSettings) -> RaplMeter:
        return RaplMeter(settings.powercap_root, read_counter=fake.read_counter)

    monkeypatch.setattr(meters_module, "_open_rapl", open_denied)
    config = load_config({"powercap_root": str(fake.root), "daemon_socket": str(tmp_path / "x")})
    found = open_meters(MeterSettings.of(config))
    try:
        text = " ".join("\n".join(hardware_report(config, found, 100)).split())
    finally:
        found.close()
    assert "How to get measured CPU energy here" in text
    assert "an admin runs `impactlib serve` (docs/daemon.md)" in text
    assert "re-opens the PLATYPUS side channel" in text and "run the tracker as root" in text
    assert f"daemon: no daemon socket at {tmp_path / 'x'}" in text
