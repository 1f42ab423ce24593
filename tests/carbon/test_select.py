"""Choosing the source for a zone: one ordered registry, forced sources checked, no network."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from replay_server import clean_env

from impactlib.carbon.location import WORLD_G_PER_KWH, WORLD_ZONE
from impactlib.carbon.select import (
    REGISTRY,
    forecast_for,
    intensity_for,
    is_live,
    source_name,
    static_series,
)
from impactlib.carbon.static import lookup
from impactlib.config import load_config
from impactlib.errors import ConfigError, ProviderError, UnknownZoneError

T = datetime(2024, 1, 15, 16, 0, tzinfo=timezone.utc)
ZONES = ["FR", "fra", "GB", "GB-13", "GB-RG10", "UK", "DE", "US-CAL-CISO", "gcp:europe-west1"]


@pytest.mark.parametrize(
    ("source", "key", "zone", "forecast", "expected"),
    [
        ("auto", None, "FR", False, "rte"),
        ("auto", None, "GB", False, "gb"),
        ("auto", None, "GB-13", False, "gb"),
        ("auto", "k", "GB-13", False, "gb"),
        ("auto", None, "DE", False, "static"),
        ("auto", "k", "DE", False, "electricitymaps"),
        ("auto", "k", "FR", False, "rte"),
        ("auto", "k", "FR", True, "electricitymaps"),
        ("auto", "k", "gcp:europe-west1", False, "static"),
        ("auto", "k", WORLD_ZONE, False, "static"),
        ("static", "k", "FR", False, "static"),
        ("electricitymaps", "k", "FR", False, "electricitymaps"),
    ],
)
def test_source_choice(source: str, key: str | None, zone: str, forecast: bool, expected: str):
    config = load_config({"intensity_source": source, "electricitymaps_key": key}, environ={})
    assert source_name(config, zone, forecast=forecast) == expected


def test_registry_names_are_the_classes_names_and_valid_settings():
    for name, load in REGISTRY.items():
        assert load().name == name
        assert load_config({"intensity_source": name}, environ={}).intensity_source == name
    assert list(REGISTRY)[-1] == "static"  # the answer of last resort comes last


@pytest.mark.parametrize("key", [None, "k"])
@pytest.mark.parametrize("forecast", [False, True])
@pytest.mark.parametrize("zone", ZONES)
def test_auto_takes_the_first_registered_source_that_serves_the_zone(
    zone: str, forecast: bool, key: str | None
):
    config = load_config({"electricitymaps_key": key}, environ={})
    chosen = source_name(config, zone, forecast=forecast)
    names = list(REGISTRY)
    for name in names[: names.index(chosen)]:
        source = REGISTRY[name]()
        needs_missing_key = source.key_setting is not None and key is None
        assert needs_missing_key or not source.supports(zone, forecast=forecast)
    assert REGISTRY[chosen]().supports(zone, forecast=forecast)


@pytest.mark.parametrize(
    ("source", "zone", "says"),
    [
        ("rte", "DE", "answers only zone FR"),
        ("gb", "FR", "answers GB, GB-<region 1-17>"),
        ("electricitymaps", "gcp:europe-west1", "not cloud regions"),
    ],
)
def test_explicit_provider_for_wrong_zone_is_a_config_error(source: str, zone: str, says: str):
    config = load_config({"intensity_source": source, "electricitymaps_key": "k"}, environ={})
    with pytest.raises(ConfigError, match=f"intensity_source={source}") as caught:
        source_name(config, zone)
    assert says in str(caught.value) and repr(zone) in str(caught.value)


def test_missing_key_for_keyed_provider(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    clean_env(monkeypatch, tmp_path)
    monkeypatch.setenv("IMPACTLIB_INTENSITY_SOURCE", "electricitymaps")
    with pytest.raises(ConfigError, match="IMPACTLIB_ELECTRICITYMAPS_KEY"):
        intensity_for(load_config(), "DE", T, T + timedelta(hours=1))


def test_a_forced_source_without_forecasts_says_so_itself(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    clean_env(monkeypatch, tmp_path)
    config = load_config({"intensity_source": "rte"})
    assert source_name(config, "FR", forecast=True) == "rte"
    with pytest.raises(ProviderError, match="no carbon-intensity forecast"):
        forecast_for(config, "FR", T, T + timedelta(hours=6))


@pytest.mark.parametrize("zone", ["FR", "DE"])
def test_no_forecasting_source_is_no_forecast_not_a_flat_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, zone: str
):
    clean_env(monkeypatch, tmp_path)
    with pytest.raises(ProviderError, match=f"no forecast for zone {zone}"):
        forecast_for(load_config(), zone, T, T + timedelta(hours=6))


def test_unknown_zone_is_reported_before_no_forecast(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    clean_env(monkeypatch, tmp_path)
    with pytest.raises(UnknownZoneError, match="unknown zone 'XX'"):
        forecast_for(load_config(), "XX", T, T + timedelta(hours=6))


def test_is_live():
    assert [n for n in REGISTRY if is_live(n)] == ["gb", "rte", "electricitymaps"]
    assert not is_live("rte+static") and not is_live("static")


def test_region_zone_falls_back_to_its_country():
    assert static_series("GB-13").points[0].g_per_kwh == lookup("GB").g_per_kwh
    assert "country value for GB-13" in static_series("GB-13").detail


def test_unknown_country_of_a_region_is_an_unknown_zone():
    with pytest.raises(UnknownZoneError, match="neither it nor its country 'XX'"):
        static_series("XX-13")


def test_world_zone_is_the_world_average_and_says_so():
    series = static_series(WORLD_ZONE)
    assert [p.g_per_kwh for p in series.points] == [WORLD_G_PER_KWH]
    assert "IEA 2019" in series.detail and series.zone == WORLD_ZONE


def test_the_tables_alone_load_no_network_code():
    code = (
        "import sys; from impactlib.carbon.select import static_series;"
        "static_series('DE'); static_series('GB-13');"
        "print(sorted(m for m in ('impactlib.carbon.cache', 'impactlib.carbon.http') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
