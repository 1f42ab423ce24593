"""Choosing an intensity source for a zone and pricing a run's energy series with it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from ..config import Config
from ..footprint import CarbonInfo
from .base import EnergyBucket, IntensityPoint, IntensitySeries, price
from .location import WORLD_ZONE
from .static import StaticSource

WORLD_G_PER_KWH = 475.0


def world_series() -> IntensitySeries:
    """The world average, used only when no location is known (and always flagged)."""
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    far = datetime(2170, 1, 1, tzinfo=timezone.utc)
    return IntensitySeries(
        source="static",
        zone=WORLD_ZONE,
        points=(IntensityPoint(epoch, far, WORLD_G_PER_KWH, "annual"),),
        resolution_s=365 * 86400.0,
        basis="world average, production",
        detail="IEA 2019 world average via Green Algorithms CI_aggregated v3.0",
    )


def intensity_for(config: Config, zone: str, start: datetime, end: datetime) -> IntensitySeries:
    """The series that prices energy used in ``zone`` between ``start`` and ``end``."""
    if zone == WORLD_ZONE:
        return world_series()
    return StaticSource().history(zone, start, end)


def price_run(
    buckets: Sequence[EnergyBucket],
    config: Config,
    zone: str,
    located_by: str,
    start: datetime,
    end: datetime,
) -> tuple[float, CarbonInfo]:
    """Emissions (kg) of the buckets and how they were priced."""
    series = intensity_for(config, zone, start, end)
    kg, mean = price(buckets, series, config.pue)
    info = CarbonInfo(
        source=series.source,
        zone=series.zone,
        mean_g_per_kwh=mean,
        detail=f"{series.detail}; {series.basis}",
        fallback=series.fallback,
        located_by=located_by,
    )
    return kg, info
