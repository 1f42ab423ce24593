"""The whole server in the balance (issue 18): a host drawing 100 W at the wall with 40 W of RAPL.

The fake host's package draws 40 W whatever the load and its wall sensor 60 W more (fans,
disks, board, power supply: :class:`fakelab.ScriptedHost` with ``wall_beyond_w``); its memory
is a modelled line (16 GB at the Green Algorithms W/GB), which must sit *inside* the 60 W,
never on top of the wall. The wall meter is scripted at the integral (:mod:`fakewall`): it
answers the host's exact cumulative wall energy, which moves under the same lock as the
package counter.

* a machine-scope tracker shows 40 W of RAPL and the 60 W beyond it, the memory line
  included, and its components add up to the wall;
* two users' jobs, each tracked by its own tracker on the same host: each record's charged
  plus unattributed energy is the wall over its run, within 1 %;
* the daemon (``impactlib serve``'s core, in this process) with two users' ``impactlib run``
  jobs served by it: the users' charged energy plus the unattributed remainder is the wall,
  within 1 %, and each user's record carries the platform share the daemon attributed.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemonhost import (
    NOBODY,
    OTHER_UID,
    daemon_config,
    in_process,
    needs_root,
    public_dir,
    python_for,
    user_env,
    user_home,
)
from fakelab import PACKAGE, ScriptedHost
from fakewall import ScriptedWall, use_wall

from impactlib.config import Config, load_config
from impactlib.footprint import Component, Footprint, Method, Quality
from impactlib.meters import MeterSettings, open_meters
from impactlib.meters.base import Tick
from impactlib.meters.platform import PLATFORM_ID
from impactlib.store import open_store
from impactlib.tracker import Tracker

RAPL_W, BEYOND_W = 40.0, 60.0
WALL_W = RAPL_W + BEYOND_W
MEMORY = "memory:model"
SLEEP = "import time; time.sleep({})"


class RecordingWall(ScriptedWall):
    """The host's wall integral, keeping every answer (the first and last bound a run)."""

    def __init__(self, host: ScriptedHost) -> None:
        self.answers: list[float] = []

        def energy() -> float:
            joules = host.wall_j()
            self.answers.append(joules)
            return joules

        super().__init__(energy)


@pytest.fixture
def host(tmp_path: Path) -> Iterator[ScriptedHost]:
    with public_dir() as public:
        fake = ScriptedHost(
            public / "h", RAPL_W, 0.0, cpus=4, cpu_per_process=0.25, wall_beyond_w=BEYOND_W
        )
        with fake:
            yield fake


@pytest.fixture
def wall(host: ScriptedHost, monkeypatch: pytest.MonkeyPatch) -> RecordingWall:
    recording = RecordingWall(host)
    use_wall(monkeypatch, recording)
    return recording


def settings(host: ScriptedHost, tmp_path: Path, **more: object) -> Config:
    return load_config(
        {
            "powercap_root": str(host.powercap.root),
            "procfs_root": str(host.procfs),
            "power_model": str(tmp_path / "model.json"),
            "store": str(tmp_path / "store.db"),
            "country": "FR",
            "intensity_source": "static",
            "interval": 0.2,
            **more,
        }
    )


def by_domain(footprint: Footprint) -> dict[str, float]:
    return {c.domain: c.domain_j for c in footprint.components}


def test_the_machine_shows_the_60_w_beyond_rapl_with_memory_inside_it(
    host: ScriptedHost, wall: RecordingWall, tmp_path: Path
) -> None:
    tracker = Tracker(settings(host, tmp_path, scope="machine"))
    tracker.start()
    time.sleep(3.0)
    footprint = tracker.stop()
    assert footprint is not None
    seconds = footprint.duration_s
    energy = by_domain(footprint)
    assert set(energy) == {PACKAGE, MEMORY, PLATFORM_ID}
    platform = next(c for c in footprint.components if c.domain == PLATFORM_ID)
    assert platform.component is Component.PLATFORM and platform.method is Method.HWMON
    assert platform.quality is Quality.MEASURED
    assert energy[PACKAGE] == pytest.approx(RAPL_W * seconds, rel=0.01)
    assert energy[MEMORY] > 0  # a modelled line, inside the wall:
    assert energy[PLATFORM_ID] + energy[MEMORY] == pytest.approx(BEYOND_W * seconds, rel=0.01)
    assert sum(energy.values()) == pytest.approx(WALL_W * seconds, rel=0.01)
    assert sum(c.energy_j for c in footprint.components) == pytest.approx(sum(energy.values()))


