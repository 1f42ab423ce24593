"""A tracked run with live intensity: an unreachable or hanging provider costs seconds, and
the record names the fallback; ``report --reprice`` prices stored runs again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from replay_server import ReplayServer, closed_port_url

import impactlib
from impactlib.store import open_store


def _tracked_run(tmp_path: Path, rte_url: str) -> tuple[impactlib.Tracker, float]:
    tracker = impactlib.init(
        powercap_root=str(tmp_path / "none"),
        country="FR",
        intensity_source="auto",
        rte_url=rte_url,
        cache_dir=str(tmp_path / "cache"),
        network_timeout=1.0,
    )
    tracker.start()
    sum(range(2_000_000))
    time.sleep(0.3)
    stopping = time.monotonic()
    tracker.stop()
    return tracker, time.monotonic() - stopping


@pytest.mark.parametrize("mode", ["closed", "hang"])
def test_unreachable_provider_falls_back_within_seconds(tmp_path: Path, mode: str) -> None:
    if mode == "closed":
        tracker, stop_s = _tracked_run(tmp_path, closed_port_url())
    else:
        with ReplayServer() as server:
            server.fail = "hang"
            server.hang_s = 30.0
            tracker, stop_s = _tracked_run(tmp_path, server.url)
    assert stop_s < 5.0
    fp = tracker.footprint
    assert fp is not None and fp.carbon is not None
    assert fp.carbon.source == "static" and fp.carbon.fallback
    assert "rte" in fp.carbon.fallback.lower()
    assert tracker.carbon_emissions > 0
    record = open_store(os.environ["IMPACTLIB_STORE"]).get_run(tracker.run_id)
    assert record is not None and record.footprint is not None
    assert (
        record.footprint.carbon is not None
        and record.footprint.carbon.fallback == fp.carbon.fallback
    )


def test_report_reprice_uses_better_data_when_it_exists(tmp_path: Path) -> None:
    tracker, _ = _tracked_run(tmp_path, closed_port_url())  # offline run: static price
    before = tracker.footprint
    assert before is not None and before.carbon is not None and before.carbon.source == "static"
    minute = before.started_at[:16]

    def rows(path: str, query: dict[str, list[str]]) -> dict[str, object]:
        start = f"{minute}:00+00:00"
        return {"total_count": 1, "results": [{"date_heure": start, "taux_co2": 20}]}

    with ReplayServer({r"/api/explore/v2\.1/catalog/datasets/.*/records": rows}) as server:
        env = {
            **os.environ,
            "IMPACTLIB_RTE_URL": server.url,
            "IMPACTLIB_INTENSITY_SOURCE": "auto",
            "IMPACTLIB_CACHE_DIR": str(tmp_path / "cache2"),
        }
        out = subprocess.run(
            [sys.executable, "-m", "impactlib.cli.main", "report", "--reprice", "--format", "json"],
            env=env,
            capture_output=True,
            text=True,
        )
    assert out.returncode == 0, out.stderr
    [run] = json.loads(out.stdout)
    assert run["carbon"]["source"] != "static"
    assert run["emissions_kg"] == pytest.approx(run["energy_kwh"] * 20 / 1000, rel=0.05)
    stored = open_store(os.environ["IMPACTLIB_STORE"]).get_run(tracker.run_id)
    assert stored is not None and stored.footprint is not None
    assert stored.footprint.emissions_kg == pytest.approx(run["emissions_kg"])
