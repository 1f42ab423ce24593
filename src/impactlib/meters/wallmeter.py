"""The interface every wall sensor implements (:mod:`.hwmon`, :mod:`.ipmi`, :mod:`.redfish`).

Kept apart from :mod:`.wall` (the sampler that polls one, and the choice of one) so that the
sensors import the interface and :mod:`.wall` imports the sensors without an import circle.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import NamedTuple

from ..footprint import Method

WALL = "wall power"  # the meter name in MeterUnavailable and in diagnostics


class WallReading(NamedTuple):
    """One reading of a wall sensor: the power, and when it was taken (``time.monotonic``)."""

    watts: float
    monotonic_s: float


class WallMeter(ABC):
    """A sensor of the whole server's input power.

    ``method`` is the word records carry (hwmon, IPMI DCMI, Redfish); ``note`` names the sensor
    (file, command or URL, never a credential) for the record's provenance; ``period_s`` is how
    often the sensor is worth reading (its own averaging interval or the BMC's pace).
    """

    method: Method
    note: str
    period_s: float
    # The accuracy the sensor states for itself, in percent of the reading (the ACPI power
    # meter's ``power1_accuracy``: 95.0 means within 5 %); None where it states none.
    accuracy_percent: float | None = None

    @abstractmethod
    def read_power(self) -> WallReading | None:
        """One reading now (may block for as long as the sensor takes); ``None`` when this
        reading failed (a gap: the integral bridges it). Never raises for a transient failure."""

    def diagnostics(self) -> list[str]:
        """What went wrong while reading (failed reads, implausible values): one line each."""
        return []

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release a session or a file descriptor."""
