"""The daemon's loop: counter wraps, processes that vanish, a store that comes and goes,
and the host power model learned from the machine's own samples."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from daemonhost import daemon_config
from fakewall import WallCounter, use_wall
from powercap import INTEL_RANGE_UJ, FakePowercap

from impactlib.attribution.platform_power import PlatformPower
from impactlib.attribution.power_model import PowerPoint, load_power_model, save_platform
from impactlib.config import Config, load_config
from impactlib.errors import StoreError, UsageError
from impactlib.identity import host_name
from impactlib.meters.platform import MODEL_ID, PLATFORM_ID
from impactlib.server.daemon import Daemon
from impactlib.store import Store, open_store

CPU = "cpu:package-0"
NOW = "2026-12-07T20:00:00Z"


@pytest.fixture
def fake(tmp_path: Path) -> FakePowercap:
    tree = FakePowercap(tmp_path / "sys")
    tree.add_package(0)
    return tree


def make(fake: FakePowercap, tmp_path: Path, **more: object) -> Daemon:
    return Daemon(daemon_config(fake.root, tmp_path / "d.sock", **more))


def test_a_counter_wrap_between_ticks_loses_nothing(fake: FakePowercap, tmp_path: Path) -> None:
    fake.set(CPU, INTEL_RANGE_UJ - 1_000_000)  # 1 J before the wrap
    daemon = make(fake, tmp_path)
    daemon.tick()
    fake.advance(CPU, 5.0)
    daemon.tick()
    assert daemon.attributor.domain_energy()[CPU] == pytest.approx(5.0)
    daemon.close()


def test_processes_that_vanish_mid_scan_do_not_stop_the_ticks(
    fake: FakePowercap, tmp_path: Path
) -> None:
    daemon = make(fake, tmp_path)
    spawner = subprocess.Popen(
        [sys.executable, "-c", "import subprocess as s\nfor _ in range(60): s.run(['true'])"]
    )
    ticks = 0
    while spawner.poll() is None or ticks < 3:
        fake.advance(CPU, 1.0)
        daemon.tick()
        ticks += 1
    measured = daemon.attributor.domain_energy()[CPU]
    charged = sum(u.get(CPU, 0.0) for u in daemon.attributor.users.values())
    assert charged + daemon.attributor.unattributed[CPU] == pytest.approx(measured, rel=1e-9)
    assert measured == pytest.approx(ticks - 1.0)
    daemon.close()


class FlakyStore(Store):
    """A real store that refuses ``failures`` writes first (a database restarting)."""

    def __init__(self, inner: Store, failures: int) -> None:
        self.inner, self.failures = inner, failures

    def write(self, statements: Any) -> None:
        if self.failures:
            self.failures -= 1
            raise StoreError("the store is restarting")
        self.inner.write(statements)

    def read(self, sql: str, params: Mapping[str, Any]) -> list[Sequence[Any]]:
        return self.inner.read(sql, params)


def test_a_store_briefly_unavailable_gets_every_row_later(
    fake: FakePowercap, tmp_path: Path
) -> None:
    real = open_store(str(tmp_path / "store.db"))
    flaky = FlakyStore(real, failures=1)
    opened: list[int] = []

    def opener(config: Config) -> Store:
        opened.append(1)
        if len(opened) == 1:
            raise StoreError("cannot open the store (connection refused)")
        return flaky

    daemon = Daemon(daemon_config(fake.root, tmp_path / "d.sock"), store_opener=opener)
    daemon.tick()  # the baseline
    for _ in range(3):
        fake.advance(CPU, 2.0)
        daemon.tick()
    assert daemon.flush(everything=True) is False  # cannot open
    assert daemon.unsent_rows > 0 and daemon.store_problem
    fake.advance(CPU, 2.0)
    daemon.tick()
    assert daemon.flush(everything=True) is False  # opens, the write fails
    fake.advance(CPU, 2.0)
    daemon.tick()
    assert daemon.flush(everything=True) is True
    assert daemon.unsent_rows == 0 and daemon.store_problem is None
    rows = real.host_minutes(host_name(), "machine")
    assert sum(r[5] for r in rows if r[4] == CPU) == pytest.approx(10.0)
    assert daemon.attributor.domain_energy()[CPU] == pytest.approx(10.0)
    everything = [r for r in real.host_minutes(host_name()) if r[4] == CPU]
    users = sum(r[5] for r in everything if r[2] == "user")
    rest = sum(r[5] for r in everything if r[2] == "unattributed")
    assert users + rest == pytest.approx(10.0)
    daemon.close()


def test_the_host_power_model_is_learned_and_saved(fake: FakePowercap, tmp_path: Path) -> None:
    model_path = tmp_path / "model.json"
    daemon = make(fake, tmp_path, power_model=str(model_path))
    account = daemon.attributor.accounts[CPU]
    account.points.extend(PowerPoint(10.0 + 15.0 * b / 10, b / 10) for b in range(21))
    learned = daemon.learn()
    assert [m.domain for m in learned] == [CPU]
    assert daemon.attributor.floor(CPU).source == "learned"
    assert daemon.attributor.floor(CPU).watts == pytest.approx(10.0)
    model, problem = load_power_model(daemon.config, host_name())
    assert problem is None and model is not None
    assert model.domains[CPU].w_per_busy_cpu == pytest.approx(15.0)
    daemon.close()


def test_the_loop_ticks_until_stopped_and_close_flushes(fake: FakePowercap, tmp_path: Path) -> None:
    store_path = tmp_path / "store.db"
    daemon = make(fake, tmp_path, store=str(store_path), interval=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=daemon.run, args=(stop,))
    with fake.drive(CPU, 20.0):
        thread.start()
        threading.Event().wait(0.5)
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    measured = daemon.attributor.domain_energy()[CPU]
    assert 4.0 < measured < 12.0
    daemon.close()
    rows = open_store(str(store_path)).host_minutes(host_name(), "machine")
    assert sum(r[5] for r in rows if r[4] == CPU) == pytest.approx(measured)


def test_the_allocation_policy_is_refused_in_one_line(fake: FakePowercap, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="use usage"):
        make(fake, tmp_path, idle_policy="allocation")


def test_with_a_wall_meter_the_platform_is_balanced_split_and_learned(
    fake: FakePowercap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon's platform domain is the wall minus RAPL and the modelled memory at each
    tick, split between processes like the CPU, and its idle power is learned with the
    others'."""
    counter = WallCounter()
    use_wall(monkeypatch, counter.wall())
    daemon = make(fake, tmp_path, power_model=str(tmp_path / "model.json"))
    assert PLATFORM_ID in daemon.attributor.domains
    daemon.tick()
    for _ in range(3):
        fake.advance(CPU, 40.0)
        counter.advance(100.0)
        daemon.tick()
    energy = daemon.attributor.domain_energy()
    assert energy[CPU] + energy["memory:model"] + energy[PLATFORM_ID] == pytest.approx(300.0)
    a = daemon.attributor
    charged = sum(u.get(PLATFORM_ID, 0.0) for u in a.users.values())
    assert charged + a.unattributed[PLATFORM_ID] == pytest.approx(energy[PLATFORM_ID])
    account = a.accounts[PLATFORM_ID]
    account.points.extend(PowerPoint(50.0 + 5.0 * b / 10, b / 10) for b in range(21))
    learned = {m.domain: m for m in daemon.learn()}
    assert learned[PLATFORM_ID].idle_w == pytest.approx(50.0)
    assert a.floor(PLATFORM_ID).source == "learned"
    daemon.close()


def test_without_a_wall_meter_the_calibrated_platform_is_counted(
    fake: FakePowercap, tmp_path: Path
) -> None:
    """A host power model with ``calibrate --wall-watts``'s platform: the daemon counts it
    at its constant power, its floor named calibrated, as trackers name it."""
    path = tmp_path / "model.json"
    config = load_config({"power_model": str(path)})
    save_platform(
        config,
        host_name(),
        PlatformPower(54.0, 100.0, {CPU: 40.0, "memory:model": 6.0}, "a wattmeter", NOW),
    )
    daemon = make(fake, tmp_path, power_model=str(path), wall_power="none")
    assert daemon.attributor.floor(MODEL_ID) == (54.0, "calibrated", None)
    daemon.tick()
    time.sleep(0.2)
    daemon.tick()
    (joules,) = [j for d, j in daemon.attributor.domain_energy().items() if d == MODEL_ID]
    assert joules == pytest.approx(54.0 * 0.2, rel=0.5)
    daemon.close()
