"""The ACPI power meter through hwmon: found in both kernel layouts, read in watts, and never
confused with a GPU's, a CPU's or a Grace superchip's own power meter."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakehwmon import FakeHwmon

from impactlib.errors import MeterUnavailable
from impactlib.footprint import Method
from impactlib.meters.hwmon import HwmonWallMeter, find_sensors


@pytest.mark.parametrize("layout", ["new", "old"])
def test_acpi_power_meter_is_read_in_watts_in_both_layouts(layout: str, tmp_path: Path) -> None:
    fake = FakeHwmon(tmp_path)
    hwmon = fake.add_power_meter(231.5, layout=layout, interval_ms=1000)
    meter = HwmonWallMeter(fake.root)
    try:
        first = meter.read_power()
        fake.set_watts(hwmon, 412.25)  # rewritten in place: the open file sees it
        second = meter.read_power()
    finally:
        meter.close()
    assert first is not None and first.watts == pytest.approx(231.5)
    assert second is not None and second.watts == pytest.approx(412.25)
    assert second.monotonic_s >= first.monotonic_s
    assert meter.method == Method.HWMON
    assert meter.period_s == 1.0  # its averaging interval
    assert meter.accuracy_percent == 95.0
    assert "power1_average" in meter.note and "1000 ms" in meter.note


@pytest.mark.parametrize(
    ("interval_ms", "period_s"), [(2000, 2.0), (250, 0.25), (5, 0.1), (None, 1.0)]
)
def test_period_follows_the_averaging_interval(
    interval_ms: int | None, period_s: float, tmp_path: Path
) -> None:
    """Read at the sensor's own pace, but never more than ten times a second."""
    fake = FakeHwmon(tmp_path)
    fake.add_power_meter(interval_ms=interval_ms)
    meter = HwmonWallMeter(fake.root)
    meter.close()
    assert meter.period_s == pytest.approx(period_s)


@pytest.mark.parametrize(
    ("printed", "percent"), [("95.0%", 95.0), ("99.500%", 99.0), ("0.0%", None)]
)
def test_stated_accuracy_is_the_whole_percent(
    printed: str, percent: float | None, tmp_path: Path
) -> None:
    """The driver prints thousandths unpadded (95050 -> "95.50%"): only the whole percent,
    rounded down, is taken, so the stated error is never made smaller."""
    fake = FakeHwmon(tmp_path)
    fake.add_power_meter(accuracy=printed)
    meter = HwmonWallMeter(fake.root)
    meter.close()
    assert meter.accuracy_percent == percent


def test_gpu_and_cpu_power_sensors_are_never_the_wall(tmp_path: Path) -> None:
    fake = FakeHwmon(tmp_path)
    fake.add_driver("amdgpu", 180.0)
    fake.add_driver("fam15h_power", 95.0, "power1_input")
    fake.add_driver("ina3221", 12.0, "power1_input")
    with pytest.raises(MeterUnavailable) as caught:
        HwmonWallMeter(fake.root)
    reason = caught.value.reason
    assert "hwmon0 (amdgpu) measures an AMD GPU" in reason
    assert "hwmon1 (fam15h_power) measures an AMD CPU" in reason
    assert "hwmon2 (ina3221) is not known to measure the server's input" in reason
    assert "ipmi" in caught.value.fix and "redfish" in caught.value.fix
    # With the server's meter beside them, only the meter is read.
    fake.add_power_meter(300.0)
    meter = HwmonWallMeter(fake.root)
    reading = meter.read_power()
    meter.close()
    assert reading is not None and reading.watts == pytest.approx(300.0)


def test_grace_part_meters_and_batteries_are_not_the_wall(tmp_path: Path) -> None:
    """NVIDIA Grace exposes one ACPI power meter per part (power1_oem_info): a module, a
    CPU, its I/O; none is the server's input, so none is read."""
    fake = FakeHwmon(tmp_path)
    for part in ("Module", "Grace", "CPU", "SysIO"):
        fake.add_power_meter(100.0, oem_info=f"{part} Power Socket 0", interval_ms=50)
    fake.add_power_meter(20.0, is_battery=True)
    with pytest.raises(MeterUnavailable) as caught:
        HwmonWallMeter(fake.root)
    assert "'Module Power Socket 0') measures a part" in caught.value.reason
    assert "measures a battery" in caught.value.reason
    assert [s.why_not_wall() is None for s in find_sensors(fake.root)] == [False] * 5


def test_two_whole_server_meters_are_not_guessed_between(tmp_path: Path) -> None:
    fake = FakeHwmon(tmp_path)
    fake.add_power_meter(200.0)
    fake.add_power_meter(210.0, layout="old")
    with pytest.raises(MeterUnavailable, match="2 ACPI power meters"):
        HwmonWallMeter(fake.root)


def test_no_hwmon_tree_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(MeterUnavailable) as caught:
        HwmonWallMeter(tmp_path / "nothing")
    assert str(tmp_path / "nothing") in caught.value.reason


@pytest.mark.parametrize(
    ("raw", "cause"),
    [
        (f"{0xFFFFFFFF * 1000}\n", "the firmware knows no reading"),
        ("garbage\n", "not a number"),
        ("0\n", "implausible reading (0 W)"),
    ],
)
def test_a_bad_reading_is_a_gap_counted_by_cause(raw: str, cause: str, tmp_path: Path) -> None:
    fake = FakeHwmon(tmp_path)
    hwmon = fake.add_power_meter(250.0)
    meter = HwmonWallMeter(fake.root)
    fake.set_raw(hwmon, raw)
    assert meter.read_power() is None
    assert meter.read_power() is None
    fake.set_watts(hwmon, 260.0)
    reading = meter.read_power()
    meter.close()
    assert reading is not None and reading.watts == pytest.approx(260.0)
    assert meter.diagnostics() == [f"wall power ({meter.path}): 2 readings failed: {cause}"]


def test_a_meter_without_a_first_reading_is_refused(tmp_path: Path) -> None:
    fake = FakeHwmon(tmp_path)
    hwmon = fake.add_power_meter()
    fake.set_raw(hwmon, f"{0xFFFFFFFF * 1000}\n")
    with pytest.raises(MeterUnavailable, match="gives no reading"):
        HwmonWallMeter(fake.root)


def test_closed_meter_reads_nothing(tmp_path: Path) -> None:
    fake = FakeHwmon(tmp_path)
    fake.add_power_meter()
    meter = HwmonWallMeter(fake.root)
    meter.close()
    meter.close()  # twice is fine
    assert meter.read_power() is None
