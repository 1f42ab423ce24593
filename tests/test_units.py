"""Numbers for people: one scale by magnitude, significant digits kept, no scientific notation."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import pytest

from impactlib.units import (
    ENERGY_SCALES,
    MASS_SCALES,
    TIME_SCALES,
    Scale,
    format_duration_s,
    format_energy_j,
    format_mass_kg,
    format_number,
    scale_for,
)

DECADES = [m * 10.0**e for e in range(-9, 13) for m in (1.0, 2.5, 9.99, 3.6)]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (4.5, "4.5"),
        (4.0, "4"),
        (12.34, "12.3"),
        (0.000123456, "0.000123"),
        (999.96, "1,000"),
        (12_345.6, "12,346"),
        (-0.00123, "-0.00123"),
    ],
)
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text


@pytest.mark.parametrize(
    ("joules", "text"),
    [
        (0.48, "0.133 mWh"),
        (3.6, "1 mWh"),
        (3599.9, "1 Wh"),  # rounds up into the next unit rather than "1,000 mWh"
        (44_280.0, "12.3 Wh"),
        (16.2e6, "4.5 kWh"),
        (3.6e12, "1,000 MWh"),
    ],
)
def test_format_energy_by_hand(joules: float, text: str) -> None:
    assert format_energy_j(joules) == text


def test_mass_and_duration_by_hand() -> None:
    assert format_mass_kg(6.44e-8) == "0.0644 mg"
    assert format_mass_kg(0.0041) == "4.1 g"
    assert format_mass_kg(0.252) == "252 g"
    assert format_mass_kg(1234.5) == "1.23 t"
    assert format_duration_s(0.108) == "0.108 s"
    assert format_duration_s(750) == "12.5 min"
    assert format_duration_s(7200) == "2 h"


@pytest.mark.parametrize(
    ("formatter", "scales"),
    [
        (format_energy_j, ENERGY_SCALES),
        (format_mass_kg, MASS_SCALES),
        (format_duration_s, TIME_SCALES),
    ],
)
def test_every_magnitude_reads_back_within_rounding(
    formatter: Callable[[float], str], scales: Sequence[Scale]
) -> None:
    sizes = {s.symbol: s.size for s in scales}
    for value in DECADES:
        text = formatter(value)
        match = re.fullmatch(r"(-?[\d,]+(?:\.\d+)?) (\S+)", text)
        assert match, text  # plain decimal and a unit: no "e-05", no "inf"
        number, unit = float(match[1].replace(",", "")), match[2]
        assert number != 0, text  # never 0.000 for a value that is not zero
        assert number * sizes[unit] == pytest.approx(value, rel=0.005), text
        if unit != scales[0].symbol:
            assert number >= 1, text  # the largest unit in which the figure is at least 1


def test_scale_for_picks_the_largest_unit_at_least_one() -> None:
    assert scale_for(3.5e6, ENERGY_SCALES).symbol == "Wh"
    assert scale_for(3.6e6, ENERGY_SCALES).symbol == "kWh"
    assert scale_for(0.0, MASS_SCALES).symbol == "mg"
