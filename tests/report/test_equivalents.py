"""Everyday equivalents: by hand from the bundled table, and none for amounts too small."""

from __future__ import annotations

import pytest

from impactlib.report import equivalents


def test_equivalents_by_hand() -> None:
    # 1 kg = 1000 g: 1000/175 km by car, 1000/917 tree-months, 1000/570000 NY-SF flights
    car = equivalents.equivalent(1.0, "passengerCar_EU_perkm")
    assert car.amount == pytest.approx(5.7142857)
    assert equivalents.equivalent(1.0, "tree_month").amount == pytest.approx(1.0905125)
    assert equivalents.equivalent(570.0, "flight_NY-SF").amount == pytest.approx(1.0)
    assert equivalents.sentence(1.0) == (
        "About as much CO2e as 5.7 km by car (EU average passenger car) or "
        "1.1 tree-months of CO2 uptake."
    )
    assert "flights New York - San Francisco" in equivalents.sentence(100.0)
    assert "carbonfootprint" in equivalents.citations(100.0)[0]


def test_small_amounts_in_minutes_of_streaming_then_nothing() -> None:
    # streaming is tabled at 36 g per hour: 1 g is 1.7 minutes
    assert equivalents.sentence(0.001) == "About as much CO2e as 1.7 minutes of video streaming."
    # 4.6 mg is 0.0077 minutes: nothing a reader can picture, and no "4.6e-05"
    assert equivalents.sentence(4.6e-6) == ""
    assert equivalents.citations(4.6e-6) == []
    assert equivalents.sentence(0.0) == ""
