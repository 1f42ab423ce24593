"""Whole-server power at the wall: one sensor chosen, polled in a thread and integrated.

RAPL and NVML see CPU packages, DRAM and GPUs; fans, disks, network cards, the board and the
power supply's losses are seen only by a sensor on the server's input: an hwmon power meter
(ACPI ``power_meter``), the BMC through IPMI DCMI, or the BMC through Redfish. Those report
*power* (watts), at their own pace (an ACPI meter averages over its interval, a BMC answers in
tenths of a second to seconds), never energy; :class:`WallSampler` polls one at that pace in
its own thread and integrates the readings, so the sampler's tick only asks the integral at a
moment (:meth:`WallSampler.energy_j_at`), aligned in time with RAPL and NVML.

One module per sensor (:mod:`.hwmon`, :mod:`.ipmi`, :mod:`.redfish`); their quirks stay there.
The interface they implement (:class:`WallMeter`, :class:`WallReading`) is in
:mod:`.wallmeter`, which they import (this module imports them: no circle), and is
re-exported here.

Usage (the meter set, the daemon)::

    meter = open_wall_meter(settings)     # MeterUnavailable: none here, with reason and fix
    sampler = WallSampler(meter).start()  # or open_wall_sampler(settings): both at once
    ...                                   # at each tick, at its own time.monotonic():
    joules = sampler.energy_j_at(tick_s)  # cumulative J since opened; None before a reading
    sampler.diagnostics()                 # failed reads, bridged gaps, the sensor's own lines
    sampler.close()                       # stops the thread, closes the meter

``sampler.method``, ``sampler.note`` and ``sampler.accuracy_percent`` are the meter's (the
record's method, its provenance, and the accuracy the sensor states, for the ranges).
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import MeterUnavailable
from .base import plural
from .wallmeter import WALL, WallMeter, WallReading

if TYPE_CHECKING:
    from .settings import MeterSettings

__all__ = [
    "WALL",
    "WallMeter",
    "WallReading",
    "WallSampler",
    "open_wall_meter",
    "open_wall_sampler",
]


# Readings kept for interpolation: at one a second, 17 minutes, far more than the time
# between two ticks; a moment older than the oldest kept holds that reading's power.
_KEEP = 1024
# A wait between two readings longer than this many periods is a gap worth saying.
_GAP_PERIODS = 2.5


class _Integral:
    """Cumulative joules from power readings: the trapezoid between readings, the first
    reading's power held back to the opening moment, the last one's held forward."""

    def __init__(self, opened_s: float) -> None:
        self.opened_s = opened_s
        self.times: list[float] = []
        self.watts: list[float] = []
        self.joules: list[float] = []  # cumulative at each kept reading

    def add(self, reading: WallReading) -> float | None:
        """Take ``reading``; the time since the previous one (None for the first)."""
        if not self.times:
            self.times.append(reading.monotonic_s)
            self.watts.append(reading.watts)
            self.joules.append(reading.watts * (reading.monotonic_s - self.opened_s))
            return None
        dt = reading.monotonic_s - self.times[-1]
        self.joules.append(self.joules[-1] + dt * (self.watts[-1] + reading.watts) / 2)
        self.times.append(reading.monotonic_s)
        self.watts.append(reading.watts)
        if len(self.times) > 2 * _KEEP:
            del self.times[:-_KEEP], self.watts[:-_KEEP], self.joules[:-_KEEP]
        return dt

    def at(self, t: float) -> float | None:
        """Cumulative joules at ``t`` (power linear between readings; one reading's power
        held: a tracker's baseline tick often comes before the sensor's second reading, and
        the platform would otherwise start a whole period late)."""
        if not self.times:
            return None
        if t >= self.times[-1]:
            return self.joules[-1] + self.watts[-1] * (t - self.times[-1])
        if t <= self.times[0]:
            return self.joules[0] - self.watts[0] * (self.times[0] - t)
        i = bisect.bisect_right(self.times, t) - 1
        t0, t1 = self.times[i], self.times[i + 1]
        p0, p1 = self.watts[i], self.watts[i + 1]
        p_t = p0 + (p1 - p0) * (t - t0) / (t1 - t0)
        return self.joules[i] + (t - t0) * (p0 + p_t) / 2


class WallSampler:
    """Polls one :class:`WallMeter` at its ``period_s`` in a daemon thread and integrates.

    The tick never waits for the sensor (a BMC may take a second to answer): it only asks
    :meth:`energy_j_at`, which interpolates between the readings taken so far. A failed
    reading is a gap: the straight line between the readings on either side bridges it, and
    :meth:`diagnostics` says how many failed and the longest gap bridged.
    """

    def __init__(self, meter: WallMeter) -> None:
        self.meter = meter
        self.method = meter.method
        self.note = meter.note
        self.accuracy_percent = meter.accuracy_percent
        self._lock = threading.Lock()
        self._integral = _Integral(time.monotonic())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.readings = 0
        self.failed = 0
        self.gaps = 0  # waits between readings longer than _GAP_PERIODS periods
        self.longest_gap_s = 0.0

    def start(self) -> WallSampler:
        """Start polling in a daemon thread (a first reading at once); returns self."""
        self._thread = threading.Thread(target=self._run, name="impactlib-wall", daemon=True)
        self._thread.start()
        return self

    def poll(self) -> WallReading | None:
        """One reading now, integrated (what the thread does every period)."""
        try:
            reading = self.meter.read_power()
        except Exception:  # a meter must not raise; if one does, it is a failed reading
            reading = None
        if reading is not None and not (math.isfinite(reading.watts) and reading.watts >= 0):
            reading = None
        with self._lock:
            if reading is None:
                self.failed += 1
                return None
            if self._integral.times and reading.monotonic_s <= self._integral.times[-1]:
                return None  # not after the last one: nothing new
            dt = self._integral.add(reading)
            self.readings += 1
            if dt is not None and dt > _GAP_PERIODS * self.meter.period_s:
                self.gaps += 1
                self.longest_gap_s = max(self.longest_gap_s, dt)
        return reading

    def energy_j_at(self, monotonic_s: float) -> float | None:
        """Joules since the sampler was made, at a ``time.monotonic`` moment (a tick's),
        interpolated between the readings around it; after the last reading, that power
        held. None until a reading was taken."""
        with self._lock:
            return self._integral.at(monotonic_s)

    def latest_w(self) -> float | None:
        """The last reading's watts (None before the first)."""
        with self._lock:
            return self._integral.watts[-1] if self._integral.watts else None

    def diagnostics(self) -> list[str]:
        """Failed readings, bridged gaps, then the sensor's own lines."""
        label = f"{WALL} ({self.method.value})"
        lines = []
        with self._lock:
            if self.failed:
                lines.append(
                    f"{label}: {plural(self.failed, 'reading')} of "
                    f"{self.failed + self.readings} failed"
                )
            if self.gaps:
                lines.append(
                    f"{label}: {plural(self.gaps, 'gap')} between readings (the longest "
                    f"{self.longest_gap_s:.1f} s, against one reading every "
                    f"{self.meter.period_s:g} s) bridged by a straight line between the "
                    "readings on either side"
                )
        return lines + self.meter.diagnostics()

    def close(self) -> None:
        """Stop polling; the meter is closed once its last reading is over."""
        self._stop.set()
        thread = self._thread
        if thread is None:
            self.meter.close()
        elif thread is not threading.current_thread():
            thread.join(timeout=1.0)  # a reading in progress closes the meter when it ends

    def _run(self) -> None:
        try:
            due = time.monotonic()
            while not self._stop.is_set():
                self.poll()
                due += self.meter.period_s
                now = time.monotonic()
                due = max(due, now)  # a slow reading: skip the missed slots, no burst
                self._stop.wait(due - now)
        finally:
            self.meter.close()


def open_wall_sampler(settings: MeterSettings) -> WallSampler:
    """:func:`open_wall_meter`, polled by a started :class:`WallSampler`."""
    return WallSampler(open_wall_meter(settings)).start()


def open_wall_meter(settings: MeterSettings) -> WallMeter:
    """The wall sensor the ``wall_power`` setting chooses.

    ``auto``: an hwmon wall sensor where there is one, else Redfish where ``redfish_url`` is
    set, else IPMI DCMI where ipmitool or FreeIPMI is installed, this user may open the
    BMC's device (``/dev/ipmi0``: root) and the BMC answers (or ``ipmi_command`` is set); else
    :class:`MeterUnavailable` with each one's reason. Opening reads the sensor once, so
    a sensor that is here but does not answer is refused now, not at the first tick.
    """
    openers: dict[str, Callable[[MeterSettings], WallMeter]] = {
        "hwmon": _open_hwmon,
        "redfish": _open_redfish,
        "ipmi": _open_ipmi,
    }
    choice = settings.wall_power
    if choice == "none":
        raise MeterUnavailable(
            WALL,
            "not read (wall_power = none)",
            "set wall_power = auto to read an hwmon power meter or the BMC",
        )
    if choice != "auto":
        return openers[choice](settings)
    reasons = []
    for name, opener in openers.items():
        if name == "redfish" and settings.redfish_url is None:
            reasons.append("redfish: redfish_url is not set")
            continue
        problem = _in_band_problem() if name == "ipmi" and settings.ipmi_command is None else None
        if problem is not None:  # not worth starting a tool that cannot succeed
            reasons.append(f"ipmi: {problem}")
            continue
        try:
            return opener(settings)
        except MeterUnavailable as exc:
            reasons.append(f"{name}: {exc.reason}")
    raise MeterUnavailable(
        WALL,
        "no wall power sensor answered (" + "; ".join(reasons) + ")",
        "on a server with a BMC, install ipmitool and read it as root (impactlib serve does), "
        "or set redfish_url and redfish_credentials; without one, give the wall reading of a "
        "wattmeter to impactlib calibrate --wall-watts",
    )


def _in_band_problem() -> str | None:
    from .ipmi import in_band_problem

    return in_band_problem()


def _open_hwmon(settings: MeterSettings) -> WallMeter:
    from .hwmon import HwmonWallMeter

    return HwmonWallMeter(settings.hwmon_root)


def _open_ipmi(settings: MeterSettings) -> WallMeter:
    from .ipmi import IpmiWallMeter

    return IpmiWallMeter(settings.ipmi_command)


def _open_redfish(settings: MeterSettings) -> WallMeter:
    from .redfish import RedfishWallMeter

    if settings.redfish_url is None:
        raise MeterUnavailable(
            WALL, "redfish_url is not set", "set redfish_url to the BMC (https://bmc-address)"
        )
    return RedfishWallMeter(settings.redfish_url, settings.redfish_credentials)
