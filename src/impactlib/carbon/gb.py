"""Great Britain: the NESO Carbon Intensity API (carbonintensity.org.uk, no key).

What it measures: grams of CO2 per kWh of electricity *generated* in Great Britain, direct
(combustion) emissions only, per half hour. National values have an ``actual`` (estimated
from metered generation, filled in after the half hour) and a ``forecast``; regional values
(17 regions, or a postcode's region) are forecasts only, even for past half hours, and are
labelled ``forecast`` in every record.

Zones: ``GB`` (national; ``UK`` is accepted as a synonym), ``GB-<1..17>`` (region id: 13 is
London), or ``GB-<outward postcode>`` such as ``GB-RG10``.

Answer shapes, which differ by endpoint:
- national ``/intensity/{from}/{to}`` and ``/intensity/{from}/fw48h``:
  ``{"data": [{"from", "to", "intensity": {"forecast", "actual", "index"}}]}``;
- regional ``/regional/intensity/{from}/{to|fw48h}/regionid/{id}`` (or ``/postcode/{pc}``):
  ``{"data": {"regionid", "shortname", "data": [...]}}`` -- ``data`` is an *object* there,
  while ``/regional/regionid/{id}`` wraps the same object in a one-element list. Both are read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .._time import utc
from ..errors import ProviderError
from ._common import FORECAST_TTL_S, clip, history_ttl, number, parse_stamp
from .base import IntensityPoint, IntensitySeries, PointKind
from .cache import Fetcher

if TYPE_CHECKING:
    from ..config import Config

HALF_HOUR = timedelta(minutes=30)
MAX_SPAN = timedelta(days=13)  # the API refuses from/to ranges over 14 days
NATIONAL_BASIS = "generation in Great Britain, direct combustion CO2 (NESO Carbon Intensity API)"
REGIONAL_BASIS = (
    "generation in a GB region, direct combustion CO2, forecast values only "
    "(NESO Carbon Intensity API)"
)
_REGION = re.compile(r"^(?:GB|UK)-(\d{1,2})$")
_POSTCODE = re.compile(r"^(?:GB|UK)-([A-Z]{1,2}\d[A-Z\d]?)$")


@dataclass(frozen=True)
class GBZone:
    """A parsed GB zone: national, a region id, or a postcode's region."""

    label: str
    region_id: int | None = None
    postcode: str | None = None

    @property
    def path_suffix(self) -> str:
        if self.region_id is not None:
            return f"/regionid/{self.region_id}"
        if self.postcode is not None:
            return f"/postcode/{self.postcode}"
        return ""


def parse_zone(zone: str) -> GBZone | None:
    """The GB zone meant by ``zone``, or None if it is not a GB zone."""
    key = zone.strip().upper().replace(" ", "")
    if key in ("GB", "UK"):
        return GBZone("GB")
    match = _REGION.match(key)
    if match and 1 <= int(match.group(1)) <= 17:
        return GBZone(f"GB-{int(match.group(1))}", region_id=int(match.group(1)))
    match = _POSTCODE.match(key)
    if match:
        return GBZone(f"GB-{match.group(1)}", postcode=match.group(1))
    return None


def _stamp(when: datetime) -> str:
    return utc(when).strftime("%Y-%m-%dT%H:%MZ")


def _floor_half_hour(when: datetime) -> datetime:
    when = utc(when)
    return when.replace(minute=30 if when.minute >= 30 else 0, second=0, microsecond=0)


def _entries(payload: Any, regional: bool) -> list[Any]:
    """The list of half-hour entries, whichever of the API's shapes the answer has."""
    if not isinstance(payload, dict) or "data" not in payload:
        raise ProviderError("gb: malformed answer (no 'data')")
    data = payload["data"]
    if regional:
        if isinstance(data, list):  # /regional/regionid/{id}: a one-element list
            data = data[0] if data else {"data": []}
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise ProviderError("gb: malformed answer (regional 'data' has no 'data' list)")
        return list(data["data"])
    if not isinstance(data, list):
        raise ProviderError("gb: malformed answer ('data' is not a list)")
    return data


