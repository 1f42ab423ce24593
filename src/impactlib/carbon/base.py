"""The intensity-source interface and time-aligned pricing.

Emissions are priced after the run from the per-minute energy series:
``emissions_g = sum_i energy_kwh_i * intensity_g_per_kwh(t_i)``. Keeping energy as a time
series (rather than multiplying a total by one number) is what lets an offline compute node
be priced later with better data (``impactlib report --reprice``).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from ..units import j_to_kwh

PointKind = Literal["actual", "estimated", "forecast", "annual"]


@dataclass(frozen=True)
class IntensityPoint:
    """Intensity over ``[start, end)`` (timezone-aware UTC datetimes)."""

    start: datetime
    end: datetime
    g_per_kwh: float
    kind: PointKind


@dataclass(frozen=True)
class IntensitySeries:
    """A provider's answer for one zone, with what the numbers mean.

    ``basis`` says what is measured, e.g. "production, direct combustion CO2" (RTE, GB)
    or "consumption, life-cycle CO2e" (Electricity Maps, OWID/Ember annual table).
    ``detail`` names the table and year, or the endpoint and resolution.
    ``fallback`` is set when this series replaces a live source that failed.
    """

    source: str
    zone: str
    points: tuple[IntensityPoint, ...]
    resolution_s: float
    basis: str
    detail: str = ""
    fallback: str | None = None
    _starts: tuple[datetime, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.points, key=lambda p: p.start))
        object.__setattr__(self, "points", ordered)
        object.__setattr__(self, "_starts", tuple(p.start for p in ordered))

    def at(self, when: datetime) -> IntensityPoint | None:
        """The point covering ``when``; else the nearest point in time; None if empty."""
        if not self.points:
            return None
        idx = bisect.bisect_right(self._starts, when) - 1
        if idx >= 0 and self.points[idx].start <= when < self.points[idx].end:
            return self.points[idx]
        candidates = [
            p for p in (self.points[max(idx, 0)], self.points[min(idx + 1, len(self.points) - 1)])
        ]

        def distance(p: IntensityPoint) -> float:
            if when < p.start:
                return (p.start - when).total_seconds()
            return (when - p.end).total_seconds()

        return min(candidates, key=distance)

    def mean(self) -> float:
        """Time-weighted mean intensity of the series (g/kWh)."""
        total_s = sum((p.end - p.start).total_seconds() for p in self.points)
        if total_s <= 0:
            return sum(p.g_per_kwh for p in self.points) / max(len(self.points), 1)
        weighted = sum(p.g_per_kwh * (p.end - p.start).total_seconds() for p in self.points)
        return weighted / total_s


class IntensitySource(Protocol):
    """Anything that can answer intensity for a zone over an interval."""

    name: str

    def history(self, zone: str, start: datetime, end: datetime) -> IntensitySeries:
        """Intensity covering ``[start, end]`` (actual/estimated where known)."""
        ...

    def forecast(self, zone: str, start: datetime, end: datetime) -> IntensitySeries:
        """Forecast intensity covering ``[start, end]`` (raise ProviderError if unsupported)."""
        ...


@dataclass(frozen=True)
class EnergyBucket:
    """Energy used in the minute starting at ``start`` (UTC), PUE not included."""

    start: datetime
    energy_j: float


def price(
    buckets: Sequence[EnergyBucket], series: IntensitySeries, pue: float
) -> tuple[float, float]:
    """Return ``(emissions_kg, energy-weighted mean g/kWh)`` for the buckets.

    Each bucket is priced with the intensity in force at its start time, so the result is
    exactly ``sum(E_i * pue * CI_i)``.
    """
    grams = 0.0
    kwh_total = 0.0
    for bucket in buckets:
        point = series.at(bucket.start)
        if point is None:
            continue
        kwh = j_to_kwh(bucket.energy_j) * pue
        grams += kwh * point.g_per_kwh
        kwh_total += kwh
    mean = grams / kwh_total if kwh_total > 0 else series.mean()
    return grams / 1000.0, mean
