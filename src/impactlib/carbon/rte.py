"""France: RTE éCO2mix through the ODRÉ open-data API (no key).

What ``taux_co2`` measures: RTE's estimate of grams of CO2 per kWh *produced* in mainland
France (Corsica excluded), from the production mix and direct combustion factors; imports
are not counted. It is therefore production-based and direct, unlike the bundled OWID table
(production, life-cycle) or Electricity Maps (consumption, life-cycle): the record says so.

Two datasets answer history:

- ``eco2mix-national-tr`` (real time, 15-minute rows; the newest rows have ``taux_co2``
  null until RTE fills them) -> points of kind ``estimated`` (provisional values);
- ``eco2mix-national-cons-def`` (consolidated then definitive, from 2012) -> ``actual``.

Recent intervals ask the real-time dataset first, older ones the consolidated one; the other
is asked only when the first has no value in the interval. RTE publishes no CO2 forecast, so
:meth:`RTESource.forecast` raises :class:`ProviderError`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .._time import now_utc, utc
from ..errors import ProviderError
from ._common import clip, history_ttl, instants_to_points, number, parse_stamp
from .base import IntensitySeries, PointKind
from .cache import Fetcher

if TYPE_CHECKING:
    from ..config import Config

REALTIME = "eco2mix-national-tr"
CONSOLIDATED = "eco2mix-national-cons-def"
STEP = timedelta(minutes=15)
PAGE = 100  # ODRÉ's records endpoint answers at most 100 rows per request
MAX_PAGES = 40  # 10 days of 15-minute rows; beyond that the rest is priced from the table
REALTIME_DAYS = 60
BASIS = "production in mainland France, direct combustion CO2 (RTE éCO2mix taux_co2)"
ZONES = ("FR", "FRA")


def _odsql_time(when: datetime) -> str:
    return "date'" + utc(when).strftime("%Y-%m-%dT%H:%M:%SZ") + "'"


def _check(payload: Any) -> None:
    if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
        raise ProviderError("rte: malformed answer (no 'results' list)")


class RTESource:
    """``IntensitySource`` for zone FR from RTE éCO2mix."""

    name = "rte"
    coverage = "only zone FR (mainland France)"
    key_setting = None

    def __init__(self, base_url: str, fetcher: Fetcher) -> None:
        self.base_url = base_url
        self.fetcher = fetcher

    @classmethod
    def from_config(cls, config: Config, fetcher: Fetcher) -> RTESource:
        """The source at ``config.rte_url``."""
        return cls(config.rte_url, fetcher)

    @staticmethod
    def supports(zone: str, *, forecast: bool = False) -> bool:
        """RTE covers mainland France only, and publishes no CO2 forecast."""
        return not forecast and zone.strip().upper() in ZONES

    def _rows(self, dataset: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        where = f"date_heure >= {_odsql_time(start)} AND date_heure <= {_odsql_time(end)}"
        rows: list[dict[str, Any]] = []
        for page in range(MAX_PAGES):
            params = {
                "select": "date_heure,taux_co2",
                "where": where,
                "order_by": "date_heure",
                "limit": str(PAGE),
                "offset": str(page * PAGE),
            }
            payload = self.fetcher.get_json(
                "rte",
                self.base_url,
                f"/api/explore/v2.1/catalog/datasets/{dataset}/records",
                params=params,
                ttl_s=history_ttl(end),
                check=_check,
            )
            results = payload["results"]
            rows.extend(r for r in results if isinstance(r, dict))
            total = payload.get("total_count")
            if len(results) < PAGE or (isinstance(total, int) and len(rows) >= total):
                break
        return rows

    def _series(self, dataset: str, start: datetime, end: datetime) -> IntensitySeries:
        kind: PointKind = "estimated" if dataset == REALTIME else "actual"
        stamps = []
        for row in self._rows(dataset, start - STEP, end):
            value = number("rte", row.get("taux_co2"))
            if value is None:  # the newest real-time rows: not yet computed by RTE
                continue
            stamps.append((parse_stamp("rte", row.get("date_heure")), value, kind))
        points = clip(instants_to_points(stamps, STEP), start, end)
        return IntensitySeries(
            source="rte",
            zone="FR",
            points=points,
            resolution_s=STEP.total_seconds(),
            basis=BASIS,
            detail=f"RTE éCO2mix via ODRÉ, dataset {dataset}, 15-minute values",
        )

    def history(self, zone: str, start: datetime, end: datetime) -> IntensitySeries:
        """Values covering ``[start, end]``; :class:`ProviderError` if there are none."""
        if not self.supports(zone):
            raise ProviderError(f"rte: answers only zone FR (mainland France), not {zone!r}")
        start, end = utc(start), utc(end)
        recent = end > now_utc() - timedelta(days=REALTIME_DAYS)
        order = (REALTIME, CONSOLIDATED) if recent else (CONSOLIDATED, REALTIME)
        for dataset in order:
            series = self._series(dataset, start, end)
            if series.points:
                return series
        raise ProviderError(
            f"rte: no taux_co2 value between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC"
        )

    def forecast(self, zone: str, start: datetime, end: datetime) -> IntensitySeries:
        """Not available: éCO2mix forecasts consumption, not CO2 intensity."""
        raise ProviderError(
            "rte: RTE publishes no carbon-intensity forecast; set IMPACTLIB_ELECTRICITYMAPS_KEY "
            "to schedule in France"
        )
