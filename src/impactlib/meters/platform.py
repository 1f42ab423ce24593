"""The platform domain: what the server draws at the wall beyond RAPL, the GPUs and the models.

RAPL and NVML see CPU packages, DRAM and GPUs; fans, disks, network cards, the board and the
power supply's losses are seen by nobody but a sensor on the server's input
(:mod:`.wall`). The platform domain is that remainder, so that for the whole machine the
domains add up to the wall::

    platform = wall - (every RAPL domain + every GPU + every modelled line)

Every other domain of the meter set is subtracted, the modelled ones too (memory at its
W/GB, the CPU's TDP model where RAPL is unreadable): a modelled line then sits *inside* the
wall, never on top of it. Both sides are read at the same tick: the wall sampler's integral
is asked at the tick's own moment (:meth:`PlatformBalance.capture`), the other meters capture
theirs at that tick, and the difference is taken when the tick is decoded
(:meth:`PlatformBalance.settle`), in tick order.

An interval whose wall energy is below its parts' (a sensor that averages over a longer
window than the tick lags a load step; a modelled line set too high) gives no negative
platform energy: the interval counts 0 and the shortfall is taken from the intervals that
follow, so over a run the platform still closes the balance exactly. What was never made up
(the wall reading less than the parts overall) is dropped, and :meth:`diagnostics` says how
much and how often.

Without a wall meter, ``impactlib calibrate --wall-watts`` may have stored a constant
platform power in the host power model; :class:`PlatformModelMeter` is that labelled
estimate (all of it idle power).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol

from ..footprint import Component, Extent, Method, Quality
from .base import Domain, Meter, Tick, plural

PLATFORM_ID = "platform:wall"
MODEL_ID = "platform:model"
NOTE = "wall power (sensor) minus RAPL, GPUs and modelled lines"


class WallIntegral(Protocol):
    """What the balance needs of a wall sampler (:class:`~impactlib.meters.wall.WallSampler`)."""

    def energy_j_at(self, monotonic_s: float) -> float | None:
        """Cumulative joules at a ``time.monotonic`` moment (None: no reading yet)."""

    def diagnostics(self) -> list[str]:
        """What went wrong while reading the sensor."""

    def close(self) -> None:
        """Stop polling the sensor."""


class _Reference(NamedTuple):
    """The wall's and the parts' cumulative joules at the last tick that had both."""

    wall_j: float
    parts_j: float


class PlatformBalance:
    """The ``platform:wall`` domain of a meter set: its wall sampler minus its other domains.

    Not a :class:`~impactlib.meters.base.Meter`: its energy needs every other meter's at the
    same tick, so the meter set captures and settles it after them
    (:meth:`impactlib.meters.MeterSet.decode`).
    """

    def __init__(
        self,
        wall: WallIntegral,
        method: Method,
        sensor: str,
        parts: Sequence[Domain],
        accuracy_percent: float | None = None,
    ) -> None:
        """``accuracy_percent``: what the sensor states of itself (ACPI ``power1_accuracy``),
        which the platform's range starts from (:mod:`impactlib.uncertainty`)."""
        self.wall = wall
        self.parts = tuple(d.id for d in parts)
        self.domain = Domain(
            PLATFORM_ID,
            Component.PLATFORM,
            method,
            Extent.MACHINE,
            Quality.MEASURED,
            f"{NOTE}; {sensor}" if sensor else NOTE,
            accuracy_percent=accuracy_percent,
        )
        self._reference: _Reference | None = None
        self.total_j = 0.0
        self.intervals = 0
        self.short_intervals = 0  # intervals whose wall energy was below their parts'
        self.owed_j = 0.0  # shortfall not yet made up by later intervals
        self.shortfall_j = 0.0  # every interval's shortfall, made up or not

    def capture(self) -> float | None:
        """The wall's cumulative joules now (the tick's moment): one call to the sampler."""
        return self.wall.energy_j_at(time.monotonic())

    def settle(self, wall_j: float | None, energy: Mapping[str, float]) -> float | None:
        """The platform's cumulative joules at a tick, from the wall's (``capture``) and the
        other domains' (``energy``); None where the wall or a part was not read (a gap: the
        next complete tick covers it). Called once per tick, in tick order."""
        if wall_j is None:
            return None
        parts_j = 0.0
        for domain_id in self.parts:
            joules = energy.get(domain_id)
            if joules is None:
                return None
            parts_j += joules
        reference, self._reference = self._reference, _Reference(wall_j, parts_j)
        if reference is None:
            return self.total_j
        residue = (wall_j - reference.wall_j) - (parts_j - reference.parts_j)
        self.intervals += 1
        if residue < 0:
            self.short_intervals += 1
            self.shortfall_j -= residue
            self.owed_j -= residue
            return self.total_j
        repaid = min(residue, self.owed_j)
        self.owed_j -= repaid
        self.total_j += residue - repaid
        return self.total_j

    def diagnostics(self) -> list[str]:
        """The sensor's own lines, and the intervals the wall read less than the parts."""
        lines = list(self.wall.diagnostics())
        if self.short_intervals:
            lines.append(
                f"{PLATFORM_ID}: the wall read less than RAPL, the GPUs and the modelled "
                f"lines in {self.short_intervals} of {plural(self.intervals, 'interval')} "
                f"({self.shortfall_j:.1f} J in all); those intervals counted 0 W of platform "
                "power and the later ones made it up"
                + (
                    f", except {self.owed_j:.1f} J, counted as 0 (the wall sensor reads low, "
                    "or a modelled line is set too high)"
                    if self.owed_j > 0
                    else ""
                )
            )
        return lines

    def close(self) -> None:
        """Stop the wall sampler."""
        self.wall.close()


class PlatformModelMeter(Meter):
    """The platform at the constant power ``impactlib calibrate --wall-watts`` stored: all
    of it idle power, so it is split by the idle policy alone. ``source`` says where the
    watts came from (the wall reading, the parts subtracted, when)."""

    name = "platform-model"
    reads_at_tick = False

    def __init__(self, watts: float, source: str) -> None:
        self.power_w = watts
        self._domain = Domain(
            MODEL_ID,
            Component.PLATFORM,
            Method.MODEL_PLATFORM,
            Extent.MACHINE,
            Quality.ESTIMATED,
            f"estimated: {watts:.1f} W beyond RAPL, the GPUs and the modelled lines, "
            f"constant; {source}",
        )
        self._start = time.monotonic()

    def domains(self) -> Sequence[Domain]:
        """One machine-wide platform domain."""
        return (self._domain,)

    def idle_power_w(self) -> float:
        """All of it is static power."""
        return self.power_w

    def read_energy_j(self) -> Mapping[str, float]:
        """Constant power times elapsed time."""
        return self.decode(None, Tick(time.monotonic(), None))

    def capture(self) -> None:
        """Nothing to read (``reads_at_tick`` is False): only the tick's time is needed."""

    def decode(self, captured: object, tick: Tick) -> Mapping[str, float]:
        """Constant power times the time elapsed at the tick."""
        return {self._domain.id: self.power_w * (tick.monotonic_s - self._start)}
