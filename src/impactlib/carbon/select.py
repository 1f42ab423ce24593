"""Choosing an intensity source for a zone, and pricing a run's energy series with it.

The rule a record can be trusted by: a run is priced from the live provider for its zone
when one answers, from the bundled annual table otherwise, and the record says which. In
detail:

- ``intensity_source = auto`` (the default) picks ``rte`` for FR, ``gb`` for GB and its
  regions, ``electricitymaps`` when a key is configured, else ``static``;
- an explicitly named provider that cannot serve the zone, or ``electricitymaps`` without a
  key, is a :class:`ConfigError` (one line, exit 2) rather than a quiet fallback;
- a live provider that fails (down, slow, refusing, malformed) is replaced by the static
  table, and :attr:`CarbonInfo.fallback` names what failed and what was used;
- minutes the live series does not cover (data not yet published, a hole) are priced with
  the static table too, and the record says what share of the energy that was;
- all requests for one priced run share a budget of :data:`TOTAL_BUDGET_S` seconds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from ..config import Config
from ..errors import ConfigError, ProviderError, UnknownZoneError
from ..footprint import CarbonInfo, Footprint
from ..units import j_to_kwh
from ._common import utc
from .base import EnergyBucket, IntensityPoint, IntensitySeries, IntensitySource
from .location import WORLD_ZONE, resolve_zone
from .static import StaticSource

if TYPE_CHECKING:  # the on-disk cache and HTTP client load only when a live source is used
    from .cache import Fetcher

WORLD_G_PER_KWH = 475.0
TOTAL_BUDGET_S = 4.0
LIVE_SOURCES = ("rte", "gb", "electricitymaps")


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


def static_series(zone: str) -> IntensitySeries:
    """The bundled annual value for ``zone``.

    A live-only zone falls back to its country: ``GB-13`` and ``GB-RG10`` to GB,
    ``US-CAL-CISO`` to US; the detail says so. An unknown country raises
    :class:`UnknownZoneError`.
    """
    if zone.strip().upper() == WORLD_ZONE:
        return world_series()
    now = datetime.now(timezone.utc)
    try:
        return StaticSource().history(zone, now, now)
    except UnknownZoneError:
        country = zone.strip().split("-", 1)[0]
        if country == zone.strip() or not country:
            raise
        try:
            series = StaticSource().history(country, now, now)
        except UnknownZoneError:
            raise UnknownZoneError(
                f"unknown zone '{zone}': neither it nor its country '{country}' is in the "
                "bundled tables; use an ISO country code (FR), a region (US-CA, GB-13) or a "
                "cloud region (gcp:europe-west1)"
            ) from None
        return dataclasses.replace(series, detail=f"{series.detail} (country value for {zone})")


def _is_gb(zone: str) -> bool:
    from .gb import parse_zone

    return parse_zone(zone) is not None


def _is_fr(zone: str) -> bool:
    from .rte import RTESource

    return RTESource.supports(zone)


def source_name(config: Config, zone: str, *, forecast: bool = False) -> str:
    """The provider that answers ``zone`` under ``config.intensity_source``.

    With ``forecast=True`` and ``auto``, France goes to Electricity Maps (RTE publishes no
    CO2 forecast) and a zone with no forecasting provider raises :class:`ProviderError`.
    """
    wanted = config.intensity_source
    where = config.sources.get("intensity_source", "default")
    if wanted == "electricitymaps" and not config.electricitymaps_key:
        raise ConfigError(
            f"intensity_source=electricitymaps ({where}) needs an API key: set "
            "IMPACTLIB_ELECTRICITYMAPS_KEY"
        )
    if wanted == "rte" and not _is_fr(zone):
        raise ConfigError(
            f"intensity_source=rte ({where}) answers only zone FR, not {zone!r}; "
            "use auto, static or electricitymaps"
        )
    if wanted == "gb" and not _is_gb(zone):
        raise ConfigError(
            f"intensity_source=gb ({where}) answers GB, GB-<region 1-17> or GB-<postcode>, "
            f"not {zone!r}"
        )
    if wanted != "auto":
        return wanted
    if zone.strip().upper() == WORLD_ZONE:
        return "static"
    if _is_gb(zone):
        return "gb"
    if _is_fr(zone) and not (forecast and config.electricitymaps_key):
        return "rte"
    if config.electricitymaps_key and ":" not in zone:
        return "electricitymaps"
    return "static"


def make_source(name: str, config: Config, fetcher: Fetcher) -> IntensitySource:
    """An instance of the named provider, reading its base URL (and key) from ``config``."""
    if name == "rte":
        from .rte import RTESource

        return RTESource(config.rte_url, fetcher)
    if name == "gb":
        from .gb import GBSource

        return GBSource(config.gb_url, fetcher)
    if name == "electricitymaps":
        from .electricitymaps import ElectricityMapsSource

        return ElectricityMapsSource(
            config.electricitymaps_url, config.electricitymaps_key, fetcher
        )
    return StaticSource()


def _fetcher(config: Config, fetcher: Fetcher | None = None) -> Fetcher:
    from .cache import Fetcher
    from .http import Budget

    return fetcher or Fetcher.from_config(config, Budget(TOTAL_BUDGET_S))


def intensity_for(
    config: Config,
    zone: str,
    start: datetime,
    end: datetime,
    *,
    fetcher: Fetcher | None = None,
) -> IntensitySeries:
    """The history series for ``zone`` over ``[start, end]``: live if it answers, else the
    static table with ``fallback`` naming the failure."""
    name = source_name(config, zone)
    if name == "static":
        return static_series(zone)
    try:
        return make_source(name, config, _fetcher(config, fetcher)).history(zone, start, end)
    except ProviderError as exc:
        static = static_series(zone)
        return dataclasses.replace(static, fallback=_fallback_sentence(name, exc, static))


def forecast_for(
    config: Config,
    zone: str,
    start: datetime,
    end: datetime,
    *,
    fetcher: Fetcher | None = None,
) -> IntensitySeries:
    """The forecast for ``zone`` over ``[start, end]``; :class:`ProviderError` if there is
    none (a flat annual value cannot tell one hour from another, so there is no fallback)."""
    name = source_name(config, zone, forecast=True)
    if name == "static":
        static_series(zone)  # an unknown zone is reported as such, not as "no forecast"
        raise ProviderError(
            f"no forecast for zone {zone}: forecasts come from the GB API (GB, GB-<region>) "
            "or Electricity Maps (set IMPACTLIB_ELECTRICITYMAPS_KEY)"
        )
    return make_source(name, config, _fetcher(config, fetcher)).forecast(zone, start, end)


def _fallback_sentence(name: str, exc: Exception, static: IntensitySeries) -> str:
    return f"{name} failed ({exc}); used the static table instead ({static.detail})"


def point_near(series: IntensitySeries, when: datetime) -> IntensityPoint | None:
    """The live point in force at ``when``; the nearest one if within one resolution step
    (the last minutes of a run often precede the provider's newest value), else None."""
    point = series.at(when)
    if point is None:
        return None
    if point.start <= when < point.end:
        return point
    gap = (point.start - when) if when < point.start else (when - point.end)
    return point if gap.total_seconds() <= series.resolution_s else None


def price_series(
    buckets: Sequence[EnergyBucket],
    live: IntensitySeries | None,
    static: IntensitySeries,
    pue: float,
) -> tuple[float, float, float]:
    """``(emissions_kg, energy-weighted mean g/kWh, share of energy priced live)``.

    Each bucket takes the live intensity in force at its start, else the static value, so
    the result is exactly ``sum(E_i * pue * CI_i) / 1000``.
    """
    grams = kwh_total = kwh_live = 0.0
    static_point = static.points[0] if static.points else None
    for bucket in buckets:
        kwh = j_to_kwh(bucket.energy_j) * pue
        point = point_near(live, utc(bucket.start)) if live is not None else None
        if point is not None:
            kwh_live += kwh
        else:
            point = static.at(utc(bucket.start)) or static_point
        if point is None:
            continue
        grams += kwh * point.g_per_kwh
        kwh_total += kwh
    source = live if live is not None and live.points else static
    mean = grams / kwh_total if kwh_total > 0 else source.mean()
    share = kwh_live / kwh_total if kwh_total > 0 else (1.0 if live is not None else 0.0)
    return grams / 1000.0, mean, share


def _kinds(series: IntensitySeries) -> str:
    counts: dict[str, int] = {}
    for p in series.points:
        counts[p.kind] = counts.get(p.kind, 0) + 1
    return ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))


