"""A run's machine energy against a reference power series (a wattmeter, the BMC).

Why: RAPL and NVML see CPU packages, DRAM and GPUs, not fans, disks, the board or the power
supply's losses, and every tracker's figure may be far from the wall. A lab that has a
wattmeter (or a BMC that reads the wall) can say how far, per host: this module reads the
reference series, integrates it over the run, and compares it with the energy the run's
meters saw.

**The reference series** is a CSV text file of two columns, ``timestamp,watts``, one reading
a line, times strictly increasing; an optional header line (any text whose second field is
not a number); blank lines and ``#`` comments ignored. A timestamp is epoch seconds (a
number) or ISO 8601 (``2026-12-07T10:00:00Z``, ``2026-12-07 10:00:00+01:00``); ISO 8601
without an offset is read as this machine's local time, and said so. Watts are finite and
not negative. Anything else is refused in one line naming the line.

**The reference energy** is the trapezoid integral of the series over the run's interval
(readings on either side of an end interpolated at it). Two consecutive readings more than
:data:`MAX_GAP_STEPS` median steps apart leave a gap: it is not covered. Coverage is the
covered share of the run; below :data:`MIN_COVERAGE` the comparison is refused. Short of
full coverage, the reference energy is the covered mean power times the run's duration, and
the output says how much was covered.

**The machine energy** of a run is the energy of what its meters (or models) saw, not its
charged share: the sum of ``domain_j`` over its components whose extent is the machine (CPU
packages, DRAM, a platform domain from a wall meter, a memory model) or a device (each GPU),
without PUE. A component whose extent is a scheduler's allocation is not the machine and is
left out. With a wall meter's platform domain, that sum is the wall.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from ..errors import UsageError
from ..footprint import Extent, Footprint, Quality

MIN_COVERAGE = 0.9  # a reference covering less of the run is refused
MAX_GAP_STEPS = 5.0  # readings further apart than this many median steps leave a gap
SHAPE = "two columns, timestamp,watts (see docs/validation.md)"
MACHINE_EXTENTS = (Extent.MACHINE, Extent.DEVICE)


class Reading(NamedTuple):
    """One reading of the reference: when (epoch seconds) and its power."""

    at_s: float
    watts: float


@dataclass(frozen=True)
class ReferenceSeries:
    """A reference power series as read from its file."""

    name: str  # the file's name
    readings: tuple[Reading, ...]
    local_time: bool  # some timestamps had no offset and were read as local time


@dataclass(frozen=True)
class ReferenceEnergy:
    """The reference's energy over a run, and how much of the run it covered."""

    energy_j: float
    covered_s: float
    duration_s: float
    readings: int  # readings inside the run's interval

    @property
    def coverage(self) -> float:
        """The share of the run the series covers (0 to 1)."""
        return self.covered_s / self.duration_s if self.duration_s > 0 else 0.0


@dataclass(frozen=True)
class DomainEnergy:
    """One domain counted in the machine energy."""

    domain: str
    method: str
    quality: Quality
    energy_j: float


@dataclass(frozen=True)
class MachineEnergy:
    """What a run's meters (and models) saw of the machine, by domain, without PUE."""

    domains: tuple[DomainEnergy, ...]

    @property
    def energy_j(self) -> float:
        return sum(d.energy_j for d in self.domains)

    @property
    def estimated(self) -> tuple[str, ...]:
        """The domains a model gave, not a meter."""
        return tuple(d.domain for d in self.domains if not d.quality.metered)


@dataclass(frozen=True)
class Comparison:
    """A run's machine energy against the reference's."""

    reference_j: float
    measured_j: float

    @property
    def error(self) -> float:
        """(measured - reference) / reference: negative when the meters saw less."""
        return (self.measured_j - self.reference_j) / self.reference_j

    @property
    def host_factor(self) -> float:
        """reference / measured: what the measured energy is multiplied by to reach the
        reference's."""
        return self.reference_j / self.measured_j


# --- reading ---------------------------------------------------------------------------------


