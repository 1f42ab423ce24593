"""The calibrated platform power of a host without a wall meter, with where it came from.

``impactlib calibrate --wall-watts W`` is given what a wattmeter or the BMC showed at the
server's input while the machine was idle, measures what RAPL, the GPUs and the modelled
lines (memory, a CPU model) drew at that moment, and keeps the difference: the fans, disks,
board and power supply that no meter here sees. Trackers then add a labelled ``platform``
domain at that constant power (:class:`~impactlib.meters.platform.PlatformModelMeter`).
It is kept in the host power model file, beside the domains' fits, with every number it was
made from, so a reader can check it; a new ``--wall-watts`` replaces it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PlatformPower:
    """``watts = wall_w - sum(parts_w)``: the platform's constant power, and its making."""

    watts: float
    wall_w: float  # the reading given to --wall-watts, at idle
    parts_w: Mapping[str, float]  # each metered or modelled domain's power at that moment
    source: str  # where the wall reading came from, in words
    set_at: str  # ISO 8601, UTC

    def describe(self) -> str:
        """One line for a record's note and ``impactlib hardware``."""
        parts = sum(self.parts_w.values())
        return (
            f"{self.wall_w:.1f} W at the wall ({self.source}) minus {parts:.1f} W read by "
            f"the meters and models at that moment, {self.set_at[:10]}"
        )

    def as_json(self) -> dict[str, Any]:
        """The model file's ``platform`` object."""
        return {
            "watts": self.watts,
            "wall_w": self.wall_w,
            "parts_w": dict(self.parts_w),
            "source": self.source,
            "set_at": self.set_at,
        }


def decode_platform(entry: Any) -> PlatformPower:
    """The ``platform`` object of a model file; ``ValueError`` says what is wrong with it."""
    if not isinstance(entry, dict):
        raise ValueError('"platform" is not an object')
    for key in ("watts", "wall_w"):
        _check_watts(f"platform: {key}", entry.get(key))
    parts = entry.get("parts_w")
    if not isinstance(parts, dict):
        raise ValueError("platform: parts_w is not an object")
    for domain, watts in parts.items():
        _check_watts(f"platform: parts_w {domain}", watts)
    texts = {key: entry.get(key) for key in ("source", "set_at")}
    if not all(isinstance(v, str) and v for v in texts.values()):
        raise ValueError("platform: source and set_at must be texts")
    return PlatformPower(
        watts=float(entry["watts"]),
        wall_w=float(entry["wall_w"]),
        parts_w={str(d): float(w) for d, w in parts.items()},
        source=str(texts["source"]),
        set_at=str(texts["set_at"]),
    )


def _check_watts(what: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} is not a number")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} = {value} (must be finite and >= 0)")
