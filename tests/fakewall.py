"""A wall sensor's integral for tests: what a :class:`~impactlib.meters.wall.WallSampler`
gives the platform balance (``energy_j_at``), scripted by the test.

The balance asks the wall's cumulative joules at each tick; here they come from a callable
(a counter the test advances, or a fake host's own wall, which moves under the same lock as
its RAPL counter, so both sides of the balance agree exactly at any moment). The
hardware-level fake (an hwmon tree whose ``power1_average`` follows the script) is
:class:`fakelab.ScriptedHost`'s ``wall_beyond_w``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from impactlib.footprint import Method


class ScriptedWall:
    """A wall integral that answers ``energy()`` at any moment (None: no reading yet)."""

    method = Method.HWMON
    note = "scripted wall sensor (tests)"
    accuracy_percent: float | None = None  # states none: the platform range uses the default

    def __init__(self, energy: Callable[[], float | None]) -> None:
        self.energy = energy
        self.closed = False
        self.asked = 0

    def energy_j_at(self, monotonic_s: float) -> float | None:
        self.asked += 1
        return self.energy()

    def diagnostics(self) -> list[str]:
        return []

    def close(self) -> None:
        self.closed = True


class WallCounter:
    """A wall whose cumulative joules the test advances by hand."""

    def __init__(self) -> None:
        self.joules = 0.0

    def advance(self, joules: float) -> None:
        self.joules += joules

    def wall(self) -> ScriptedWall:
        return ScriptedWall(lambda: self.joules)


def use_wall(monkeypatch: pytest.MonkeyPatch, wall: ScriptedWall) -> None:
    """Meter sets opened from now on find ``wall`` as their wall meter."""
    monkeypatch.setattr("impactlib.meters.wall.open_wall_sampler", lambda settings: wall)