def _points(payload: Any, regional: bool) -> list[IntensityPoint]:
    points = []
    for entry in _entries(payload, regional):
        if not isinstance(entry, dict) or not isinstance(entry.get("intensity"), dict):
            raise ProviderError("gb: malformed answer (entry without 'intensity')")
        start = parse_stamp("gb", entry.get("from"))
        end = parse_stamp("gb", entry.get("to"))
        actual = None if regional else number("gb", entry["intensity"].get("actual"))
        forecast = number("gb", entry["intensity"].get("forecast"))
        kind: PointKind = "actual" if actual is not None else "forecast"
        value = actual if actual is not None else forecast
        if value is not None and end > start:
            points.append(IntensityPoint(start, end, value, kind))
    return points


class GBSource:
    """``IntensitySource`` for GB zones from carbonintensity.org.uk."""

    name = "gb"
    coverage = "GB, GB-<region 1-17> or GB-<postcode>"
    key_setting = None

    def __init__(self, base_url: str, fetcher: Fetcher) -> None:
        self.base_url = base_url
        self.fetcher = fetcher

    @classmethod
    def from_config(cls, config: Config, fetcher: Fetcher) -> GBSource:
        """The source at ``config.gb_url``."""
        return cls(config.gb_url, fetcher)

    @staticmethod
    def supports(zone: str, *, forecast: bool = False) -> bool:
        """National GB, a region id 1-17, or an outward postcode (history and 48 h forecast)."""
        return parse_zone(zone) is not None

    def _zone(self, zone: str) -> GBZone:
        parsed = parse_zone(zone)
        if parsed is None:
            raise ProviderError(
                f"gb: answers GB, GB-<region id 1-17> or GB-<postcode>, not {zone!r}"
            )
        return parsed

    def _series(self, gbz: GBZone, points: list[IntensityPoint], what: str) -> IntensitySeries:
        regional = gbz.label != "GB"
        return IntensitySeries(
            source="gb",
            zone=gbz.label,
            points=tuple(points),
            resolution_s=HALF_HOUR.total_seconds(),
            basis=REGIONAL_BASIS if regional else NATIONAL_BASIS,
            detail=f"carbonintensity.org.uk {'regional' if regional else 'national'} {what}, "
            "half-hourly",
        )

    def _check_for(self, regional: bool) -> Any:
        def check(payload: Any) -> None:
            _entries(payload, regional)

        return check

    def history(self, zone: str, start: datetime, end: datetime) -> IntensitySeries:
        """Half-hourly values covering ``[start, end]`` (asked in spans of at most 13 days)."""
        gbz = self._zone(zone)
        regional = gbz.label != "GB"
        start, end = utc(start), utc(end)
        points: list[IntensityPoint] = []
        cursor = _floor_half_hour(start)
        while cursor <= end:
            stop = min(cursor + MAX_SPAN, end + HALF_HOUR)
            prefix = "/regional/intensity" if regional else "/intensity"
            payload = self.fetcher.get_json(
                "gb",
                self.base_url,
                f"{prefix}/{_stamp(cursor)}/{_stamp(stop)}{gbz.path_suffix}",
                ttl_s=history_ttl(stop),
                check=self._check_for(regional),
            )
            points.extend(_points(payload, regional))
            cursor = stop
        kept = clip(points, start, end)
        if not kept:
            raise ProviderError(
                f"gb: no value for {gbz.label} between {start:%Y-%m-%d %H:%M} "
                f"and {end:%Y-%m-%d %H:%M} UTC"
            )
        return self._series(gbz, list(kept), "history")

    def forecast(self, zone: str, start: datetime, end: datetime) -> IntensitySeries:
        """The 48-hour forecast from ``start`` (the API forecasts no further)."""
        gbz = self._zone(zone)
        regional = gbz.label != "GB"
        prefix = "/regional/intensity" if regional else "/intensity"
        payload = self.fetcher.get_json(
            "gb",
            self.base_url,
            f"{prefix}/{_stamp(_floor_half_hour(start))}/fw48h{gbz.path_suffix}",
            ttl_s=FORECAST_TTL_S,
            check=self._check_for(regional),
        )
        kept = clip(_points(payload, regional), utc(start), utc(end))
        if not kept:
            raise ProviderError(f"gb: empty forecast for {gbz.label} from {_stamp(start)}")
        return self._series(gbz, list(kept), "48 h forecast")
