"""Where the computation ran, for carbon intensity: configured, or guessed and said so.

Precedence: ``zone`` > ``region`` (alone when it is a full code such as ``US-CA``, ``SE3``
or ``gcp:europe-west1``, else joined to ``country``) > ``country``. With nothing configured
the zone is guessed from the system timezone (IANA ``zone.tab`` maps it to a country) and
the record says so; failing that the world average is used with an explicit warning.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from ..config import Config
from ..footprint import LocatedBy

WORLD_ZONE = "WORLD"
# The world average used only when no location is known, and always said so: IEA 2019, the
# WORLD row of the bundled Green Algorithms table.
WORLD_G_PER_KWH = 475.0
WORLD_SOURCE = "IEA 2019 world average via Green Algorithms CI_aggregated v3.0"
ZONE_TAB = Path("/usr/share/zoneinfo/zone.tab")


def _system_timezone() -> str | None:
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz and "/" in tz:
        return tz
    timezone_file = Path("/etc/timezone")
    if timezone_file.is_file():
        name = timezone_file.read_text(encoding="utf-8").strip()
        if "/" in name:
            return name
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        target = str(localtime.resolve())
        if "zoneinfo/" in target:
            return target.split("zoneinfo/", 1)[1]
    return None


def country_for_timezone(tz_name: str, zone_tab: Path = ZONE_TAB) -> str | None:
    """ISO-2 country of an IANA timezone name, from the system's ``zone.tab``."""
    if not zone_tab.is_file():
        return None
    for line in zone_tab.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) >= 3 and parts[2] == tz_name:
            return parts[0]
    return None


class Location(NamedTuple):
    """The zone whose intensity prices a run, how it was found, and that in a sentence."""

    zone: str
    by: LocatedBy
    detail: str  # which setting and where it came from, or which timezone


def locate(config: Config) -> Location:
    """The zone of ``config``: configured, else guessed from the timezone, else the world."""
    configured = LocatedBy.CONFIGURATION
    if config.zone:
        source = config.sources.get("zone", "argument")
        return Location(config.zone, configured, f"configured zone ({source})")
    if config.region:
        region = config.region
        full = ":" in region or "-" in region or region[:2].upper() in ("SE", "NO")
        if not full and config.country:
            region = f"{config.country}-{region}"
        source = config.sources.get("region", "argument")
        return Location(region, configured, f"configured region ({source})")
    if config.country:
        source = config.sources.get("country", "argument")
        return Location(config.country, configured, f"configured country ({source})")
    tz_name = _system_timezone()
    if tz_name:
        country = country_for_timezone(tz_name)
        if country:
            return Location(
                country,
                LocatedBy.TIMEZONE,
                f"guessed from the system timezone {tz_name}; set IMPACTLIB_COUNTRY to be sure",
            )
    return Location(
        WORLD_ZONE,
        LocatedBy.WORLD_AVERAGE,
        f"no location configured and none could be guessed: world average "
        f"{WORLD_G_PER_KWH:g} g/kWh ({WORLD_SOURCE}); set IMPACTLIB_COUNTRY or --country",
    )
