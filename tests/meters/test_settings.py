"""Meter settings: every setting that shapes the meters, and the shared sampler's key."""

from __future__ import annotations

import time
from pathlib import Path

import impactlib
from impactlib.config import load_config
from impactlib.meters import MeterSettings
from impactlib.store import open_store


def _cpu_note(run_id: str) -> str:
    record = open_store(load_config({})).get_run(run_id)
    assert record is not None and record.footprint is not None
    (cpu,) = [c for c in record.footprint.components if c.component == "cpu"]
    return cpu.note


def test_trackers_with_different_tdps_each_record_their_own(tmp_path: Path) -> None:
    """Two trackers in one process, at the same time, differing only in ``cpu_tdp_w``."""
    settings = {"powercap_root": str(tmp_path / "none"), "country": "FR", "interval": 0.05}
    with (
        impactlib.track(cpu_tdp_w=100, **settings) as low,
        impactlib.track(cpu_tdp_w=300, **settings) as high,
    ):
        time.sleep(0.15)
    assert "TDP 100 W from configuration" in _cpu_note(low.run_id)
    assert "TDP 300 W from configuration" in _cpu_note(high.run_id)


def test_the_whole_machine_and_the_daemon_itself_never_ask_the_daemon() -> None:
    tree = load_config({"daemon_socket": "/run/x.sock"})
    machine = load_config({"daemon_socket": "/run/x.sock", "scope": "machine"})
    assert MeterSettings.of(tree).daemon_socket == "/run/x.sock"
    assert MeterSettings.of(machine).daemon_socket is None
    assert MeterSettings.of(tree, via_daemon=False).daemon_socket is None
    assert MeterSettings.of(tree) != MeterSettings.of(machine)


def test_every_setting_of_the_meters_is_in_the_key() -> None:
    base = MeterSettings.of(load_config({}))
    for change in (
        {"cpu_tdp_w": 150},
        {"memory_w_per_gb": 0.5},
        {"powercap_root": "/x"},
        {"procfs_root": "/y"},
        {"interval": 0.5},
        {"save_interval": 30},
        {"daemon_socket": "/z.sock"},
    ):
        assert MeterSettings.of(load_config(change)) != base, change
