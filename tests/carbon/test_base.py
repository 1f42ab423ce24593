"""Intensity series: the point in force at an instant, and how far a value may stand in."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from impactlib.carbon.base import IntensityPoint, IntensitySeries

T0 = datetime(2024, 1, 15, 12, 0, tzinfo=timezone.utc)
STEP = timedelta(minutes=30)


def series(*values: float) -> IntensitySeries:
    points = tuple(
        IntensityPoint(T0 + i * STEP, T0 + (i + 1) * STEP, v, "actual")
        for i, v in enumerate(values)
    )
    return IntensitySeries("test", "XX", points[::-1], STEP.total_seconds(), "test basis")


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (timedelta(0), 100.0),
        (STEP - timedelta(seconds=1), 100.0),
        (STEP, 200.0),
        (2 * STEP, 200.0),  # just past the newest value: it still holds for one step
        (3 * STEP, 200.0),
        (-STEP, 100.0),
    ],
)
def test_near_holds_a_value_for_one_step_beyond_the_data(offset: timedelta, expected: float):
    point = series(100.0, 200.0).near(T0 + offset)
    assert point is not None and point.g_per_kwh == expected


@pytest.mark.parametrize("offset", [3 * STEP + timedelta(seconds=1), -STEP - timedelta(seconds=1)])
def test_near_is_none_beyond_one_step_where_at_still_answers(offset: timedelta):
    data = series(100.0, 200.0)
    assert data.near(T0 + offset) is None
    assert data.at(T0 + offset) is not None  # the nearest point, however far


def test_empty_series_has_no_point():
    empty = IntensitySeries("test", "XX", (), 60.0, "test basis")
    assert empty.at(T0) is None and empty.near(T0) is None


@pytest.mark.parametrize(("minutes", "expected"), [(40, 100.0), (80, 300.0)])
def test_at_in_a_hole_takes_the_nearer_neighbour(minutes: int, expected: float):
    holed = IntensitySeries(
        "test",
        "XX",
        (
            IntensityPoint(T0, T0 + STEP, 100.0, "actual"),
            IntensityPoint(T0 + 3 * STEP, T0 + 4 * STEP, 300.0, "actual"),
        ),
        STEP.total_seconds(),
        "test basis",
    )
    point = holed.at(T0 + timedelta(minutes=minutes))
    assert point is not None and point.g_per_kwh == expected
