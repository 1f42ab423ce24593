"""Pricing a run's energy: each minute at the intensity in force then, with its provenance.

``emissions_g = sum_i energy_kwh_i * PUE * intensity_g_per_kwh(start of minute i)``, from the
per-minute series the run kept (so an offline run can be priced again later, see
:func:`reprice`). The rules a record can be trusted by:

- the source is the one :mod:`impactlib.carbon.select` picks for the zone; a live source that
  fails is replaced by the static table and :attr:`CarbonInfo.fallback` says so;
- minutes the live series does not cover (data not yet published, a hole) are priced with
  the static table too, and the record says what share of the energy that was;
- a run with no energy, or a zone without a live source, costs no request; otherwise the
  requests share one network budget (:data:`impactlib.carbon.http.DEFAULT_BUDGET_S`);
- what the tracker calls never raises once measuring has started: :func:`price_final`
  returns the failure as a warning (pricing must never lose the measured energy), and
  :class:`ProvisionalPrice`, which prices checkpoints, never touches the network.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from .._time import minute_start, parse_utc, utc
from ..config import Config
from ..errors import ProviderError, UnknownZoneError
from ..footprint import CarbonInfo, Footprint
from ..units import j_to_kwh
from .base import EnergyBucket, IntensitySeries
from .location import WORLD_ZONE, Location, locate
from .select import fallback_note, is_live, make_source, source_name, static_series, world_series


class PriceSplit(NamedTuple):
    """What :func:`price_series` found: emissions, mean intensity, and how much was live."""

    kg: float
    mean_g_per_kwh: float  # energy-weighted
    live_share: float  # share of the energy priced from the live series


class RunPrice(NamedTuple):
    """A priced run: emissions (kg, PUE included) and how they were priced."""

    kg: float
    carbon: CarbonInfo


class Priced(NamedTuple):
    """The tracker's final price; ``carbon`` is None and ``warning`` says why when pricing
    failed (the energy is kept, the emissions read 0)."""

    kg: float
    carbon: CarbonInfo | None
    warning: str | None


def price_series(
    buckets: Sequence[EnergyBucket],
    live: IntensitySeries | None,
    static: IntensitySeries,
    pue: float,
) -> PriceSplit:
    """Each bucket at the live intensity in force at its start (:meth:`IntensitySeries.near`),
    else at the static value, so the result is exactly ``sum(E_i * pue * CI_i) / 1000``."""
    grams = kwh_total = kwh_live = 0.0
    static_point = static.points[0] if static.points else None
    for bucket in buckets:
        kwh = j_to_kwh(bucket.energy_j) * pue
        point = live.near(utc(bucket.start)) if live is not None else None
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
    return PriceSplit(grams / 1000.0, mean, share)


def _kinds(series: IntensitySeries) -> str:
    counts: dict[str, int] = {}
    for p in series.points:
        counts[p.kind] = counts.get(p.kind, 0) + 1
    return ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))


def price_run(
    buckets: Sequence[EnergyBucket],
    config: Config,
    location: Location,
    start: datetime,
    end: datetime,
) -> RunPrice:
    """Emissions (kg, PUE included) of the buckets and how they were priced.

    Raises only for configuration errors (unknown zone, a named source that cannot serve the
    zone, a missing key).
    """
    zone = location.zone
    name = source_name(config, zone)
    try:
        static: IntensitySeries | None = static_series(zone)
    except UnknownZoneError:
        if not is_live(name):
            raise
        static = None
    live: IntensitySeries | None = None
    fallback: str | None = None
    has_energy = any(b.energy_j > 0 for b in buckets)
    if is_live(name) and (has_energy or static is None):
        try:
            live = make_source(name, config).history(zone, start, end)
        except ProviderError as exc:
            if static is None:
                raise UnknownZoneError(
                    f"zone {zone!r}: {exc}; and no bundled table knows it, so it cannot be "
                    "priced; set IMPACTLIB_COUNTRY"
                ) from exc
            fallback = fallback_note(name, exc, static)
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
        if is_live(name) and not has_energy:
            detail += f"; no energy to price, {name} not asked"
        # Keep the zone asked for (GB-13, not the GB value that stood in) so that
        # `report --reprice` asks the live provider for the right place later.
        zone_out = zone if is_live(name) else static.zone
    info = CarbonInfo(
        source=source,
        zone=zone_out,
        mean_g_per_kwh=mean,
        detail=detail,
        fallback=fallback,
        located_by=location.by,
        located_detail=location.detail,
    )
    return RunPrice(kg, info)


def price_final(
    joules_by_minute: Mapping[int, float],
    config: Config,
    location: Location,
    start: datetime,
    end: datetime,
) -> Priced:
    """The price of a finished run from its energy per UTC epoch minute (joules, before PUE).

    Never raises: a run whose emissions cannot be priced (a named source that cannot serve
    the zone, a zone no table or provider knows, a bug) keeps its measured energy, with
    emissions 0 and a warning naming the cause.
    """
    buckets = [
        EnergyBucket(minute_start(minute), joules)
        for minute, joules in sorted(joules_by_minute.items())
    ]
    try:
        kg, carbon = price_run(buckets, config, location, start, end)
    except Exception as exc:  # pricing must never lose the measured energy
        return Priced(0.0, None, f"emissions not priced: {exc}")
    return Priced(kg, carbon, None)


@dataclasses.dataclass(frozen=True)
class ProvisionalPrice:
    """The price of a run's checkpoints: the static annual value, one number for the year.

    Checkpoints never touch the network, and with one number the total energy prices
    exactly what its minutes would. Built once when the tracker is made, so that a zone no
    table knows fails then (:class:`UnknownZoneError`), not after hours of training.
    """

    carbon: CarbonInfo

    @classmethod
    def for_location(cls, location: Location) -> ProvisionalPrice:
        """The provisional price for ``location``; :class:`UnknownZoneError` if no table
        knows its zone (nor its country)."""
        static = static_series(location.zone)
        return cls(
            CarbonInfo(
                source=static.source,
                zone=static.zone,
                mean_g_per_kwh=static.points[0].g_per_kwh,
                detail=f"provisional until the run ends: {static.detail}",
                fallback=None,
                located_by=location.by,
                located_detail=location.detail,
            )
        )

    def kg(self, energy_j: float, pue: float) -> float:
        """Emissions (kg) of ``energy_j`` joules before PUE."""
        return j_to_kwh(energy_j) * pue * self.carbon.mean_g_per_kwh / 1000.0


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
        location = locate(config)
    else:
        location = Location(old.zone, old.located_by, old.located_detail)
    start = parse_utc(footprint.started_at)
    end = (
        parse_utc(footprint.ended_at)
        if footprint.ended_at
        else start + timedelta(seconds=footprint.duration_s)
    )
    priced_config = dataclasses.replace(config, pue=footprint.pue)
    kg, info = price_run(buckets, priced_config, location, start, end)
    old_was_live = old is not None and old.fallback is None and is_live(old.source)
    if old_was_live and info.fallback is not None:
        return footprint
    from ..uncertainty import with_ranges

    # The emissions' range follows the new intensity's (a live price narrows it).
    return with_ranges(dataclasses.replace(footprint, emissions_kg=kg, carbon=info))