def read_series(path: Path) -> ReferenceSeries:
    """The series in ``path``; :class:`UsageError` naming the line when it is not one."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise UsageError(f"{path}: no such file; give the reference series' path") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot be read ({exc}); it must be a CSV text file") from exc
    readings: list[Reading] = []
    local = False
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        cells = [c.strip() for c in row]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        where = f"{path.name} line {number}"
        if len(cells) != 2:
            raise UsageError(f"{where}: {len(cells)} columns; a reference has {SHAPE}")
        if not readings and _number(cells[1]) is None:
            continue  # the header
        at_s, naive = _timestamp(cells[0], where)
        local = local or naive
        watts = _number(cells[1])
        if watts is None or watts < 0:
            raise UsageError(f"{where}: {cells[1]!r} is not a power in watts (a number >= 0)")
        if readings and at_s <= readings[-1].at_s:
            raise UsageError(f"{where}: time does not increase; sort the readings by time")
        readings.append(Reading(at_s, watts))
    if len(readings) < 2:
        raise UsageError(f"{path.name}: {len(readings)} readings; a reference has {SHAPE}")
    return ReferenceSeries(path.name, tuple(readings), local)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


EPOCH_RANGE_S = (946_684_800.0, 4_102_444_800.0)  # 2000-01-01 to 2100-01-01


def _timestamp(text: str, where: str) -> tuple[float, bool]:
    """Epoch seconds, and whether the text had no offset (read as local time)."""
    number = _number(text)
    if number is not None:
        if not EPOCH_RANGE_S[0] <= number <= EPOCH_RANGE_S[1]:
            raise UsageError(
                f"{where}: {text} is not epoch seconds between 2000 and 2100 "
                "(milliseconds? divide by 1000)"
            )
        return number, False
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise UsageError(f"{where}: {text!r} is not a time; use epoch seconds or ISO 8601") from exc
    return when.timestamp(), when.tzinfo is None  # naive: the local time of this machine


# --- integrating -----------------------------------------------------------------------------


def energy_over(series: ReferenceSeries, start_s: float, end_s: float) -> ReferenceEnergy:
    """The series' energy over ``[start_s, end_s]`` (epoch seconds), by the module's rule."""
    readings = series.readings
    duration = end_s - start_s
    pairs = list(zip(readings, readings[1:], strict=False))  # each reading and the next
    steps = sorted(b.at_s - a.at_s for a, b in pairs)
    max_gap = MAX_GAP_STEPS * steps[len(steps) // 2]
    energy = covered = 0.0
    for a, b in pairs:
        if b.at_s - a.at_s > max_gap or b.at_s <= start_s or a.at_s >= end_s:
            continue
        lo, hi = max(a.at_s, start_s), min(b.at_s, end_s)
        energy += (hi - lo) * (_at(a, b, lo) + _at(a, b, hi)) / 2.0
        covered += hi - lo
    inside = sum(1 for r in readings if start_s <= r.at_s <= end_s)
    if covered <= 0:
        return ReferenceEnergy(0.0, 0.0, duration, inside)
    # The covered mean power over the uncovered rest (nothing to add under full coverage).
    return ReferenceEnergy(energy / covered * duration, covered, duration, inside)


def _at(a: Reading, b: Reading, t: float) -> float:
    """The power at ``t`` between readings ``a`` and ``b``, interpolated linearly."""
    return a.watts + (b.watts - a.watts) * (t - a.at_s) / (b.at_s - a.at_s)


# --- the run's side --------------------------------------------------------------------------


def machine_energy(fp: Footprint) -> MachineEnergy:
    """The run's machine energy (module docstring): its machine and device domains."""
    return MachineEnergy(
        tuple(
            DomainEnergy(c.domain, str(c.method), c.quality, c.domain_j)
            for c in fp.components
            if c.extent in MACHINE_EXTENTS
        )
    )


def compare(reference: ReferenceEnergy, machine: MachineEnergy) -> Comparison:
    """The comparison; :class:`UsageError` when either side has nothing to compare."""
    if reference.coverage < MIN_COVERAGE:
        raise UsageError(
            f"the reference covers {reference.coverage:.1%} of the run (needs "
            f"{MIN_COVERAGE:.0%}): export the wattmeter's series over the whole run"
        )
    if machine.energy_j <= 0:
        raise UsageError("the run's meters saw no machine energy: nothing to compare")
    if reference.energy_j <= 0:
        raise UsageError("the reference reads 0 W over the run: nothing to compare")
    return Comparison(reference.energy_j, machine.energy_j)


def domains_texts(domains: Sequence[DomainEnergy]) -> list[str]:
    """``["cpu:package-0 (rapl)", "gpu:0 (nvml-energy)"]``."""
    return [f"{d.domain} ({d.method})" for d in domains]
