"""The wall sampler's integral (trapezoid between readings, gaps bridged and said, power held
past the last reading), its thread (never in the tick's way), and which sensor
``wall_power`` opens."""

from __future__ import annotations

import math
import shlex
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakehwmon import FakeHwmon
from redfishserver import RedfishServer, credentials_file, mockup

from impactlib.config import load_config
from impactlib.errors import MeterUnavailable
from impactlib.footprint import Method
from impactlib.meters.hwmon import HwmonWallMeter
from impactlib.meters.ipmi import IpmiWallMeter
from impactlib.meters.redfish import RedfishWallMeter
from impactlib.meters.settings import MeterSettings
from impactlib.meters.wall import (
    WallMeter,
    WallReading,
    WallSampler,
    open_wall_meter,
    open_wall_sampler,
)

IPMI_DATA = Path(__file__).parent.parent / "data" / "ipmi"


class ScriptedMeter(WallMeter):
    """Readings from a script: (seconds after ``base``, watts), or None for a failed one."""

    method = Method.HWMON
    note = "scripted (tests)"

    def __init__(self, script: list[tuple[float, float] | None], period_s: float = 1.0) -> None:
        self.base = time.monotonic() + 1000.0  # after the sampler's opening moment
        self.script: Iterator[tuple[float, float] | None] = iter(script)
        self.period_s = period_s
        self.closed = False

    def read_power(self) -> WallReading | None:
        step = next(self.script, None)
        return None if step is None else WallReading(step[1], self.base + step[0])

    def close(self) -> None:
        self.closed = True


def sampled(script: list[tuple[float, float] | None], period_s: float = 1.0) -> WallSampler:
    sampler = WallSampler(ScriptedMeter(script, period_s))
    for _ in script:
        sampler.poll()
    return sampler


def test_power_is_integrated_by_the_trapezoid_and_interpolated_at_any_moment() -> None:
    sampler = sampled([(0.0, 100.0), (2.0, 200.0), (3.0, 200.0)])
    base = sampler.meter.base  # type: ignore[attr-defined]

    def joules(a: float, b: float) -> float:
        start, end = sampler.energy_j_at(base + a), sampler.energy_j_at(base + b)
        assert start is not None and end is not None
        return end - start

    assert joules(0, 2) == pytest.approx(300.0)  # (100 + 200) / 2 x 2 s
    assert joules(0, 1) == pytest.approx(125.0)  # power linear: 150 W at 1 s
    assert joules(0.5, 2.5) == pytest.approx(joules(0.5, 1.25) + joules(1.25, 2.5))
    assert joules(3, 5) == pytest.approx(400.0)  # after the last reading, its power held
    assert joules(-1, 0) == pytest.approx(100.0)  # before the first, the first one's
    assert sampler.latest_w() == 200.0
    assert sampler.diagnostics() == []


def test_one_reading_is_held_and_none_answers_nothing() -> None:
    """A tracker's baseline tick often comes before the sensor's second reading: the first
    reading's power is held, so the platform starts with the run, not a period late."""
    sampler = sampled([(0.0, 100.0)])
    now = time.monotonic()
    start, end = sampler.energy_j_at(now), sampler.energy_j_at(now + 2.0)
    assert start is not None and end is not None
    assert end - start == pytest.approx(200.0)
    assert sampler.latest_w() == 100.0
    empty = WallSampler(ScriptedMeter([]))
    assert empty.latest_w() is None and empty.energy_j_at(now) is None


def test_a_gap_is_bridged_by_a_straight_line_and_said() -> None:
    sampler = sampled([(0.0, 100.0), (1.0, 100.0), None, None, (4.0, 400.0)])
    base = sampler.meter.base  # type: ignore[attr-defined]
    start, end = sampler.energy_j_at(base + 1.0), sampler.energy_j_at(base + 4.0)
    assert start is not None and end is not None
    assert end - start == pytest.approx(750.0)  # (100 + 400) / 2 x 3 s
    assert sampler.diagnostics() == [
        "wall power (hwmon): 2 readings of 5 failed",
        "wall power (hwmon): 1 gap between readings (the longest 3.0 s, against one reading "
        "every 1 s) bridged by a straight line between the readings on either side",
    ]


class _Raising(ScriptedMeter):
    def read_power(self) -> WallReading | None:
        raise OSError("a meter broke its promise")


@pytest.mark.parametrize("watts", [math.nan, -5.0, math.inf])
def test_impossible_readings_and_raising_meters_count_as_failed(watts: float) -> None:
    sampler = sampled([(0.0, 100.0), (1.0, watts), (2.0, 100.0)])
    assert (sampler.readings, sampler.failed) == (2, 1)
    raising = WallSampler(_Raising([]))
    assert raising.poll() is None and raising.failed == 1


def test_a_reading_not_after_the_last_one_is_ignored() -> None:
    sampler = sampled([(0.0, 100.0), (2.0, 100.0), (1.0, 900.0)])
    assert sampler.readings == 2 and sampler.latest_w() == 100.0


class _Live(WallMeter):
    """Real-time readings at a constant power; ``delay_s`` makes each read that slow."""

    method = Method.REDFISH
    note = "live (tests)"

    def __init__(self, watts: float, period_s: float, delay_s: float = 0.0) -> None:
        self.watts, self.period_s, self.delay_s = watts, period_s, delay_s
        self.reads = 0
        self.closed = threading.Event()

    def read_power(self) -> WallReading | None:
        time.sleep(self.delay_s)
        self.reads += 1
        return WallReading(self.watts, time.monotonic())

    def close(self) -> None:
        self.closed.set()


