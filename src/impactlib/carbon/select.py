"""Which intensity source answers a zone, and asking it with the static table as fallback.

The rule a record can be trusted by: a zone is answered by the live provider for it when one
answers, by the bundled annual table otherwise, and the series says which. In detail:

- the sources form one ordered :data:`REGISTRY`; ``intensity_source = auto`` (the default)
  takes the first whose class supports the zone (and its forecast, when one is asked for)
  and whose key is configured: ``gb`` for GB and its regions, ``rte`` for FR,
  ``electricitymaps`` when a key is configured, else ``static``, which answers every zone;
- an explicitly named source that cannot serve the zone, or one whose key is missing, is a
  :class:`ConfigError` (one line, exit 2) rather than a quiet fallback;
- a live source that fails (down, slow, refusing, malformed) is replaced by the static
  table, and :attr:`IntensitySeries.fallback` names what failed and what was used;
- the requests made for one answer share the network budget of
  :data:`impactlib.carbon.http.DEFAULT_BUDGET_S` seconds.

Adding a provider is one class with the members of :class:`~.base.SourceClass` and one
line in :data:`REGISTRY`. Pricing a run's energy with these series is
:mod:`impactlib.carbon.pricing`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ..config import Config
from ..errors import ConfigError, ProviderError, UnknownZoneError
from .base import IntensityPoint, IntensitySeries, IntensitySource, SourceClass
from .location import WORLD_G_PER_KWH, WORLD_SOURCE, WORLD_ZONE
from .static import StaticSource

if TYPE_CHECKING:  # the on-disk cache and HTTP client load only when a live source is used
    from .cache import Fetcher


def _gb() -> SourceClass:
    from .gb import GBSource

    return GBSource


def _rte() -> SourceClass:
    from .rte import RTESource

    return RTESource


def _electricitymaps() -> SourceClass:
    from .electricitymaps import ElectricityMapsSource

    return ElectricityMapsSource


def _static() -> SourceClass:
    return StaticSource


# In the order ``auto`` tries them: the grid operators' own free data first, then the keyed
# service, then the tables, which answer every zone. Each class is loaded on first use, so
# pricing from the tables alone never loads the cache and HTTP code.
REGISTRY: dict[str, Callable[[], SourceClass]] = {
    "gb": _gb,
    "rte": _rte,
    "electricitymaps": _electricitymaps,
    "static": _static,
}


def is_live(name: str) -> bool:
    """Whether ``name`` is a provider asked over the network (not the tables, and not a
    mixed ``rte+static`` price)."""
    return name in REGISTRY and name != StaticSource.name


def world_series() -> IntensitySeries:
    """The world average, used only when no location is known (and always flagged)."""
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    far = datetime(2170, 1, 1, tzinfo=timezone.utc)
    return IntensitySeries(
        source=StaticSource.name,
        zone=WORLD_ZONE,
        points=(IntensityPoint(epoch, far, WORLD_G_PER_KWH, "annual"),),
        resolution_s=365 * 86400.0,
        basis="world average, production",
        detail=WORLD_SOURCE,
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
        except UnknownZoneError as exc:
            raise UnknownZoneError(
                f"unknown zone '{zone}': neither it nor its country '{country}' is in the "
                "bundled tables; use an ISO country code (FR), a region (US-CA, GB-13) or a "
                "cloud region (gcp:europe-west1)"
            ) from exc
        return dataclasses.replace(series, detail=f"{series.detail} (country value for {zone})")


def _missing_key(source: SourceClass, config: Config) -> str | None:
    """The configuration key ``source`` needs and ``config`` lacks, if any."""
    if source.key_setting is None or getattr(config, source.key_setting, None):
        return None
    return source.key_setting


def _forced(name: str, config: Config, zone: str) -> SourceClass:
    """The source the user named, checked against the zone and its key."""
    where = config.sources.get("intensity_source", "default")
    source = REGISTRY[name]()
    missing = _missing_key(source, config)
    if missing is not None:
        raise ConfigError(
            f"intensity_source={name} ({where}) needs an API key: set IMPACTLIB_{missing.upper()}"
        )
    if not source.supports(zone):
        raise ConfigError(
            f"intensity_source={name} ({where}) answers {source.coverage}, not {zone!r}; "
            "use auto or static"
        )
    return source


def source_name(config: Config, zone: str, *, forecast: bool = False) -> str:
    """The source that answers ``zone`` under ``config.intensity_source``.

    With ``forecast=True`` and ``auto``, only sources that forecast the zone are candidates
    (France goes to Electricity Maps when a key is set: RTE publishes no CO2 forecast); the
    tables remain the last answer, which :func:`forecast_for` reports as "no forecast".
    A named source is returned even if it cannot forecast: its own error says why.
    """
    if config.intensity_source != "auto":
        return _forced(config.intensity_source, config, zone).name
    candidates = (load() for load in REGISTRY.values())
    return next(
        source.name
        for source in candidates
        if _missing_key(source, config) is None and source.supports(zone, forecast=forecast)
    )


def make_source(name: str, config: Config, fetcher: Fetcher | None = None) -> IntensitySource:
    """An instance of the named source, reading its base URL (and key) from ``config``.

    Without ``fetcher``, a new one: its budget bounds the network wait of everything asked
    through it (one priced run, one command).
    """
    if fetcher is None:
        from .cache import Fetcher

        fetcher = Fetcher.from_config(config)
    return REGISTRY[name]().from_config(config, fetcher)


def fallback_note(name: str, exc: Exception, static: IntensitySeries) -> str:
    """The sentence a record keeps when the static table stood in for a failed source."""
    return f"{name} failed ({exc}); used the static table instead ({static.detail})"


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
    if not is_live(name):
        return static_series(zone)
    try:
        return make_source(name, config, fetcher).history(zone, start, end)
    except ProviderError as exc:
        static = static_series(zone)
        return dataclasses.replace(static, fallback=fallback_note(name, exc, static))


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
    if not is_live(name):
        static_series(zone)  # an unknown zone is reported as such, not as "no forecast"
        raise ProviderError(
            f"no forecast for zone {zone}: forecasts come from the GB API (GB, GB-<region>) "
            "or Electricity Maps (set IMPACTLIB_ELECTRICITYMAPS_KEY)"
        )
    return make_source(name, config, fetcher).forecast(zone, start, end)
