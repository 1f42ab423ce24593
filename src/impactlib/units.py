"""Exact unit conversions, in one place so that no module rounds its own constant."""

from __future__ import annotations

J_PER_KWH = 3.6e6
UJ_PER_J = 1e6
MJ_PER_J = 1e3  # millijoules per joule
G_PER_KG = 1e3
S_PER_H = 3600.0
LB_PER_MWH_TO_G_PER_KWH = 0.45359237  # 1 lb = 0.45359237 kg exactly; /MWh -> /kWh cancels


def j_to_kwh(energy_j: float) -> float:
    """Joules to kilowatt-hours."""
    return energy_j / J_PER_KWH


def kwh_to_j(energy_kwh: float) -> float:
    """Kilowatt-hours to joules."""
    return energy_kwh * J_PER_KWH
