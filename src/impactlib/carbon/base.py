"""The intensity-source interface: series of intensity points, and what a source declares.

Emissions are priced after the run from the per-minute energy series
(:mod:`impactlib.carbon.pricing`): ``emissions_g = sum_i energy_kwh_i * intensity_g_per_kwh(t_i)``.
Keeping energy as a time series (rather than multiplying a total by one number) is what lets
an offline compute node be priced later with better data (``impactlib report --reprice``).

A source is a class in its own module; :mod:`impactlib.carbon.select` keeps the ordered
registry that picks one for a zone, from what each class declares (:class:`SourceClass`).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from ..config import Config
    from .cache import Fetcher

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
        candidates = (self.points[max(idx, 0)], self.points[min(idx + 1, len(self.points) - 1)])

        def distance(p: IntensityPoint) -> float:
            if when < p.start:
                return (p.start - when).total_seconds()
            return (when - p.end).total_seconds()

        return min(candidates, key=distance)

    def near(self, when: datetime) -> IntensityPoint | None:
        """The point in force at ``when``; the nearest one if within one resolution step,
        else None.

        Why the grace step: a provider's newest value lags the clock, so the last minutes of
        a run (or "now") often fall just after the newest point, which still holds for them.
        Beyond one step the data has a hole, and pretending otherwise would hide it.
        """
        point = self.at(when)
        if point is None or point.start <= when < point.end:
            return point
        gap = (point.start - when) if when < point.start else (when - point.end)
        return point if gap.total_seconds() <= self.resolution_s else None

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


class SourceClass(Protocol):
    """What a source class (not an instance) declares, so the registry can choose and build
    it without knowing any provider by name."""

    # Read-only members, so that plain class attributes (``name = "gb"``) satisfy them.
    @property
    def name(self) -> str:
        """The value of ``intensity_source`` that names it, and of ``CarbonInfo.source``."""
        ...

    @property
    def coverage(self) -> str:
        """The zones it answers, in words, for the error when it is forced elsewhere."""
        ...

    @property
    def key_setting(self) -> str | None:
        """The configuration key that must be set to use it, if any."""
        ...

    def supports(self, zone: str, *, forecast: bool = False) -> bool:
        """Whether it answers ``zone`` (its forecast too, with ``forecast=True``)."""
        ...

    def from_config(self, config: Config, fetcher: Fetcher) -> IntensitySource:
        """An instance reading its base URL (and key) from ``config``."""
        ...


@dataclass(frozen=True)
class EnergyBucket:
    """Energy used in the minute starting at ``start`` (UTC), PUE not included."""

    start: datetime
    energy_j: float
