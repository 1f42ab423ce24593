"""Units of work and steady-state windows through the Python API, on a fake powercap tree.

A window is a second accounting view of the run's samples: on the machine scope, with the
CPU package drawing 20 W all along (its idle floor, seen before the window) and the DRAM
drawing 30 W only inside the window, the window's dynamic energy is the DRAM's and its idle
energy 20 W for its duration: figures computed by hand from the powers driven.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from powercap import FakePowercap

import impactlib
from impactlib.report.figures import run_figures
from impactlib.store import RunRecord, open_store

CPU_W, DRAM_W = 20.0, 30.0


def _stored(run_id: str) -> RunRecord:
    record = open_store(impactlib.load_config({})).get_run(run_id)
    assert record is not None
    return record


def test_a_window_splits_its_energy_with_the_runs_floor_and_counts_its_units(
    tmp_path: Path,
) -> None:
    fake = FakePowercap(tmp_path)
    fake.add_package(0, dram=True)
    config = {
        "powercap_root": str(fake.root),
        "country": "FR",
        "scope": "machine",
        "interval": 0.1,
        "pue": 1.5,
    }
    with fake.drive("cpu:package-0", CPU_W), impactlib.track(**config) as t:
        t.count(3, unit="volumes")
        time.sleep(1.3)  # the floors: CPU 20 W, DRAM 0 W over >= 1 s
        with t.window("serve") as window:
            with fake.drive("dram:package-0", DRAM_W) as dram_added:
                for _ in range(5):
                    time.sleep(0.2)
                    t.count(2, unit="requests")
            dram_j = dram_added()
        time.sleep(0.3)

    record = _stored(t.run_id)
    model = record.model or {}
    assert model["units"] == {"volumes": 3, "requests": 10}
    (stored,) = model["windows"]
    assert stored == window.stored() and stored["complete"] is True
    assert stored["units"] == {"requests": 10}
    assert stored["dynamic_j"] == pytest.approx(dram_j, rel=0.05)
    assert stored["idle_j"] == pytest.approx(CPU_W * stored["duration_s"], rel=0.05)
    assert 1.0 <= stored["duration_s"] < record.footprint.duration_s  # type: ignore[union-attr]

    work = run_figures(record).work
    (shown,) = work.windows
    energy_j = (stored["dynamic_j"] + stored["idle_j"]) * 1.5
    assert shown.energy_j == pytest.approx(energy_j, rel=1e-12)
    assert shown.idle_share == pytest.approx(stored["idle_j"] * 1.5 / energy_j, rel=1e-12)
    (per_request,) = shown.units
    assert per_request.energy_j == pytest.approx(energy_j / 10, rel=1e-12)
    assert per_request.dynamic_j == pytest.approx(stored["dynamic_j"] * 1.5 / 10, rel=1e-12)
    assert per_request.idle_j == pytest.approx(stored["idle_j"] * 1.5 / 10, rel=1e-12)
    by_unit = {u.unit: u for u in work.per_unit}
    assert set(by_unit) == {"volumes", "requests"}
    assert by_unit["volumes"].energy_j == pytest.approx(record.footprint.energy_j * 1.5 / 3)  # type: ignore[union-attr]


def test_a_window_open_when_the_run_ends_is_stored_cut_short(tmp_path: Path) -> None:
    t = impactlib.init(powercap_root=str(tmp_path), country="FR", interval=0.05)
    t.start()
    window = t.window("serve").__enter__()
    t.count(4, unit="requests")
    time.sleep(0.2)
    t.stop()
    window.__exit__(None, None, None)  # after the run: nothing more happens
    (stored,) = (_stored(t.run_id).model or {})["windows"]
    assert stored["complete"] is False and stored["units"] == {"requests": 4}


def test_a_window_of_a_tracker_not_started_or_stopped_measures_nothing(tmp_path: Path) -> None:
    t = impactlib.init(powercap_root=str(tmp_path), country="FR", interval=0.05)
    with t.window("before") as early:
        pass
    assert not early.complete
    with t:
        time.sleep(0.05)
    with t.window("after") as late, pytest.warns(UserWarning, match="after the run ended"):
        t.count(1)
    assert not late.complete
    assert "windows" not in (_stored(t.run_id).model or {})
    assert "units" not in (_stored(t.run_id).model or {})


def test_counts_stay_in_memory_until_a_checkpoint_and_whole_numbers_stay_whole(
    tmp_path: Path,
) -> None:
    with impactlib.track(powercap_root=str(tmp_path), country="FR", interval=0.05) as t:
        t.count(2)
        t.count(3)
        t.count(0.5, unit="hours-of-audio")
        t.count(np.int64(1))  # a NumPy count is a number like any other
        assert "units" not in (_stored(t.run_id).model or {})  # no store write per call
        t.flush()  # a checkpoint
        assert (_stored(t.run_id).model or {})["units"] == {"samples": 6, "hours-of-audio": 0.5}
        t.log_metrics(dice=0.9)  # the model field keeps both
    model = _stored(t.run_id).model or {}
    assert model["units"]["samples"] == 6 and isinstance(model["units"]["samples"], int)
    assert model["metrics"] == {"dice": 0.9}


@pytest.mark.parametrize(
    ("n", "unit"),
    [(-1, "samples"), (float("nan"), "samples"), (True, "samples"), ("3", "samples")]
    + [(1, "two words"), (1, ""), (1, "x" * 41), (1, 3)],
)
def test_a_wrong_count_or_unit_raises_at_once(tmp_path: Path, n: object, unit: object) -> None:
    t = impactlib.init(powercap_root=str(tmp_path), country="FR")
    with pytest.raises(ValueError, match="count|unit"):
        t.count(n, unit=unit)  # type: ignore[arg-type]


def test_a_window_needs_a_name(tmp_path: Path) -> None:
    t = impactlib.init(powercap_root=str(tmp_path), country="FR")
    with pytest.raises(ValueError, match="window name"):
        t.window(" ")
