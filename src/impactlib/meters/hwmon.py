"""Wall power from the hwmon class: the ACPI 4.0 power meter (``power_meter``).

The ACPI power meter (device ``ACPI000D``, ACPI 6.x section 10.4; Linux driver
``drivers/hwmon/acpi_power_meter.c``, ``Documentation/hwmon/acpi_power_meter.rst``) is the
platform's own meter of what it draws: ``power1_average`` in microwatts (the firmware's
milliwatts x 1000), averaged over ``power1_average_interval`` milliseconds, with the accuracy
the firmware states in ``power1_accuracy`` (``"95.0%"``). Servers that have one (Dell, HPE,
Lenovo, Supermicro with ``acpi_ipmi`` loaded) back it by the BMC's reading of the power
supplies' input, so it is the wall.

Where the files are. Older kernels register the meter with the old ``hwmon_device_register``
call, so the files sit on the ACPI device, ``hwmonN/device/power1_average`` (and
``device/name``); since the driver moved to ``hwmon_device_register_with_info`` they are in
``hwmonN/`` itself. Both are read.
A reading the firmware does not know fails with ``ENODATA`` (newer kernels) or reads
``0xFFFFFFFF`` mW (older ones): both are a failed reading, a gap.

Which hwmon power sensors are the wall. Only ``power_meter`` devices, and not all of them:
NVIDIA Grace servers expose one ACPI power meter per part, named by ``power1_oem_info``
("Module Power Socket 0", "Grace Power Socket 0", "CPU Power Socket 0", "SysIO Power
Socket 0": NVIDIA Grace Performance Tuning Guide, Power Telemetry), which measure a
superchip module, a CPU or its I/O, never the server's input; and a meter flagged
``power1_is_battery`` measures a battery. Every other driver's ``power*_input`` /
``power*_average`` measures a part: a GPU (amdgpu, nouveau, i915, xe), a CPU package
(fam15h_power, zenpower, amd_hsmp), a rail behind a voltage regulator or a current shunt
(ina2xx, pmbus chips): summing them would miss the rest and counting them on top of RAPL
and NVML would count them twice. They are listed, with why, and never read. Where more
than one whole-server meter is left, which one is the server cannot be told: none is used.
"""

from __future__ import annotations

import errno
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import MeterUnavailable
from ..footprint import Method
from .wallmeter import WALL, FailedReadings, WallMeter, WallReading

DEFAULT_ROOT = "/sys/class/hwmon"
WALL_DRIVER = "power_meter"
# Parts of a server, not its input: the ACPI power meters of NVIDIA Grace (power1_oem_info).
_PART_METER = re.compile(r"^(Module|Grace|CPU|SysIO) Power Socket \d+$")
# Drivers whose power sensors are known parts, named in the list of sensors not used.
_KNOWN_PARTS = {
    "amdgpu": "an AMD GPU",
    "nouveau": "an NVIDIA GPU",
    "i915": "an Intel GPU",
    "xe": "an Intel GPU",
    "fam15h_power": "an AMD CPU",
    "zenpower": "an AMD CPU",
    "amd_hsmp_hwmon": "an AMD CPU socket",
}
_POWER_FILE = re.compile(r"^power\d+_(input|average)$")
# The firmware's "unknown" (0xFFFFFFFF mW), printed x 1000 by kernels before the
# ENODATA check; anything from there up is no reading. 100 kW: more than any one server.
_UNKNOWN_UW = 0xFFFFFFFF * 1000
_MAX_PLAUSIBLE_W = 100_000.0
_DEFAULT_PERIOD_S = 1.0  # where the interval cannot be read
_MIN_PERIOD_S = 0.1  # an interval of a few ms is not worth a wake-up each


@dataclass(frozen=True)
class HwmonSensor:
    """One hwmon device that has power files: where they are and what it is."""

    hwmon: str  # hwmonN
    files: Path  # the directory holding name and power*_ (hwmonN or hwmonN/device)
    driver: str  # contents of ``name``
    power_files: tuple[str, ...]
    oem_info: str = ""
    is_battery: bool = False

    def why_not_wall(self) -> str | None:
        """None for a whole-server meter; else why its power is not the wall."""
        if self.driver != WALL_DRIVER:
            part = _KNOWN_PARTS.get(self.driver)
            what = f"measures {part}" if part else "is not known to measure the server's input"
            return f"{self.hwmon} ({self.driver}) {what}"
        if self.is_battery:
            return f"{self.hwmon} (power_meter) measures a battery (power1_is_battery)"
        if _PART_METER.match(self.oem_info):
            return f"{self.hwmon} (power_meter, '{self.oem_info}') measures a part, not the input"
        if "power1_average" not in self.power_files:
            return f"{self.hwmon} (power_meter) has no power1_average (it cannot measure)"
        return None