def price_run(
    buckets: Sequence[EnergyBucket],
    config: Config,
    zone: str,
    located_by: str,
    start: datetime,
    end: datetime,
) -> tuple[float, CarbonInfo]:
    """Emissions (kg, PUE included) of the buckets and how they were priced.

    Network: at most :data:`TOTAL_BUDGET_S` seconds in all, none when there is no energy
    to price or the zone has no live provider. Raises only for configuration errors
    (unknown zone, a named provider that cannot serve the zone, a missing key).
    """
    name = source_name(config, zone)
    try:
        static: IntensitySeries | None = static_series(zone)
    except UnknownZoneError:
        if name == "static":
            raise
        static = None
    live: IntensitySeries | None = None
    fallback: str | None = None
    has_energy = any(b.energy_j > 0 for b in buckets)
    if name != "static" and (has_energy or static is None):
        try:
            live = make_source(name, config, _fetcher(config)).history(zone, start, end)
        except ProviderError as exc:
            if static is None:
                raise UnknownZoneError(
                    f"zone {zone!r}: {exc}; and no bundled table knows it, so it cannot be "
                    "priced; set IMPACTLIB_COUNTRY"
                ) from None
            fallback = _fallback_sentence(name, exc, static)
    if static is None:  # live answered for a zone no table knows: gaps use the world value
        static = world_series()
    kg, mean, share = price_series(buckets, live, static, config.pue)
    if live is not None and share < 1.0 and has_energy:
        fallback = (
            f"{name} covered {share:.0%} of the energy; the rest was priced with the "
            f"static table ({static.detail})"
        )
    if live is not None and share > 0:
        source = name if share >= 1.0 else f"{name}+static"
        detail = f"{live.detail}; {live.basis}; points: {_kinds(live)}"
        zone_out = live.zone
    else:
        source = static.source
        detail = f"{static.detail}; {static.basis}"
        if name != "static" and not has_energy:
            detail += f"; no energy to price, {name} not asked"
        # Keep the zone asked for (GB-13, not the GB value that stood in) so that
        # `report --reprice` asks the live provider for the right place later.
        zone_out = static.zone if name == "static" else zone
    info = CarbonInfo(
        source=source,
        zone=zone_out,
        mean_g_per_kwh=mean,
        detail=detail,
        fallback=fallback,
        located_by=located_by,
    )
    return kg, info


