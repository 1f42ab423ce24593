"""Every intensity provider against a real HTTP server replaying recorded answers and failures."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from replay_server import (
    ALL_ROUTES,
    DATA,
    EM_ROUTES,
    KEY,
    ReplayServer,
    clean_env,
    closed_port_url,
)

from impactlib.carbon import gb
from impactlib.carbon.cache import Cache, Fetcher
from impactlib.carbon.http import Budget
from impactlib.carbon.select import forecast_for, intensity_for, make_source
from impactlib.config import load_config
from impactlib.errors import ProviderError

UTC = timezone.utc
T = datetime(2024, 1, 15, 16, 0, tzinfo=UTC)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ReplayServer]:
    clean_env(monkeypatch, tmp_path)
    with ReplayServer(ALL_ROUTES) as srv:
        for key in ("RTE_URL", "GB_URL", "ELECTRICITYMAPS_URL"):
            monkeypatch.setenv(f"IMPACTLIB_{key}", srv.url)
        monkeypatch.setenv("IMPACTLIB_NETWORK_TIMEOUT", "0.5")
        yield srv


def fetcher() -> Fetcher:
    return Fetcher.from_config(load_config(), Budget(4.0))


# --- RTE -------------------------------------------------------------------------------------


def test_rte_history_skips_null_taux_co2_and_labels_realtime_estimated(server: ReplayServer):
    src = make_source("rte", load_config(), fetcher())
    series = src.history("FR", T, T + timedelta(hours=4))
    rows = json.loads((DATA / "rte_tr_records.json").read_text())["results"]
    expected = [r["taux_co2"] for r in rows if r["taux_co2"] is not None]
    assert [p.g_per_kwh for p in series.points] == expected
    assert all(p.kind == "estimated" for p in series.points)
    assert series.points[-1].start == datetime(2024, 1, 15, 19, 0, tzinfo=UTC)
    assert series.points[-1].end - series.points[-1].start == timedelta(minutes=15)
    assert "production" in series.basis and "direct" in series.basis
    # Old interval: the consolidated dataset is asked first, then the real-time one.
    assert [p.rsplit("/", 2)[-2] for p in server.paths()] == [
        "eco2mix-national-cons-def",
        "eco2mix-national-tr",
    ]
    query = server.requests[-1][1]
    assert query["select"] == ["date_heure,taux_co2"]
    assert "date_heure >= date'2024-01-15T15:45:00Z'" in query["where"][0]


def test_rte_consolidated_values_are_actual(server: ReplayServer):
    start = datetime(2023, 6, 1, 0, 0, tzinfo=UTC)
    series = make_source("rte", load_config(), fetcher()).history(
        "FR", start, start + timedelta(hours=3)
    )
    assert series.points[0].g_per_kwh == 21
    assert {p.kind for p in series.points} == {"actual"}
    assert "cons-def" in series.detail
    assert len(server.requests) == 1


def test_rte_has_no_forecast(server: ReplayServer):
    with pytest.raises(ProviderError, match="no carbon-intensity forecast"):
        make_source("rte", load_config(), fetcher()).forecast("FR", T, T + timedelta(hours=6))


def test_rte_empty_results_fall_back(server: ReplayServer):
    server.routes = {r".*": "rte_empty.json"}
    series = intensity_for(load_config(), "FR", T, T + timedelta(hours=1))
    assert series.source == "static"
    assert series.fallback is not None and "rte failed" in series.fallback
    assert "no taux_co2 value" in series.fallback


# --- GB --------------------------------------------------------------------------------------


def test_gb_national_history_uses_actual(server: ReplayServer):
    start = datetime(2024, 1, 15, 12, 0, tzinfo=UTC)
    series = make_source("gb", load_config(), fetcher()).history(
        "GB", start, start + timedelta(hours=8)
    )
    data = json.loads((DATA / "gb_national_range.json").read_text())["data"]
    assert [p.g_per_kwh for p in series.points] == [d["intensity"]["actual"] for d in data]
    assert {p.kind for p in series.points} == {"actual"}
    assert server.paths() == ["/intensity/2024-01-15T12:00Z/2024-01-15T20:30Z"]
    assert series.resolution_s == 1800


def test_gb_regional_postcode_is_forecast_only(server: ReplayServer):
    start = datetime(2024, 1, 15, 12, 0, tzinfo=UTC)
    series = make_source("gb", load_config(), fetcher()).history(
        "GB-RG10", start, start + timedelta(hours=2)
    )
    assert series.zone == "GB-RG10"
    assert {p.kind for p in series.points} == {"forecast"}
    assert [p.g_per_kwh for p in series.points][:3] == [120, 125, 130]
    assert server.paths()[0].endswith("/postcode/RG10")
    assert "forecast values only" in series.basis


def test_gb_regional_fw48h_where_data_is_an_object(server: ReplayServer):
    start = datetime(2024, 1, 15, 18, 0, tzinfo=UTC)
    series = make_source("gb", load_config(), fetcher()).forecast(
        "GB-13", start, start + timedelta(hours=48)
    )
    raw = json.loads((DATA / "gb_regional_fw48h_regionid_13.json").read_text())
    assert isinstance(raw["data"], dict)
    assert len(series.points) == 96
    assert series.points[0].g_per_kwh == raw["data"]["data"][0]["intensity"]["forecast"]
    assert server.paths() == ["/regional/intensity/2024-01-15T18:00Z/fw48h/regionid/13"]


def test_gb_regional_list_shape_is_read_too():
    raw = json.loads((DATA / "gb_regional_regionid_13.json").read_text())
    assert isinstance(raw["data"], list)
    points = gb._points(raw, regional=True)
    assert [(p.g_per_kwh, p.kind) for p in points] == [(171.0, "forecast")]


@pytest.mark.parametrize(
    ("zone", "label"),
    [
        ("GB", "GB"),
        ("uk", "GB"),
        ("GB-13", "GB-13"),
        ("GB-rg10", "GB-RG10"),
        ("gb-sw1a", "GB-SW1A"),
    ],
)
def test_gb_zone_parsing(zone: str, label: str):
    parsed = gb.parse_zone(zone)
    assert parsed is not None and parsed.label == label


@pytest.mark.parametrize("zone", ["GB-0", "GB-18", "FR", "GB-", "DE-13"])
def test_gb_zone_parsing_rejects(zone: str):
    assert gb.parse_zone(zone) is None


# --- Electricity Maps ------------------------------------------------------------------------


def test_electricitymaps_past_range(server: ReplayServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("IMPACTLIB_ELECTRICITYMAPS_KEY", KEY)
    start = datetime(2024, 1, 15, 0, 0, tzinfo=UTC)
    series = make_source("electricitymaps", load_config(), fetcher()).history(
        "DE", start, start + timedelta(hours=23)
    )
    assert len(series.points) == 23  # 24 rows, one with a null carbonIntensity
    assert series.points[0].g_per_kwh == 300
    assert {p.kind for p in series.points if p.start.hour >= 20} == {"estimated"}
    assert {p.kind for p in series.points if p.start.hour < 20} == {"actual"}
    assert "consumption" in series.basis and "life-cycle" in series.basis
    path, query, headers = server.requests[0]
    assert path == "/v3/carbon-intensity/past-range" and query["zone"] == ["DE"]
    assert headers["auth-token"] == KEY
    cache_text = "".join(p.read_text() for p in Path(load_config().cache_dir or "").rglob("*.json"))
    assert KEY not in cache_text and "past-range" in cache_text


def test_electricitymaps_recent_history_endpoint(
    server: ReplayServer, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("IMPACTLIB_ELECTRICITYMAPS_KEY", KEY)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)

    def history(path: str, query: dict[str, list[str]]) -> Any:
        rows = []
        for i in range(24):
            t = now - timedelta(hours=23 - i)
            rows.append(
                {
                    "zone": query["zone"][0],
                    "carbonIntensity": 100 + i,
                    "datetime": t.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    "emissionFactorType": "direct",
                    "isEstimated": False,
                }
            )
        return {"zone": query["zone"][0], "history": rows}

    server.routes = {r"/v3/carbon-intensity/history": history}
    series = make_source("electricitymaps", load_config(), fetcher()).history(
        "FR", now - timedelta(hours=3), now
    )
    assert server.paths() == ["/v3/carbon-intensity/history"]
    assert [p.g_per_kwh for p in series.points] == [120, 121, 122, 123]
    assert "direct" in series.basis


def test_electricitymaps_forecast(server: ReplayServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("IMPACTLIB_ELECTRICITYMAPS_KEY", KEY)
    start = datetime(2024, 1, 15, 18, 0, tzinfo=UTC)
    series = forecast_for(load_config(), "DE", start, start + timedelta(hours=24))
    assert series.source == "electricitymaps"
    assert {p.kind for p in series.points} == {"forecast"}
    assert len(series.points) == 25


@pytest.mark.parametrize(
    ("status", "name", "text"),
    [(401, "em_error_auth.json", "Invalid auth-token"), (400, "em_error_zone.json", "does not")],
)
def test_electricitymaps_errors_are_quoted_and_not_remembered(
    server: ReplayServer, monkeypatch: pytest.MonkeyPatch, status: int, name: str, text: str
):
    monkeypatch.setenv("IMPACTLIB_ELECTRICITYMAPS_KEY", KEY)
    server.status_for = {r"/v3/.*": (status, name)}
    start = datetime(2024, 1, 15, 0, 0, tzinfo=UTC)
    for _ in range(2):
        series = intensity_for(load_config(), "DE", start, start + timedelta(hours=2))
        assert series.source == "static"
        assert series.fallback is not None
        assert f"HTTP {status}" in series.fallback and text in series.fallback
    # A refused key or zone is not an outage: the second attempt asked again.
    assert len(server.requests) == 2


def test_electricitymaps_empty_data(server: ReplayServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("IMPACTLIB_ELECTRICITYMAPS_KEY", KEY)
    server.routes = dict(EM_ROUTES, **{r"/v3/carbon-intensity/past-range": "em_empty.json"})
    start = datetime(2024, 1, 15, 0, 0, tzinfo=UTC)
    series = intensity_for(load_config(), "DE", start, start + timedelta(hours=2))
    assert series.fallback is not None and "no past-range value" in series.fallback


# --- failures, timeouts, caching -------------------------------------------------------------

CASES = [
    ("FR", "rte", T),
    ("GB", "gb", datetime(2024, 1, 15, 12, 0, tzinfo=UTC)),
    ("DE", "electricitymaps", datetime(2024, 1, 15, 0, 0, tzinfo=UTC)),
]
FAILURES = [
    ("hang", "no answer within 0.5 s"),
    ("429", "HTTP 429"),
    ("500", "HTTP 500"),
    ("malformed", "malformed JSON"),
    ("empty", "empty answer"),
]


@pytest.mark.parametrize(("zone", "name", "start"), CASES)
@pytest.mark.parametrize(("mode", "text"), FAILURES)
def test_failures_fall_back_to_static_and_say_why(
    server: ReplayServer,
    monkeypatch: pytest.MonkeyPatch,
    zone: str,
    name: str,
    start: datetime,
    mode: str,
    text: str,
):
    monkeypatch.setenv("IMPACTLIB_ELECTRICITYMAPS_KEY", KEY)
    server.fail = mode
    t0 = time.monotonic()
    series = intensity_for(load_config(), zone, start, start + timedelta(hours=2))
    assert time.monotonic() - t0 < 2.0
    assert series.source == "static"
    assert series.fallback is not None
    assert series.fallback.startswith(f"{name} failed")
    assert text in series.fallback
    assert "static table" in series.fallback
    assert len(server.requests) == 1  # no retry


def test_connection_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    clean_env(monkeypatch, tmp_path)
    monkeypatch.setenv("IMPACTLIB_GB_URL", closed_port_url())
    series = intensity_for(load_config(), "GB", T, T + timedelta(hours=1))
    assert series.fallback is not None and "cannot reach" in series.fallback


def test_failure_is_remembered_across_fetchers(server: ReplayServer):
    server.fail = "500"
    first = intensity_for(load_config(), "GB", T, T + timedelta(hours=1))
    server.fail = None  # recovered, but within the remembered window nobody asks
    for _ in range(3):
        again = intensity_for(load_config(), "GB", T, T + timedelta(hours=1))
        assert again.fallback is not None and "remembered" in again.fallback
    assert first.fallback is not None and "remembered" not in first.fallback
    assert len(server.requests) == 1


def test_retry_after_sets_how_long_a_429_is_remembered(server: ReplayServer, tmp_path: Path):
    server.fail = "429"
    server.retry_after = "42"
    intensity_for(load_config(), "GB", T, T + timedelta(hours=1))
    entries = [json.loads(p.read_text()) for p in (tmp_path / "cache").rglob("*.json")]
    failures = [e for e in entries if "failure" in e]
    assert len(failures) == 1
    assert failures[0]["expires"] - failures[0]["stored"] == pytest.approx(42, abs=1)


def test_answers_are_cached_on_disk_and_shared(server: ReplayServer, tmp_path: Path):
    start = datetime(2024, 1, 15, 12, 0, tzinfo=UTC)
    one = intensity_for(load_config(), "GB", start, start + timedelta(hours=2))
    two = intensity_for(load_config(), "GB", start, start + timedelta(hours=2))
    assert one.points == two.points and one.source == "gb"
    assert len(server.requests) == 1
    files = list((tmp_path / "cache").rglob("*"))
    assert not [f for f in files if f.name.startswith(".tmp-")]  # atomic writes leave no debris


def test_expired_and_corrupt_cache_entries_are_ignored(tmp_path: Path):
    cache = Cache(tmp_path)
    cache.put("a", {"x": 1}, ttl_s=0.05)
    assert cache.get("a") == {"x": 1}
    time.sleep(0.1)
    assert cache.get("a") is None
    cache.put("b", [1, 2], ttl_s=60)
    for path in (tmp_path / "intensity-v1").glob("*.json"):
        path.write_text("{not json")
    assert cache.get("b") is None


def test_unwritable_cache_does_not_break(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cache = Cache(blocker)  # a file where a directory should be
    cache.put("a", 1, ttl_s=60)
    assert cache.get("a") is None


def test_budget_is_shared(server: ReplayServer):
    server.fail = "hang"
    config = load_config({"network_timeout": 5.0})
    shared = Fetcher.from_config(config, Budget(0.6))
    t0 = time.monotonic()
    with pytest.raises(ProviderError, match="no answer"):
        make_source("gb", config, shared).history("GB", T, T + timedelta(hours=1))
    with pytest.raises(ProviderError):
        make_source("rte", config, shared).history("FR", T, T + timedelta(hours=1))
    assert time.monotonic() - t0 < 1.5


def test_import_does_not_load_httpx():
    code = (
        "import sys, impactlib.carbon.select, impactlib.planning.schedule, impactlib.carbon.gb;"
        "print('httpx' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_parallel_processes_share_the_remembered_failure(server: ReplayServer, tmp_path: Path):
    """Sixteen trackers finishing after an outage was seen ask the provider zero more times."""
    import os

    server.fail = "500"
    intensity_for(load_config(), "GB", T, T + timedelta(hours=1))
    assert len(server.requests) == 1
    code = (
        "from datetime import datetime, timedelta, timezone;"
        "from impactlib.carbon.select import intensity_for;"
        "from impactlib.config import load_config;"
        "t = datetime(2024, 1, 15, 16, tzinfo=timezone.utc);"
        "s = intensity_for(load_config(), 'GB', t, t + timedelta(hours=1));"
        "assert s.fallback and 'remembered' in s.fallback, s.fallback"
    )
    env = dict(os.environ)
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env) for _ in range(16)]
    assert [p.wait(timeout=60) for p in procs] == [0] * 16
    assert len(server.requests) == 1
