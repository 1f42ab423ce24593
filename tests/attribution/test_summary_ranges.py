"""A run's components get their range where the footprint is built: the method's error
(RAPL: +-5 %) widened by the idle floor's spread, from the power model fit's residual where
the floor came from a fit, applied to the idle energy charged (never for the machine)."""

from __future__ import annotations

from pathlib import Path

import pytest
from attribution.test_window import PACKAGE, Host

from impactlib.attribution.scope import MachineScope, TreeScope
from impactlib.attribution.shares import Floor
from impactlib.attribution.summary import ranged_components
from impactlib.attribution.window import Window
from impactlib.footprint import ComponentEnergy, FloorSource
from impactlib.uncertainty import RAPL_PACKAGE


def _job(host: Host, floor: Floor, *, machine: bool = False) -> Window:
    proc = host.proc.spawn()
    window = host.window(MachineScope() if machine else TreeScope(proc.pid), floor)
    for _ in range(8):
        host.step({proc.pid: 1.0})
    host.close(window)
    return window


def _package(window: Window) -> ComponentEnergy:
    return next(c for c in ranged_components(window) if c.domain == PACKAGE.id)


@pytest.mark.parametrize("spread", [0.02, 0.4])
def test_the_fit_residual_widens_the_idle_share(tmp_path: Path, spread: float) -> None:
    host = Host(tmp_path)
    c = _package(_job(host, Floor(10.0, FloorSource.CALIBRATED, spread)))
    assert c.low_j is not None and c.high_j is not None
    assert c.idle_j > 0 and c.low_j <= c.energy_j <= c.high_j
    low, high = RAPL_PACKAGE.bounds(c.energy_j)
    assert c.high_j - high == pytest.approx(c.idle_j * spread)  # the attribution's share
    assert low - c.low_j == pytest.approx(c.idle_j * spread)


def test_without_a_residual_the_floor_source_decides(tmp_path: Path) -> None:
    host = Host(tmp_path)
    calibrated = _package(_job(host, Floor(10.0, FloorSource.CALIBRATED)))
    host = Host(tmp_path / "other")
    learned = _package(_job(host, Floor(10.0, FloorSource.LEARNED)))
    assert calibrated.low_j is not None and calibrated.high_j is not None
    assert learned.low_j is not None and learned.high_j is not None
    assert calibrated.energy_j == pytest.approx(learned.energy_j)
    assert calibrated.high_j - calibrated.low_j < learned.high_j - learned.low_j


def test_the_whole_machine_pays_every_floor(tmp_path: Path) -> None:
    host = Host(tmp_path)
    c = _package(_job(host, Floor(10.0, FloorSource.OBSERVED, 0.5), machine=True))
    assert (c.low_j, c.high_j) == pytest.approx(RAPL_PACKAGE.bounds(c.energy_j))
