"""The interface every wall sensor implements (:mod:`.hwmon`, :mod:`.ipmi`, :mod:`.redfish`),
and what they share: failed readings counted by cause, a reading timed as it was taken.

Kept apart from :mod:`.wall` (the sampler that polls one, and the choice of one) so that the
sensors import the interface and :mod:`.wall` imports the sensors without an import circle.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import NamedTuple

from ..footprint import Method
from .base import plural

WALL = "wall power"  # the meter name in MeterUnavailable and in diagnostics


class WallReading(NamedTuple):
    """One reading of a wall sensor: the power, and when it was taken (``time.monotonic``)."""

    watts: float
    monotonic_s: float


class ReadFailed(Exception):
    """One failed reading, with its cause in a few words (what :class:`FailedReadings`
    counts)."""


class FailedReadings:
    """A sensor's failed readings, counted by cause: its diagnostics, one line per cause.

    ``sensor`` names the sensor in those lines (its file, its protocol and address)."""

    def __init__(self, sensor: str) -> None:
        self.sensor = sensor
        self.by_cause: dict[str, int] = {}

    def count(self, cause: str) -> None:
        """One more reading failed for ``cause``."""
        self.by_cause[cause] = self.by_cause.get(cause, 0) + 1

    def lines(self) -> list[str]:
        """One line per cause (from a copy: the polling thread may be adding one)."""
        return [
            f"{WALL} ({self.sensor}): {plural(n, 'reading')} failed: {cause}"
            for cause, n in list(self.by_cause.items())
        ]


def timed_reading(read: Callable[[], float], failures: FailedReadings) -> WallReading | None:
    """The watts ``read()`` gives, taken at the middle of the time it took (a BMC may take a
    second to answer); None, counted in ``failures``, where it raises :class:`ReadFailed`."""
    start = time.monotonic()
    try:
        watts = read()
    except ReadFailed as exc:
        failures.count(str(exc))
        return None
    return WallReading(watts, (start + time.monotonic()) / 2)


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
