"""Bundled annual carbon-intensity tables: the fallback that always answers.

Resolution order for a zone string (case-insensitive):
1. Nordic bidding zones ``SE1``-``SE4``, ``NO1``-``NO5`` (ENTSO-E averages via CodeCarbon);
2. cloud regions ``provider:region`` (``gcp:europe-west1``, ``aws:eu-west-3``, ``azure:...``);
3. sub-national ``US-XX``, ``CA-XX``, ``AU-XX`` (Green Algorithms, carbonfootprint.com 2022);
4. countries by ISO-2, ISO-3 or English name (Our World in Data / Ember annual, life-cycle),
   then Green Algorithms' country rows for any country OWID lacks.
An unknown zone raises :class:`UnknownZoneError` naming close matches; there is no silent
world average.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import TYPE_CHECKING

from .. import data
from ..errors import UnknownZoneError
from .base import IntensityPoint, IntensitySeries

if TYPE_CHECKING:
    from ..config import Config
    from .cache import Fetcher

_FAR = timedelta(days=365 * 200)


@dataclass(frozen=True)
class AnnualValue:
    """One table value with the provenance a record needs."""

    zone: str
    name: str
    g_per_kwh: float
    table: str
    year: str
    basis: str


@lru_cache(maxsize=1)
def _iso_maps() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    alpha2_to_3: dict[str, str] = {}
    names: dict[str, str] = {}
    alpha3_to_2: dict[str, str] = {}
    for row in data.load_csv("iso3166.csv"):
        alpha2_to_3[row["alpha2"]] = row["alpha3"]
        alpha3_to_2[row["alpha3"]] = row["alpha2"]
        names[row["name"].lower()] = row["alpha2"]
    return alpha2_to_3, alpha3_to_2, names


@lru_cache(maxsize=1)
def _table() -> dict[str, AnnualValue]:
    """Every known zone key (upper case) -> its annual value."""
    table: dict[str, AnnualValue] = {}
    alpha2_to_3, alpha3_to_2, _ = _iso_maps()
    ga_basis = "location-based, mostly generation + T&D (carbonfootprint.com compilation)"
    for row in data.load_csv("CI_aggregated.csv", skip_lines=1):
        loc = row["location"].upper()
        if not loc or loc == "WORLD":
            continue
        years = re.findall(r"(?:data from|using|based on) (\d{4})", row["source"])
        name = row["countryName"] if row["regionName"] in ("", "Any") else row["regionName"]
        table[loc] = AnnualValue(
            zone=loc,
            name=name,
            g_per_kwh=float(row["carbonIntensity"]),
            table=f"Green Algorithms CI_aggregated v3.0 ({row['source']})",
            year=years[0] if years else "2019-2020",
            basis=ga_basis,
        )
    mix = data.load_json("global_energy_mix.json")
    for iso3, entry in mix.items():
        alpha2 = alpha3_to_2.get(iso3)
        if alpha2 is None or entry.get("carbon_intensity") in (None, ""):
            continue
        table[alpha2] = AnnualValue(
            zone=alpha2,
            name=entry.get("country_name", alpha2),
            g_per_kwh=float(entry["carbon_intensity"]),
            table="Our World in Data / Ember, carbon intensity of electricity (via CodeCarbon)",
            year=str(entry.get("year", "")),
            basis="production, life-cycle CO2e",
        )
    nordic = data.load_json("nordic_emissions.json")
    for zone, entry in nordic["data"].items():
        if zone in ("FI",):  # a whole country: the country table answers it
            continue
        table[zone] = AnnualValue(
            zone=zone,
            name=entry["description"],
            g_per_kwh=float(entry["emission_factor"]),
            table=f"CodeCarbon nordic_emissions ({nordic['metadata']['source']})",
            year=str(entry["year"]),
            basis="ENTSO-E historical average",
        )
    for row in data.load_csv("mlco2_cloud_impact.csv"):
        key = f"{row['provider']}:{row['region']}".upper()
        table[key] = AnnualValue(
            zone=key,
            name=f"{row['providerName']} {row['region']}",
            g_per_kwh=float(row["impact"]),
            table=f"ML CO2 Impact cloud regions ({row['source']})",
            year="2019-2024",
            basis="provider region grid intensity",
        )
    for row in data.load_csv("codecarbon_gcp_impact.csv"):
        key = f"gcp:{row['region']}".upper()
        table[key] = AnnualValue(
            zone=key,
            name=f"Google Cloud {row['region']}",
            g_per_kwh=float(row["impact"]),
            table=f"Google region carbon data via CodeCarbon ({row['source']})",
            year="2023",
            basis="grid intensity, location-based",
        )
    return table


def lookup(zone: str) -> AnnualValue:
    """The annual value for ``zone``; :class:`UnknownZoneError` with close matches if none."""
    key = zone.strip().upper()
    table = _table()
    alpha2_to_3, alpha3_to_2, names = _iso_maps()
    if key in table:
        return table[key]
    if key in alpha3_to_2 and alpha3_to_2[key] in table:
        return table[alpha3_to_2[key]]
    if zone.strip().lower() in names and names[zone.strip().lower()] in table:
        return table[names[zone.strip().lower()]]
    candidates = list(table) + [v.name for v in table.values()]
    close = difflib.get_close_matches(zone.strip(), candidates, n=4, cutoff=0.6)
    close += difflib.get_close_matches(key, list(table), n=4, cutoff=0.5)
    seen = list(dict.fromkeys(close))[:4]
    hint = f"; close matches: {', '.join(seen)}" if seen else ""
    raise UnknownZoneError(
        f"unknown zone '{zone}'{hint}; use an ISO country code (FR, FRA), a region "
        "(US-CA, CA-QC, AU-NSW, SE3) or a cloud region (gcp:europe-west1); "
        "`impactlib intensity --list` shows them all"
    )


def known_zones() -> list[AnnualValue]:
    """Every zone the bundled tables answer, sorted by key."""
    return [v for _, v in sorted(_table().items())]


class StaticSource:
    """Intensity from the bundled annual tables (constant over time)."""

    name = "static"
    coverage = "every zone of the bundled tables"
    key_setting = None

    @classmethod
    def from_config(cls, config: Config, fetcher: Fetcher) -> StaticSource:
        """The tables need neither a URL nor the network."""
        return cls()

    @staticmethod
    def supports(zone: str, *, forecast: bool = False) -> bool:
        """Every zone: the answer of last resort (an unknown one is reported by :func:`lookup`,
        with close matches); its "forecast" is the flat annual value."""
        return True

    def history(self, zone: str, start: datetime, end: datetime) -> IntensitySeries:
        """One annual point covering any interval."""
        value = lookup(zone)
        epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
        point = IntensityPoint(epoch, epoch + _FAR, value.g_per_kwh, "annual")
        return IntensitySeries(
            source="static",
            zone=value.zone,
            points=(point,),
            resolution_s=365 * 86400.0,
            basis=value.basis,
            detail=f"{value.table}, year {value.year}",
        )

    forecast = history
