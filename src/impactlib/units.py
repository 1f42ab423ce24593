"""Exact unit conversions, and the one way numbers are shown to people.

Conversions live here so that no module rounds its own constant. Formatting lives here so
that ``run``'s summary, ``report``'s tables and the paper outputs print the same figure the
same way: a unit chosen by magnitude (mWh ... MWh, mg ... t), three significant digits, never
``0.000000`` for a value that is not zero and never scientific notation, which readers of a
terminal table or a methods section should not have to decode.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

J_PER_KWH = 3.6e6
UJ_PER_J = 1e6
MJ_PER_J = 1e3  # millijoules per joule
G_PER_KG = 1e3
S_PER_H = 3600.0
S_PER_MIN = 60.0
J_PER_WH = 3.6e3
NS_PER_MINUTE = 60_000_000_000
LB_PER_MWH_TO_G_PER_KWH = 0.45359237  # 1 lb = 0.45359237 kg exactly; /MWh -> /kWh cancels
# Not a conversion but a reference value several modules must agree on: the power drawn per GB
# of memory installed (Green Algorithms referenceValues.csv, `memoryPower`), used by the
# tracker's memory model, the `memory_w_per_gb` default and `estimate` alike.
MEMORY_W_PER_GB = 0.3725


def j_to_kwh(energy_j: float) -> float:
    """Joules to kilowatt-hours."""
    return energy_j / J_PER_KWH


class Scale(NamedTuple):
    """One unit of a quantity: its symbol and how many base units (J, kg, s) it holds."""

    symbol: str
    size: float


ENERGY_SCALES = (
    Scale("mWh", J_PER_WH / 1e3),
    Scale("Wh", J_PER_WH),
    Scale("kWh", J_PER_KWH),
    Scale("MWh", J_PER_KWH * 1e3),
)
MASS_SCALES = (Scale("mg", 1e-6), Scale("g", 1 / G_PER_KG), Scale("kg", 1.0), Scale("t", 1e3))
TIME_SCALES = (Scale("s", 1.0), Scale("min", S_PER_MIN), Scale("h", S_PER_H))


def format_number(value: float, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits in plain decimal notation.

    Large values keep all their integer digits, with thousands separators (``12,345``);
    small ones get as many decimals as their significant digits need (``0.000123``);
    trailing zeros are dropped (``4.5``, not ``4.50``).
    """
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    if abs(value) >= 10 ** (digits - 1):
        return f"{value:,.0f}"
    rounded = float(f"{value:.{digits}g}")
    decimals = max(digits - 1 - math.floor(math.log10(abs(rounded))), 0)
    text = f"{rounded:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def scale_for(value: float, scales: Sequence[Scale], digits: int = 3) -> Scale:
    """The largest unit in which ``value`` (in base units) shows as at least 1.

    The comparison is made after rounding, so 999.96 Wh reads ``1 kWh``, not ``1,000 Wh``.
    Values below the smallest unit keep the smallest one (``0.25 mWh``).
    """
    chosen = scales[0]
    for scale in scales[1:]:
        if abs(float(f"{value / scale.size:.{digits}g}")) >= 1:
            chosen = scale
    return chosen


def format_in(value: float, scale: Scale, digits: int = 3) -> str:
    """``value`` (base units) in the given unit, without the symbol (table cells under a
    header that names the unit)."""
    return format_number(value / scale.size, digits)


def format_scaled(value: float, scales: Sequence[Scale], digits: int = 3) -> str:
    """``value`` (base units) with the unit its magnitude calls for, e.g. ``12.3 Wh``."""
    scale = scale_for(value, scales, digits)
    return f"{format_in(value, scale, digits)} {scale.symbol}"


def format_energy_j(energy_j: float) -> str:
    """Joules for people: ``12.3 Wh``, ``0.136 mWh``, ``4.5 kWh``."""
    return format_scaled(energy_j, ENERGY_SCALES)


def format_mass_kg(mass_kg: float) -> str:
    """Kilograms for people: ``4.1 g``, ``0.0644 mg``, ``1.2 t``."""
    return format_scaled(mass_kg, MASS_SCALES)


def format_duration_s(duration_s: float) -> str:
    """Seconds for people: ``0.108 s``, ``12.5 min``, ``3.4 h``."""
    return format_scaled(duration_s, TIME_SCALES)


def format_power_w(power_w: float) -> str:
    """Watts for people: ``10 W``, ``2.88 W``."""
    return f"{format_number(power_w)} W"


def format_share(fraction: float | None) -> str:
    """A share for people: ``85 %``; ``-`` when there is nothing to take a share of."""
    return "-" if fraction is None else f"{fraction:.0%}".replace("%", " %")