def wait_for(condition: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_thread_polls_at_the_sensors_pace_and_stops_on_close() -> None:
    meter = _Live(50.0, period_s=0.02)
    sampler = WallSampler(meter).start()
    wait_for(lambda: sampler.readings >= 5)
    start = time.monotonic()
    time.sleep(0.1)
    end = time.monotonic()
    first, last = sampler.energy_j_at(start), sampler.energy_j_at(end)
    assert first is not None and last is not None
    assert last - first == pytest.approx(50.0 * (end - start), rel=1e-6)
    sampler.close()
    assert meter.closed.is_set()
    reads = meter.reads
    time.sleep(0.1)
    assert meter.reads == reads  # stopped


def test_a_slow_sensor_never_holds_up_the_tick() -> None:
    """A BMC that takes half a second to answer: the tick's question is answered at once."""
    meter = _Live(80.0, period_s=0.01, delay_s=0.3)
    sampler = WallSampler(meter).start()
    wait_for(lambda: sampler.readings >= 2, timeout_s=5.0)
    time.sleep(0.05)  # a reading is in progress now
    asked = time.monotonic()
    assert sampler.energy_j_at(asked) is not None
    assert time.monotonic() - asked < 0.05
    sampler.close()
    wait_for(meter.closed.is_set)  # closed once the reading in progress ended


def settings(**values: Any) -> MeterSettings:
    return MeterSettings.of(load_config(values), via_daemon=False)


@pytest.fixture
def no_in_band(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine's own BMC (or its absence) out of the tests of ``auto``."""
    monkeypatch.setattr("impactlib.meters.wall._in_band_problem", lambda: "no BMC device (tests)")


def test_auto_prefers_the_hwmon_meter(tmp_path: Path, no_in_band: None) -> None:
    fake = FakeHwmon(tmp_path)
    fake.add_power_meter(240.0)
    meter = open_wall_meter(settings(hwmon_root=str(fake.root), redfish_url="http://127.0.0.1:9"))
    meter.close()
    assert isinstance(meter, HwmonWallMeter)


def test_auto_reads_redfish_where_it_is_set(tmp_path: Path, no_in_band: None) -> None:
    with RedfishServer(mockup(tmp_path)) as server:
        meter = open_wall_meter(
            settings(
                hwmon_root=str(tmp_path / "none"),
                redfish_url=server.url,
                redfish_credentials=str(credentials_file(tmp_path)),
            )
        )
        meter.close()
    assert isinstance(meter, RedfishWallMeter)


def test_auto_reads_ipmi_where_a_command_answers(tmp_path: Path, no_in_band: None) -> None:
    command = shlex.join(["cat", str(IPMI_DATA / "freeipmi-active.txt")])
    meter = open_wall_meter(settings(hwmon_root=str(tmp_path / "none"), ipmi_command=command))
    assert isinstance(meter, IpmiWallMeter)


def test_auto_with_no_sensor_gives_each_ones_reason(tmp_path: Path, no_in_band: None) -> None:
    with pytest.raises(MeterUnavailable) as caught:
        open_wall_meter(settings(hwmon_root=str(tmp_path / "none")))
    reason = caught.value.reason
    assert f"hwmon: no ACPI power meter of the whole server under {tmp_path / 'none'}" in reason
    assert "redfish: redfish_url is not set" in reason
    assert "ipmi: no BMC device (tests)" in reason
    assert "calibrate --wall-watts" in caught.value.fix


def test_a_named_sensor_is_the_only_one_tried(tmp_path: Path) -> None:
    fake = FakeHwmon(tmp_path)
    fake.add_power_meter(240.0)
    with pytest.raises(MeterUnavailable, match="redfish_url is not set"):
        open_wall_meter(settings(hwmon_root=str(fake.root), wall_power="redfish"))
    with pytest.raises(MeterUnavailable, match=r"wall_power = none"):
        open_wall_meter(settings(hwmon_root=str(fake.root), wall_power="none"))


def test_open_wall_sampler_starts_polling(tmp_path: Path) -> None:
    fake = FakeHwmon(tmp_path)
    fake.add_power_meter(240.0, interval_ms=100)
    sampler = open_wall_sampler(settings(hwmon_root=str(fake.root), wall_power="hwmon"))
    try:
        wait_for(lambda: sampler.readings >= 2)
        assert sampler.method == Method.HWMON and "power1_average" in sampler.note
        assert sampler.latest_w() == pytest.approx(240.0)
    finally:
        sampler.close()


def test_impactlib_hardware_says_why_no_wall_meter_and_the_fix(tmp_path: Path) -> None:
    from clihelp import cli

    fake = FakeHwmon(tmp_path)
    fake.add_driver("amdgpu", 180.0)
    env = {"IMPACTLIB_POWERCAP_ROOT": str(tmp_path / "none"), "COLUMNS": "200"}
    result = cli("hardware", "--wall-power", "hwmon", "--hwmon-root", str(fake.root), env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    at = lines.index("Wall power (the whole server, read by the BMC or the firmware)")
    assert lines[at + 1].startswith("  - not read: no ACPI power meter of the whole server")
    assert "hwmon0 (amdgpu) measures an AMD GPU" in lines[at + 1]
    assert lines[at + 2].strip().startswith("fix: read the BMC instead")
    assert "wall power:" not in result.stdout.split("Not measured here")[-1]  # said once
