"""Electricity Maps (API v3): any zone it covers, with the user's key.

What it measures: grams of CO2e per kWh *consumed* in the zone (flow-traced: imports carry
the intensity of where they were produced), life-cycle by default. Each answer says which
with ``emissionFactorType`` (``lifecycle`` or ``direct``); the series basis repeats it, so a
record never mixes up Electricity Maps' consumption/life-cycle figure with RTE's or the GB
API's production/direct one. ``isEstimated`` marks values Electricity Maps modelled rather
than computed from reported data (points of kind ``estimated``).

Endpoints: ``/v3/carbon-intensity/history`` (the last 24 h, hourly) for recent runs,
``/v3/carbon-intensity/past-range`` (at most 10 days per request) for older ones, and
``/v3/carbon-intensity/forecast`` (on plans that include it; otherwise the API refuses and
the error is reported as it came). The key goes in the ``auth-token`` header, never in a URL,
a cache key or a record.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .._time import now_utc, utc
from ..errors import ConfigError, ProviderError
from ._common import FORECAST_TTL_S, clip, history_ttl, instants_to_points, number, parse_stamp
from .base import IntensityPoint, IntensitySeries, PointKind
from .cache import Fetcher
from .location import WORLD_ZONE

if TYPE_CHECKING:
    from ..config import Config

HOUR = timedelta(hours=1)
MAX_SPAN = timedelta(days=10)
_GRANULARITY_S = {"5_minutes": 300.0, "15_minutes": 900.0, "hourly": 3600.0, "daily": 86400.0}
_BASIS = {
    "lifecycle": "consumption (flow-traced), life-cycle CO2e (Electricity Maps)",
    "direct": "consumption (flow-traced), direct CO2e (Electricity Maps)",
}


def _stamp(when: datetime) -> str:
    return utc(when).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rows(payload: Any, key: str) -> list[Any]:
    if not isinstance(payload, dict) or not isinstance(payload.get(key), list):
        raise ProviderError(f"electricitymaps: malformed answer (no '{key}' list)")
    return list(payload[key])


class ElectricityMapsSource:
    """``IntensitySource`` backed by Electricity Maps v3."""

    name = "electricitymaps"
    coverage = "grid zones such as DE or US-CAL-CISO, not cloud regions"
    key_setting = "electricitymaps_key"

    def __init__(self, base_url: str, key: str | None, fetcher: Fetcher) -> None:
        if not key:
            raise ConfigError(
                "intensity source 'electricitymaps' needs an API key: set "
                "IMPACTLIB_ELECTRICITYMAPS_KEY (or electricitymaps_key in impactlib.toml)"
            )
        self.base_url = base_url
        self._key = key
        self.fetcher = fetcher

    @classmethod
    def from_config(cls, config: Config, fetcher: Fetcher) -> ElectricityMapsSource:
        """The source at ``config.electricitymaps_url`` with the configured key."""
        return cls(config.electricitymaps_url, config.electricitymaps_key, fetcher)

    @staticmethod
    def supports(zone: str, *, forecast: bool = False) -> bool:
        """Electricity Maps zones look like FR, DE, US-CAL-CISO, GB; cloud regions do not.
        Forecasts depend on the key's plan: a refusal is reported as it comes."""
        return ":" not in zone and zone.strip().upper() != WORLD_ZONE

    def _get(self, path: str, params: dict[str, str], key: str, ttl_s: float) -> list[Any]:
        def check(payload: Any) -> None:
            _rows(payload, key)

        payload = self.fetcher.get_json(
            "electricitymaps",
            self.base_url,
            path,
            params=params,
            headers={"auth-token": self._key},
            ttl_s=ttl_s,
            check=check,
        )
        return _rows(payload, key)

    def _series(
        self, zone: str, rows: list[Any], start: datetime, end: datetime, what: str
    ) -> IntensitySeries:
        stamps: list[tuple[datetime, float, PointKind]] = []
        factor_types: set[str] = set()
        step_s = 3600.0
        forecast = what == "forecast"
        for row in rows:
            if not isinstance(row, dict):
                raise ProviderError("electricitymaps: malformed answer (row is not an object)")
            value = number("electricitymaps", row.get("carbonIntensity"))
            if value is None:
                continue
            kind: PointKind = "forecast" if forecast else "actual"
            if not forecast and row.get("isEstimated"):
                kind = "estimated"
            stamps.append((parse_stamp("electricitymaps", row.get("datetime")), value, kind))
            if isinstance(row.get("emissionFactorType"), str):
                factor_types.add(row["emissionFactorType"])
            step_s = _GRANULARITY_S.get(str(row.get("temporalGranularity")), step_s)
        points: tuple[IntensityPoint, ...] = clip(
            instants_to_points(stamps, timedelta(seconds=step_s)), start, end
        )
        if not points:
            raise ProviderError(
                f"electricitymaps: no {what} value for {zone} between "
                f"{start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC"
            )
        # Forecast rows omit the factor type; they use the account's default (life-cycle).
        if len(factor_types) > 1:
            factor = "mixed"
        else:
            factor = factor_types.pop() if factor_types else "lifecycle"
        basis = _BASIS.get(factor, f"consumption (flow-traced), emission factors: {factor}")
        return IntensitySeries(
            source="electricitymaps",
            zone=zone,
            points=points,
            resolution_s=step_s,
            basis=basis,
            detail=f"Electricity Maps v3 carbon-intensity/{what}, emissionFactorType={factor}",
        )

    def history(self, zone: str, start: datetime, end: datetime) -> IntensitySeries:
        """Values covering ``[start, end]``: ``history`` if within the last day, else
        ``past-range`` in spans of at most 10 days."""
        start, end = utc(start), utc(end)
        zone = zone.strip().upper()
        if start - HOUR >= now_utc() - timedelta(hours=24):
            rows = self._get("/v3/carbon-intensity/history", {"zone": zone}, "history", 600.0)
            return self._series(zone, rows, start, end, "history")
        rows = []
        cursor = start - HOUR
        while cursor < end:
            stop = min(cursor + MAX_SPAN, end + HOUR)
            params = {"zone": zone, "start": _stamp(cursor), "end": _stamp(stop)}
            rows += self._get("/v3/carbon-intensity/past-range", params, "data", history_ttl(stop))
            cursor = stop
        return self._series(zone, rows, start, end, "past-range")

    def forecast(self, zone: str, start: datetime, end: datetime) -> IntensitySeries:
        """The forecast from now; asks for up to 72 h when the window needs more than 24."""
        zone = zone.strip().upper()
        params = {"zone": zone}
        hours = (utc(end) - now_utc()).total_seconds() / 3600.0
        if hours > 24:
            params["horizonHours"] = "48" if hours <= 48 else "72"
        rows = self._get("/v3/carbon-intensity/forecast", params, "forecast", FORECAST_TTL_S)
        return self._series(zone, rows, utc(start), utc(end), "forecast")