def test_an_acpi_power_meter_gives_the_same_balance(host: ScriptedHost, tmp_path: Path) -> None:
    """The same machine through the real hwmon sensor and wall sampler (no scripted
    integral): ``power1_average`` polled every 100 ms, integrated, asked at each capture.
    Between two ticks once the sampler has readings, the domains add up to the wall."""
    config = settings(host, tmp_path, wall_power="hwmon", hwmon_root=str(host.hwmon))
    meters = open_meters(MeterSettings.of(config, via_daemon=False))
    try:
        assert meters.platform is not None and str(host.hwmon) in meters.platform.domain.note
        # the sensor's stated accuracy is what the platform's range starts from
        assert meters.platform.domain.accuracy_percent == 98.0

        def reading() -> tuple[float, dict[str, float]]:
            now = time.monotonic()
            return now, meters.decode(meters.capture(), Tick(now, None))

        deadline = time.monotonic() + 10
        start, first = reading()
        while PLATFORM_ID not in first and time.monotonic() < deadline:
            time.sleep(0.05)
            start, first = reading()
        time.sleep(2.0)
        end, last = reading()
    finally:
        meters.close()
    power = {d: (last[d] - first[d]) / (end - start) for d in (PACKAGE, MEMORY, PLATFORM_ID)}
    assert power[PACKAGE] == pytest.approx(RAPL_W, rel=0.01)
    assert power[PLATFORM_ID] + power[MEMORY] == pytest.approx(BEYOND_W, rel=0.01)


def run_as(uid: int, seconds: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*python_for(uid), "-c", SLEEP.format(seconds)], user=uid, group=uid, cwd="/"
    )


@pytest.mark.skipif(os.geteuid() != 0, reason=needs_root)
def test_two_users_jobs_charged_plus_unattributed_is_the_wall_for_each_tracker(
    host: ScriptedHost, wall: RecordingWall, tmp_path: Path
) -> None:
    config = settings(host, tmp_path)
    trackers = [Tracker(config, new_process=True, command="job") for _ in (NOBODY, OTHER_UID)]
    jobs = []
    for tracker, uid in zip(trackers, (NOBODY, OTHER_UID), strict=True):
        tracker.start()
        job = run_as(uid, 2.5)
        host.watch(job.pid)
        tracker.attach(job.pid)
        jobs.append(job)
    footprints = []
    for tracker, job in zip(trackers, jobs, strict=True):
        job.wait(timeout=60)
        footprint = tracker.stop()
        assert footprint is not None
        footprints.append(footprint)
    for footprint in footprints:
        charged = sum(c.energy_j for c in footprint.components)
        unattributed = sum(c.unattributed_j for c in footprint.components)
        assert charged + unattributed == pytest.approx(WALL_W * footprint.duration_s, rel=0.01)
        platform = next(c for c in footprint.components if c.domain == PLATFORM_ID)
        assert 0 < platform.energy_j < platform.domain_j  # a share, split like the CPU
        assert platform.quality is Quality.ATTRIBUTED


@pytest.mark.skipif(os.geteuid() != 0, reason=needs_root)
def test_the_daemon_and_its_users_trackers_balance_the_wall(
    host: ScriptedHost, wall: RecordingWall, tmp_path: Path
) -> None:
    for zone in host.powercap.zones.values():  # root-only, as since Linux 5.10
        zone.counter.chmod(0o600)
    folder = host.procfs.parent.parent
    config = daemon_config(
        host.powercap.root,
        folder / "d.sock",
        procfs_root=str(host.procfs),
        power_model=str(tmp_path / "model.json"),
        interval=0.2,
    )
    with in_process(config) as served:
        stop = threading.Event()
        loop = threading.Thread(target=served.daemon.run, args=(stop,))
        loop.start()
        try:
            records = users_run_jobs(host, folder, served.socket)
        finally:
            host.freeze()  # no energy from now on
            stop.set()
            loop.join(timeout=10)
        served.daemon.tick()
        attributor = served.daemon.attributor
        machine = attributor.domain_energy()
        assert set(machine) == {PACKAGE, MEMORY, PLATFORM_ID}
        wall_j = wall.answers[-1] - wall.answers[0]
        assert sum(machine.values()) == pytest.approx(wall_j, rel=0.01)
        users = attributor.users
        charged = sum(j for energy in users.values() for j in energy.values())
        unattributed = sum(attributor.unattributed.values())
        assert charged + unattributed == pytest.approx(wall_j, rel=0.01)
        for uid, record in records.items():
            platform = next(c for c in record.components if c.domain == PLATFORM_ID)
            assert platform.method is Method.DAEMON and platform.quality is Quality.ATTRIBUTED
            assert 0 < platform.energy_j <= users[uid][PLATFORM_ID] * 1.001


def users_run_jobs(host: ScriptedHost, folder: Path, sock: str) -> dict[int, Footprint]:
    """``impactlib run`` a 2 s job as each of two users, served by the daemon, at once."""
    started = {}
    for uid in (NOBODY, OTHER_UID):
        home = user_home(folder, uid)
        env = {
            **user_env(home, host, sock),
            "IMPACTLIB_COUNTRY": "FR",
            "IMPACTLIB_INTERVAL": "0.2",
        }
        python = python_for(uid)
        command = [*python, "-m", "impactlib.cli.main", "run", "-q", "--"]
        process = subprocess.Popen(
            [*command, python[-1], "-c", SLEEP.format(2.0)],
            user=uid,
            group=uid,
            cwd="/",
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        host.watch(process.pid)
        started[uid] = (process, home)
    records = {}
    for uid, (process, home) in started.items():
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
        (run,) = open_store(str(home / "store.db")).list_runs()
        assert run.footprint is not None
        records[uid] = run.footprint
    return records
