"""The store that keeps a run: a store failing by the run's end never loses the run."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from impactlib.config import load_config
from impactlib.errors import ImpactWarning, StoreError
from impactlib.store import fallback_store_paths, open_store
from impactlib.tracker import Tracker


@pytest.mark.filterwarnings("ignore::impactlib.errors.EstimateWarning")  # no RAPL here
def test_a_store_failing_at_the_end_hands_the_whole_run_to_the_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(
        {
            "powercap_root": str(tmp_path / "none"),
            "country": "FR",
            "interval": 0.05,
            "save_interval": 0.1,
        }
    )
    store = open_store(config)
    tracker = Tracker(config, store=store)
    tracker.start()
    time.sleep(0.5)

    def full(*args: object) -> None:
        raise StoreError("disk full")

    monkeypatch.setattr(store, "checkpoint", full)
    with pytest.warns(ImpactWarning, match="disk full; this run is kept in") as said:
        footprint = tracker.stop()
    assert len([w for w in said if "kept in" in str(w.message)]) == 1
    assert footprint is not None
    fallback = str(fallback_store_paths()[0])
    assert tracker.store_location == fallback  # what a "saved to" line names
    kept = open_store(fallback)
    record = kept.get_run(tracker.run_id)
    assert record is not None and record.status == "completed"
    minutes = kept.series(tracker.run_id)  # its energy, minute by minute
    assert sum(row.energy_j for row in minutes) == pytest.approx(footprint.energy_j, rel=1e-9)