def find_sensors(root: str | os.PathLike[str] = DEFAULT_ROOT) -> list[HwmonSensor]:
    """Every hwmon device under ``root`` with power files, in hwmon order."""
    base = Path(root)
    try:
        entries = sorted(os.listdir(base), key=_hwmon_order)
    except OSError:
        return []
    found = []
    for entry in entries:
        for files in (base / entry, base / entry / "device"):
            driver = _read_text(files / "name")
            if driver is None:
                continue
            try:
                power = tuple(sorted(n for n in os.listdir(files) if _POWER_FILE.match(n)))
            except OSError:
                power = ()
            if power:
                found.append(
                    HwmonSensor(
                        hwmon=entry,
                        files=files,
                        driver=driver,
                        power_files=power,
                        oem_info=_read_text(files / "power1_oem_info") or "",
                        is_battery=_read_text(files / "power1_is_battery") == "1",
                    )
                )
            break  # the name found says which directory holds this device's files
    return found


class HwmonWallMeter(WallMeter):
    """The server's ACPI power meter, read with one ``pread`` of ``power1_average``."""

    method = Method.HWMON

    def __init__(self, root: str | os.PathLike[str] = DEFAULT_ROOT) -> None:
        sensors = find_sensors(root)
        walls = [s for s in sensors if s.why_not_wall() is None]
        skipped = [reason for s in sensors if (reason := s.why_not_wall()) is not None]
        if not walls:
            others = f"; not the wall: {', '.join(skipped)}" if skipped else ""
            raise MeterUnavailable(
                WALL,
                f"no ACPI power meter of the whole server under {root}{others}",
                "read the BMC instead (wall_power = ipmi or redfish), or load the "
                "acpi_power_meter module (with acpi_ipmi) where the firmware has one",
            )
        if len(walls) > 1:
            names = ", ".join(f"{s.hwmon} ({s.files})" for s in walls)
            raise MeterUnavailable(
                WALL,
                f"{len(walls)} ACPI power meters under {root} ({names}): which one is the "
                "whole server cannot be told",
                "read the BMC instead (wall_power = ipmi or redfish)",
            )
        sensor = walls[0]
        self.path = sensor.files / "power1_average"
        interval_ms = _read_int(sensor.files / "power1_average_interval")
        self.period_s = max(interval_ms / 1000, _MIN_PERIOD_S) if interval_ms else _DEFAULT_PERIOD_S
        self.accuracy_percent = _accuracy(_read_text(sensor.files / "power1_accuracy"))
        averaged = f", averaged over {interval_ms} ms" if interval_ms else ""
        model = _read_text(sensor.files / "power1_model_number") or ""
        self.note = f"ACPI power meter {self.path}{averaged}" + (f" ({model})" if model else "")
        self.failures = FailedReadings(str(self.path))
        try:
            self._fd: int | None = os.open(self.path, os.O_RDONLY)
        except OSError as exc:
            raise MeterUnavailable(
                WALL, f"cannot open {self.path} ({exc.strerror})", "run as root"
            ) from exc
        if self.read_power() is None:
            self.close()
            raise MeterUnavailable(
                WALL,
                f"{self.path} gives no reading ({', '.join(self.failures.by_cause)})",
                "read the BMC instead (wall_power = ipmi or redfish)",
            )
        self.failures.by_cause.clear()

    def read_power(self) -> WallReading | None:
        """``power1_average`` now, in watts; None (counted by cause) when it fails."""
        if self._fd is None:
            return None
        try:
            raw = os.pread(self._fd, 64, 0)
            now = time.monotonic()
            microwatts = int(raw.decode("ascii").strip())
        except OSError as exc:
            cause = errno.errorcode.get(exc.errno or 0, str(exc.errno))
            return self._failed("the firmware knows no reading" if cause == "ENODATA" else cause)
        except ValueError:
            return self._failed("not a number")
        if microwatts >= _UNKNOWN_UW:
            return self._failed("the firmware knows no reading")
        watts = microwatts / 1e6
        if not 0 < watts <= _MAX_PLAUSIBLE_W:
            return self._failed(f"implausible reading ({watts:g} W)")
        return WallReading(watts, now)

    def diagnostics(self) -> list[str]:
        """One line per cause of failed readings."""
        return self.failures.lines()

    def close(self) -> None:
        """Close the file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _failed(self, cause: str) -> WallReading | None:
        """Count a failed reading by its cause; the reading is None."""
        self.failures.count(cause)
        return None


def _accuracy(text: str | None) -> float | None:
    """``power1_accuracy`` as a percentage. The driver prints thousandths of a percent as
    ``"%u.%u%%"`` without zero padding (95050 prints ``95.50%``), so only the whole percent
    is trusted: rounded down, the stated error is never made smaller than it is."""
    match = re.match(r"^(\d+)(?:\.\d+)?%$", text or "")
    if match is None:
        return None
    percent = float(match.group(1))
    return percent if 0 < percent <= 100 else None


def _hwmon_order(name: str) -> tuple[int, str]:
    digits = name.removeprefix("hwmon")
    return (int(digits), name) if digits.isdigit() else (1 << 30, name)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def _read_int(path: Path) -> int | None:
    text = _read_text(path)
    return int(text) if text is not None and text.isdigit() and int(text) > 0 else None
