"""Fixtures of the meter tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from impactlib.meters import MeterSet


@pytest.fixture
def opened() -> Iterator[list[MeterSet]]:
    """Meter sets to close after the test."""
    sets: list[MeterSet] = []
    yield sets
    for meters in sets:
        meters.close()
