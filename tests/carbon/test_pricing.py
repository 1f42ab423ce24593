"""Time-aligned pricing: exact sum of E_i x CI_i, fallbacks that say so, bounded network time."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from replay_server import ALL_ROUTES, DATA, KEY, ReplayServer, clean_env, closed_port_url

from impactlib.carbon.base import EnergyBucket, IntensityPoint, IntensitySeries
from impactlib.carbon.location import Location
from impactlib.carbon.pricing import (
    ProvisionalPrice,
    price_final,
    price_run,
    price_series,
    reprice,
)
from impactlib.carbon.select import static_series
from impactlib.carbon.static import lookup
from impactlib.config import load_config
from impactlib.errors import UnknownZoneError
from impactlib.footprint import CarbonInfo, ChargedTo, ComponentEnergy, Footprint, LocatedBy
from impactlib.uncertainty import footprint_range, with_ranges

UTC = timezone.utc
T0 = datetime(2024, 1, 15, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def at(zone: str, detail: str) -> Location:
    """A configured location, as ``locate`` gives one."""
    return Location(zone, LocatedBy.CONFIGURATION, detail)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ReplayServer]:
    clean_env(monkeypatch, tmp_path)
    with ReplayServer(ALL_ROUTES) as srv:
        for key in ("RTE_URL", "GB_URL", "ELECTRICITYMAPS_URL"):
            monkeypatch.setenv(f"IMPACTLIB_{key}", srv.url)
        yield srv


def step_series(values: list[float], step_min: int) -> IntensitySeries:
    step = timedelta(minutes=step_min)
    points = tuple(
        IntensityPoint(T0 + i * step, T0 + (i + 1) * step, v, "actual")
        for i, v in enumerate(values)
    )
    return IntensitySeries("test", "XX", points, step.total_seconds(), "test basis")


def value_at(values: list[float], step_min: int, when: datetime) -> float:
    """Independent lookup: index of the step containing ``when``."""
    return values[int((when - T0).total_seconds() // (step_min * 60))]


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.floats(0, 2000, allow_nan=False), min_size=1, max_size=60),
    step_min=st.sampled_from([5, 15, 30, 60]),
    energies=st.lists(st.floats(0, 1e7, allow_nan=False), min_size=0, max_size=300),
    offset_min=st.integers(0, 10),
    pue=st.floats(1.0, 2.0),
)
def test_price_is_exact_sum_of_energy_times_intensity(
    values: list[float], step_min: int, energies: list[float], offset_min: int, pue: float
):
    series = step_series(values, step_min)
    horizon = len(values) * step_min
    buckets = [
        EnergyBucket(T0 + ((offset_min + i) % horizon) * MIN, e) for i, e in enumerate(energies)
    ]
    expected_g = sum(
        e / 3.6e6 * pue * value_at(values, step_min, b.start)
        for b, e in zip(buckets, energies, strict=True)
    )
    static = step_series([999.0], 10**6)
    kg, mean, share = price_series(buckets, series, static, pue)
    assert math.isclose(kg * 1000, expected_g, rel_tol=1e-9, abs_tol=1e-9)
    total_kwh = sum(energies) / 3.6e6 * pue
    if total_kwh > 0:
        assert share == 1.0
        assert math.isclose(mean, expected_g / total_kwh, rel_tol=1e-9)


def test_gaps_are_priced_with_the_static_value_exactly():
    series = step_series([100.0, 200.0], 30)  # covers 12:00-13:00
    static = step_series([500.0], 10**6)
    buckets = [EnergyBucket(T0 + i * MIN, 3.6e6) for i in range(0, 150)]  # 1 kWh per minute
    kg, _, share = price_series(buckets, series, static, 1.0)
    # 12:00-12:29 at 100; 12:30-13:30 at 200 (the last value holds for one more step, as
    # the newest value of a provider lags the clock); 13:31-14:29 at the static 500.
    expected = 30 * 100 + 61 * 200 + 59 * 500
    assert kg * 1000 == pytest.approx(expected, rel=1e-12)
    assert share == pytest.approx(91 / 150)


def gb_actuals() -> list[tuple[datetime, datetime, float]]:
    data = json.loads((DATA / "gb_national_range.json").read_text())["data"]
    out = []
    for d in data:
        start = datetime.fromisoformat(d["from"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(d["to"].replace("Z", "+00:00"))
        out.append((start, end, float(d["intensity"]["actual"])))
    return out


def test_priced_run_from_recorded_gb_history_is_exact(server: ReplayServer):
    config = load_config({"pue": 1.2})
    buckets = [EnergyBucket(T0 + i * MIN, 1000.0 + 37 * i) for i in range(8 * 60)]
    kg, info = price_run(buckets, config, at("GB", "configured zone"), T0, T0 + 8 * 60 * MIN)
    truth = gb_actuals()
    expected_g = 0.0
    for b in buckets:
        (ci,) = [v for s, e, v in truth if s <= b.start < e]
        expected_g += b.energy_j / 3.6e6 * 1.2 * ci
    assert kg * 1000 == pytest.approx(expected_g, rel=1e-12)
    assert info.source == "gb" and info.fallback is None
    assert info.zone == "GB" and info.located_detail == "configured zone"
    assert "generation" in info.detail and "16 actual" in info.detail


def test_rte_null_rows_leave_a_gap_priced_from_the_table(server: ReplayServer):
    start = datetime(2024, 1, 15, 19, 0, tzinfo=UTC)
    buckets = [EnergyBucket(start + i * MIN, 3.6e6) for i in range(60)]
    kg, info = price_run(buckets, load_config(), at("FR", "configured"), start, start + 60 * MIN)
    # Only 19:00 has a value (63); it prices 19:00-19:30 (its quarter plus one step of grace).
    fr = lookup("FR").g_per_kwh
    assert kg * 1000 == pytest.approx(31 * 63 + 29 * fr, rel=1e-12)
    assert info.source == "rte+static"
    assert info.fallback is not None and "rte covered 52%" in info.fallback


def test_no_energy_means_no_network(server: ReplayServer):
    kg, info = price_run([], load_config(), at("GB", "configured"), T0, T0 + MIN)
    assert kg == 0.0 and server.requests == []
    assert "not asked" in info.detail


def test_unknown_zone_raises(server: ReplayServer):
    with pytest.raises(UnknownZoneError):
        price_run([EnergyBucket(T0, 1.0)], load_config(), at("XX", "configured"), T0, T0 + MIN)


# --- network unreachable: bounded wall time, fallback named ----------------------------------


def one_hour(start: datetime) -> list[EnergyBucket]:
    return [EnergyBucket(start + i * MIN, 36000.0) for i in range(60)]


@pytest.mark.parametrize(
    ("zone", "start"),
    [("FR", datetime(2024, 1, 15, 16, 0, tzinfo=UTC)), ("GB", T0), ("GB-13", T0), ("DE", T0)],
)
def test_unreachable_network_closed_port(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, zone: str, start: datetime
):
    clean_env(monkeypatch, tmp_path)
    url = closed_port_url()
    for key in ("RTE_URL", "GB_URL", "ELECTRICITYMAPS_URL"):
        monkeypatch.setenv(f"IMPACTLIB_{key}", url)
    monkeypatch.setenv("IMPACTLIB_ELECTRICITYMAPS_KEY", KEY)
    t0 = time.monotonic()
    kg, info = price_run(
        one_hour(start), load_config(), at(zone, "configured"), start, start + 60 * MIN
    )
    assert time.monotonic() - t0 < 5.0
    static_value = static_series(zone).points[0].g_per_kwh
    assert kg * 1000 == pytest.approx(0.6 * static_value, rel=1e-12)  # 0.6 kWh at the table value
    assert info.source == "static"
    assert info.fallback is not None and "failed (" in info.fallback
    assert "cannot reach" in info.fallback and "static table" in info.fallback


def test_hanging_server_costs_at_most_a_few_seconds(server: ReplayServer):
    server.fail = "hang"
    t0 = time.monotonic()
    kg, info = price_run(one_hour(T0), load_config(), at("GB", "configured"), T0, T0 + 60 * MIN)
    elapsed = time.monotonic() - t0
    assert elapsed < 5.0  # default network_timeout 2 s, budget 4 s
    assert elapsed >= 1.5  # it did wait for the timeout, it did not skip the request
    assert info.fallback is not None and "no answer within 2.0 s" in info.fallback
    # A second run at once does not wait again: the failure is remembered.
    t0 = time.monotonic()
    _, again = price_run(one_hour(T0), load_config(), at("GB", "configured"), T0, T0 + 60 * MIN)
    assert time.monotonic() - t0 < 0.5
    assert again.fallback is not None and "remembered" in again.fallback


# --- reprice ---------------------------------------------------------------------------------


def footprint(carbon: CarbonInfo | None, kg: float = 0.0) -> Footprint:
    comp = ComponentEnergy(
        "cpu:package-0", "cpu", "rapl", "machine", "measured", 1.0, 1.0, 0.0, 0.0
    )
    return Footprint(
        run_id="r1",
        charged_to=ChargedTo.TREE,
        idle_policy="usage",
        started_at="2024-01-15T12:00:00Z",
        ended_at="2024-01-15T13:00:00Z",
        duration_s=3600.0,
        components=(comp,),
        pue=1.5,
        emissions_kg=kg,
        carbon=carbon,
    )


def test_reprice_replaces_an_offline_fallback_with_live_data(server: ReplayServer):
    offline = CarbonInfo(
        "static",
        "GB-13",
        200.0,
        "table",
        "gb failed (...)",
        LocatedBy.CONFIGURATION,
        "configured zone",
    )
    # The recorded regional answer covers 18:00 onwards: reprice a run in that window.
    old = dataclasses.replace(
        footprint(offline, kg=1.0),
        started_at="2024-01-15T18:00:00Z",
        ended_at="2024-01-15T19:00:00Z",
    )
    server.routes = dict(
        ALL_ROUTES, **{r"/regional/intensity/.*": "gb_regional_fw48h_regionid_13.json"}
    )
    buckets = one_hour(datetime(2024, 1, 15, 18, 0, tzinfo=UTC))
    new = reprice(old, buckets, load_config())
    assert new is not old and new.carbon is not None
    assert new.carbon.source == "gb" and new.carbon.fallback is None
    assert new.carbon.zone == "GB-13" and new.carbon.located_detail == "configured zone"
    raw = json.loads((DATA / "gb_regional_fw48h_regionid_13.json").read_text())["data"]["data"]
    expected = sum(0.01 * 1.5 * raw[i // 30]["intensity"]["forecast"] for i in range(60))
    assert new.emissions_kg * 1000 == pytest.approx(expected, rel=1e-12)
    assert server.paths()[0].endswith("/regionid/13")
    # The emissions' range follows the new price: a live forecast's, narrower than a table's.
    was, now = footprint_range(with_ranges(old)), footprint_range(new)
    assert new.emissions_low_kg is not None and new.emissions_high_kg is not None
    assert new.emissions_low_kg <= new.emissions_kg <= new.emissions_high_kg
    assert (now.emissions_high_kg - now.emissions_low_kg) / now.emissions_kg < (
        was.emissions_high_kg - was.emissions_low_kg
    ) / was.emissions_kg


def test_reprice_never_replaces_live_with_a_fallback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    clean_env(monkeypatch, tmp_path)
    monkeypatch.setenv("IMPACTLIB_GB_URL", closed_port_url())
    live = CarbonInfo("gb", "GB", 180.0, "live", None, LocatedBy.CONFIGURATION, "configured zone")
    old = footprint(live, kg=0.123)
    assert reprice(old, one_hour(T0), load_config()) is old


def test_reprice_static_record_keeps_the_static_price(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    clean_env(monkeypatch, tmp_path)
    info = CarbonInfo(
        "static", "DE", 381.0, "table", None, LocatedBy.CONFIGURATION, "configured zone"
    )
    new = reprice(footprint(info, kg=9.9), one_hour(T0), load_config())
    assert new.emissions_kg == pytest.approx(0.6 * 1.5 * lookup("DE").g_per_kwh / 1000, rel=1e-12)
    assert new.carbon is not None and new.carbon.source == "static"


# --- what the tracker calls: the final price and the provisional one -------------------------


def epoch_minute(when: datetime) -> int:
    return int(when.timestamp()) // 60


def test_final_price_is_the_time_aligned_price_of_the_minutes(server: ReplayServer):
    config = load_config({"pue": 1.2})
    joules = {epoch_minute(T0 + i * MIN): 1000.0 + 37 * i for i in range(8 * 60)}
    shuffled = dict(sorted(joules.items(), key=lambda kv: -kv[0]))  # order must not matter
    priced = price_final(shuffled, config, at("GB", "configured zone"), T0, T0 + 8 * 60 * MIN)
    truth = gb_actuals()
    expected_g = 0.0
    for minute, j in joules.items():
        start = datetime.fromtimestamp(minute * 60, tz=UTC)
        (ci,) = [v for s, e, v in truth if s <= start < e]
        expected_g += j / 3.6e6 * 1.2 * ci
    assert priced.kg * 1000 == pytest.approx(expected_g, rel=1e-12)
    assert priced.warning is None and priced.carbon is not None
    assert priced.carbon.source == "gb" and priced.carbon.located_detail == "configured zone"


@pytest.mark.parametrize(
    ("settings_", "zone", "says"),
    [
        ({"intensity_source": "rte"}, "DE", "intensity_source=rte"),
        ({}, "XX", "unknown zone 'XX'"),
    ],
)
def test_final_price_never_raises_and_keeps_the_energy(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    settings_: dict[str, str],
    zone: str,
    says: str,
):
    clean_env(monkeypatch, tmp_path)
    priced = price_final(
        {epoch_minute(T0): 3.6e6}, load_config(settings_), at(zone, "configured"), T0, T0 + MIN
    )
    assert priced.kg == 0.0 and priced.carbon is None
    assert priced.warning is not None
    assert priced.warning.startswith("emissions not priced: ") and says in priced.warning


def test_final_price_of_no_energy_asks_nothing(server: ReplayServer):
    priced = price_final({}, load_config(), at("GB", "configured"), T0, T0 + MIN)
    assert priced.kg == 0.0 and priced.warning is None and server.requests == []


def test_provisional_price_is_the_static_value_and_says_provisional():
    provisional = ProvisionalPrice.for_location(at("DE", "configured zone (argument)"))
    carbon = provisional.carbon
    assert carbon.source == "static" and carbon.zone == "DE" and carbon.fallback is None
    assert carbon.mean_g_per_kwh == lookup("DE").g_per_kwh
    assert carbon.detail.startswith("provisional until the run ends: ")
    assert carbon.located_by is LocatedBy.CONFIGURATION
    assert carbon.located_detail == "configured zone (argument)"
    assert provisional.kg(3.6e6, 1.5) == pytest.approx(1.5 * lookup("DE").g_per_kwh / 1000)


def test_provisional_price_fails_when_made_for_an_unknown_zone():
    with pytest.raises(UnknownZoneError, match="unknown zone 'XX'"):
        ProvisionalPrice.for_location(at("XX", "configured"))


@settings(max_examples=50, deadline=None)
@given(
    energies=st.lists(st.floats(0, 1e7, allow_nan=False), min_size=1, max_size=120),
    pue=st.floats(1.0, 2.0),
)
def test_provisional_total_prices_what_the_static_minutes_would(energies: list[float], pue: float):
    config = load_config({"pue": pue, "intensity_source": "static"}, environ={})
    buckets = [EnergyBucket(T0 + i * MIN, e) for i, e in enumerate(energies)]
    final = price_run(buckets, config, at("DE", "configured"), T0, T0 + len(energies) * MIN)
    provisional = ProvisionalPrice.for_location(at("DE", "configured")).kg(sum(energies), pue)
    assert math.isclose(provisional, final.kg, rel_tol=1e-9, abs_tol=1e-12)


def test_provisional_price_loads_no_network_code():
    code = (
        "import sys; from impactlib.carbon.pricing import ProvisionalPrice;"
        "from impactlib.carbon.location import Location;"
        "ProvisionalPrice.for_location(Location('GB-13', 'configuration', 'configured'));"
        "print(sorted(m for m in ('impactlib.carbon.cache', 'impactlib.carbon.http', 'httpx') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
