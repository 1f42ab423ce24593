"""The platform's range is the wall's (issue 18): a host drawing 100 W at the wall with 40 W
of RAPL, tracked for the whole machine, records a platform component whose range holds the
wall meter's error on the whole wall (not on the 60 W remainder alone), and whose parts'
ranges added hold the wall's own."""

from __future__ import annotations

import time
from pathlib import Path

from e2e.test_platform_balance import RecordingWall, host, settings, wall  # noqa: F401
from fakelab import ScriptedHost

from impactlib.footprint import Component
from impactlib.meters.platform import PLATFORM_ID
from impactlib.tracker import Tracker
from impactlib.uncertainty import method_error


def test_the_platform_range_carries_the_wall_error(
    host: ScriptedHost,  # noqa: F811
    wall: RecordingWall,  # noqa: F811
    tmp_path: Path,
) -> None:
    tracker = Tracker(settings(host, tmp_path, scope="machine"))
    tracker.start()
    time.sleep(2.0)
    footprint = tracker.stop()
    assert footprint is not None
    platform = next(c for c in footprint.components if c.domain == PLATFORM_ID)
    assert platform.low_j is not None and platform.high_j is not None
    assert platform.low_j <= platform.energy_j <= platform.high_j
    wall_j = sum(c.domain_j for c in footprint.components)  # the parts add up to the wall
    error = method_error(platform.method, Component.PLATFORM)
    wall_low, wall_high = error.bounds(wall_j)
    assert platform.high_j - platform.low_j >= (wall_high - wall_low) * (1 - 1e-9)
    lows = sum(c.low_j or 0.0 for c in footprint.components)
    highs = sum(c.high_j or 0.0 for c in footprint.components)
    assert lows <= wall_low * (1 + 1e-9) and highs >= wall_high * (1 - 1e-9)
    assert footprint.quality_class is not None
    assert footprint.emissions_low_kg is not None and footprint.emissions_high_kg is not None
    assert footprint.emissions_low_kg <= footprint.emissions_kg <= footprint.emissions_high_kg
