"""The platform domain (``meters/platform.py``): the wall minus every other domain, read at the
same tick, never negative, and opened where a wall meter is (not where the daemon serves)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fakewall import ScriptedWall, WallCounter, use_wall
from powercap import FakePowercap

from impactlib.config import load_config
from impactlib.footprint import Component, Method, Quality
from impactlib.meters import CPU_TIME_SPLIT, MeterSet, MeterSettings, open_meters
from impactlib.meters.base import Domain, Tick
from impactlib.meters.platform import PLATFORM_ID, PlatformBalance, PlatformModelMeter

PACKAGE = "cpu:package-0"


@pytest.fixture(autouse=True)
def no_gpu_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "amdsmi", None)
    monkeypatch.setattr("impactlib.meters.driver.nvidia_driver_present", lambda: False)


def part(domain_id: str) -> Domain:
    return Domain(domain_id, Component.CPU, Method.RAPL, "machine", Quality.MEASURED)


def balance(wall: WallCounter, *parts: str) -> PlatformBalance:
    return PlatformBalance(wall.wall(), Method.HWMON, "a sensor", [part(p) for p in parts])


def test_the_platform_is_the_wall_minus_every_other_domain() -> None:
    wall = WallCounter()
    platform = balance(wall, "cpu:a", "memory:model")
    assert platform.settle(wall.joules, {"cpu:a": 0.0, "memory:model": 0.0}) == 0.0
    wall.advance(100.0)
    assert platform.settle(wall.joules, {"cpu:a": 40.0, "memory:model": 6.0}) == 54.0
    wall.advance(100.0)
    assert platform.settle(wall.joules, {"cpu:a": 80.0, "memory:model": 12.0}) == 108.0
    assert platform.diagnostics() == []
    assert platform.domain.id == PLATFORM_ID
    assert platform.domain.component is Component.PLATFORM
    assert platform.domain.method is Method.HWMON
    assert platform.domain.quality is Quality.MEASURED
    assert platform.domain.note.startswith(
        "wall power (sensor) minus RAPL, GPUs and modelled lines"
    )


def test_a_short_interval_counts_zero_and_later_ones_make_it_up() -> None:
    """A wall sensor lagging a load step reads less than RAPL for a tick: no negative
    platform energy, and over the run the balance still closes."""
    wall = WallCounter()
    platform = balance(wall, "cpu:a")
    platform.settle(0.0, {"cpu:a": 0.0})
    totals = []
    rapl = 0.0
    for wall_step, rapl_step in ((100, 40), (30, 50), (170, 50), (100, 40)):
        wall.advance(wall_step)
        rapl += rapl_step
        totals.append(platform.settle(wall.joules, {"cpu:a": rapl}))
    assert totals == [60.0, 60.0, 160.0, 220.0]  # never down: the 20 J short were made up
    assert totals[-1] == wall.joules - rapl  # wall - RAPL over the run, exactly
    (line,) = platform.diagnostics()
    assert "in 1 of 4 intervals (20.0 J in all)" in line and "except" not in line


def test_a_shortfall_never_made_up_is_dropped_and_said() -> None:
    wall = WallCounter()
    platform = balance(wall, "cpu:a")
    platform.settle(0.0, {"cpu:a": 0.0})
    wall.advance(30.0)
    assert platform.settle(wall.joules, {"cpu:a": 40.0}) == 0.0
    (line,) = platform.diagnostics()
    assert "in 1 of 1 interval " in line and "except 10.0 J, counted as 0" in line


def test_a_gap_on_either_side_is_covered_by_the_next_complete_tick() -> None:
    wall = WallCounter()
    platform = balance(wall, "cpu:a", "cpu:b")
    platform.settle(0.0, {"cpu:a": 0.0, "cpu:b": 0.0})
    wall.advance(100.0)
    assert platform.settle(None, {"cpu:a": 20.0, "cpu:b": 20.0}) is None  # no wall reading
    wall.advance(100.0)
    assert platform.settle(wall.joules, {"cpu:a": 40.0}) is None  # cpu:b not read
    wall.advance(100.0)
    assert platform.settle(wall.joules, {"cpu:a": 60.0, "cpu:b": 60.0}) == 180.0


def test_the_platform_is_split_by_cpu_time_like_the_cpu() -> None:
    assert Component.PLATFORM in CPU_TIME_SPLIT


def open_with_wall(
    opened: list[MeterSet], monkeypatch: pytest.MonkeyPatch, root: Path, wall: ScriptedWall
) -> MeterSet:
    use_wall(monkeypatch, wall)
    settings = MeterSettings.of(load_config({"powercap_root": str(root)}), via_daemon=False)
    meters = open_meters(settings)
    opened.append(meters)
    return meters


def test_a_wall_meter_adds_the_platform_and_the_sets_ticks_read_it(
    opened: list[MeterSet], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """RAPL and the modelled memory are subtracted; the wall is read at the capture (the
    tick), the difference taken at the decode; the sampler must read the machine's CPU time
    at every tick, since the platform is split by it."""
    fake = FakePowercap(tmp_path)
    fake.add_package(0)
    counter = WallCounter()
    wall = counter.wall()
    meters = open_with_wall(opened, monkeypatch, fake.root, wall)
    ids = [d.id for d in meters.domains()]
    assert ids == [PACKAGE, "memory:model", PLATFORM_ID]
    assert meters.platform is not None and meters.platform.parts == (PACKAGE, "memory:model")
    assert meters.machine_cpu_each_tick()
    first = meters.decode(meters.capture(), Tick(0.0, None))
    counter.advance(100.0)
    fake.advance(PACKAGE, 40.0)
    captured = meters.capture()
    counter.advance(500.0)  # after the tick: not in this interval
    second = meters.decode(captured, Tick(1.0, None))
    memory_j = second["memory:model"] - first["memory:model"]
    assert second[PACKAGE] == pytest.approx(40.0)
    assert second[PLATFORM_ID] == pytest.approx(60.0 - memory_j)
    meters.close()
    assert wall.closed


def test_without_a_wall_meter_there_is_no_platform_and_the_reason_is_kept(
    opened: list[MeterSet], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from impactlib.errors import MeterUnavailable

    def none_here(settings: MeterSettings) -> ScriptedWall:
        raise MeterUnavailable("wall", "no wall power sensor here", "set wall_power")

    monkeypatch.setattr("impactlib.meters.wall.open_wall_sampler", none_here)
    fake = FakePowercap(tmp_path)
    fake.add_package(0)
    settings = MeterSettings.of(load_config({"powercap_root": str(fake.root)}), via_daemon=False)
    meters = open_meters(settings)
    opened.append(meters)
    assert meters.platform is None
    assert all(d.component is not Component.PLATFORM for d in meters.domains())
    assert any(exc.meter == "wall" for exc in meters.unavailable)


def test_the_calibrated_platform_is_constant_power_all_idle() -> None:
    meter = PlatformModelMeter(54.0, "100 W at the wall minus 46 W")
    (domain,) = meter.domains()
    assert domain.component is Component.PLATFORM
    assert domain.method is Method.MODEL_PLATFORM
    assert domain.quality is Quality.ESTIMATED
    assert meter.idle_power_w() == 54.0
    a = meter.decode(None, Tick(10.0, None))[domain.id]
    b = meter.decode(None, Tick(12.5, None))[domain.id]
    assert b - a == pytest.approx(54.0 * 2.5)
