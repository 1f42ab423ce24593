"""Everyday equivalents of a mass of CO2e (car km, flights, tree-months), with their sources.

A kilogram of CO2e means little to most readers; "as much as driving 6 km" does. The values
are Green Algorithms' ``referenceValues.csv`` (CC BY 4.0), each citing its original source.
Reports use one or two of them in the human summary only, never in the figures table,
because they are rough (a car's g/km varies by a factor of two) and a paper's numbers should
be the measured ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .. import data
from ..units import G_PER_KG, format_number

_TABLE = "referenceValues.csv"
_SOURCE = "Green Algorithms referenceValues.csv"


@dataclass(frozen=True)
class Equivalent:
    """``amount`` units of something that emits the same CO2e; ``source`` cites the factor."""

    key: str
    amount: float
    unit: str
    g_per_unit: float
    source: str

    def text(self) -> str:
        """Human phrase, e.g. ``5.7 km by car``."""
        return f"{format_number(self.amount, 2)} {self.unit}"


# key in referenceValues.csv -> how one unit of it is named, and how many of those units
# the table's unit holds (streaming is tabled per hour and read best in minutes)
_UNITS = {
    "passengerCar_EU_perkm": ("km by car (EU average passenger car)", 1.0),
    "passengerCar_US_perkm": ("km by car (US average passenger vehicle)", 1.0),
    "train_perkm": ("km by train", 1.0),
    "flight_NY-SF": ("economy flights New York - San Francisco", 1.0),
    "flight_PAR-LON": ("economy flights Paris - London", 1.0),
    "tree_month": ("tree-months of CO2 uptake", 1.0),
    "streaming_netflix_perhour": ("minutes of video streaming", 60.0),
}
SMALLEST = 0.1  # below a tenth of the smallest unit, an equivalent says nothing


@lru_cache(maxsize=1)
def reference_values() -> dict[str, tuple[float, str]]:
    """``key -> (gCO2e per unit, source text)`` from the bundled table."""
    out: dict[str, tuple[float, str]] = {}
    for row in data.load_csv(_TABLE, skip_lines=1):
        try:
            out[row["variable"]] = (float(row["value"]), row["source"])
        except (KeyError, ValueError):
            continue
    return out


def equivalent(emissions_kg: float, key: str) -> Equivalent:
    """``emissions_kg`` expressed in units of reference value ``key``."""
    g_per_row, source = reference_values()[key]
    unit, per_row = _UNITS.get(key, (key, 1.0))
    g_per_unit = g_per_row / per_row
    return Equivalent(
        key,
        emissions_kg * G_PER_KG / g_per_unit,
        unit,
        g_per_unit,
        f"{_SOURCE} ({key} = {g_per_row:g} g; {source})",
    )


def pick(emissions_kg: float) -> list[Equivalent]:
    """The one or two equivalents that read best for this amount (sparingly: a flight only
    once it is at least a tenth of one, a car distance only when at least 0.1 km, minutes of
    streaming below that, and nothing for amounts too small to picture)."""
    if emissions_kg <= 0:
        return []
    flight = equivalent(emissions_kg, "flight_NY-SF")
    if flight.amount >= SMALLEST:
        return [flight, equivalent(emissions_kg, "tree_month")]
    car = equivalent(emissions_kg, "passengerCar_EU_perkm")
    if car.amount >= SMALLEST:
        return [car, equivalent(emissions_kg, "tree_month")]
    streaming = equivalent(emissions_kg, "streaming_netflix_perhour")
    return [streaming] if streaming.amount >= SMALLEST else []


def sentence(emissions_kg: float) -> str:
    """``About as much CO2e as ...`` or an empty string for zero emissions."""
    chosen = pick(emissions_kg)
    if not chosen:
        return ""
    return "About as much CO2e as " + " or ".join(e.text() for e in chosen) + "."


def citations(emissions_kg: float) -> list[str]:
    """The sources of the equivalents :func:`sentence` uses for this amount."""
    return [e.source for e in pick(emissions_kg)]