def _parse_iso(text: str) -> datetime:
    return utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


def reprice(footprint: Footprint, buckets: Sequence[EnergyBucket], config: Config) -> Footprint:
    """A copy of ``footprint`` with emissions priced again from ``buckets``.

    For runs priced offline (static fallback) once better data can be fetched. The zone is
    the record's own unless it was the unknown-location world average, in which case the
    current configuration decides. The record's PUE is kept. When the new attempt fails
    too while the record already holds a live price, the record is returned unchanged: a
    worse answer never replaces a better one.
    """
    old = footprint.carbon
    if old is None or old.zone == WORLD_ZONE:
        zone, located_by = resolve_zone(config)
    else:
        zone, located_by = old.zone, old.located_by
    start = _parse_iso(footprint.started_at)
    end = (
        _parse_iso(footprint.ended_at)
        if footprint.ended_at
        else start + timedelta(seconds=footprint.duration_s)
    )
    priced_config = dataclasses.replace(config, pue=footprint.pue)
    kg, info = price_run(buckets, priced_config, zone, located_by, start, end)
    old_was_live = old is not None and old.fallback is None and old.source in LIVE_SOURCES
    if old_was_live and info.fallback is not None:
        return footprint
    return dataclasses.replace(footprint, emissions_kg=kg, carbon=info)
