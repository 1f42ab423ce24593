"""The meter interface and the one counter-integration helper every meter uses.

A meter reports *cumulative* energy in joules per domain since it was opened. Hardware
counters wrap (RAPL's 32-bit registers scaled to ``max_energy_range_uj``) or reset (NVML's
64-bit counter after a driver reload); :class:`CounterAccumulator` turns any such raw
counter into a monotonic total, so no other module ever sees a wrap.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, cast

from ..footprint import Component, Container, Extent, FloorSource, Method, Quality, words
from ..procfs import MachineCpu
from .mig import MigDevice


class ServedFloor(NamedTuple):
    """The idle floor the daemon split a domain with, and where it came from."""

    watts: float
    source: FloorSource


@dataclass(frozen=True)
class Domain:
    """One energy domain a meter reads, with the provenance every figure must carry.

    ``id`` is stable and human readable: ``cpu:package-0``, ``dram:package-1``,
    ``cpu:psys``, ``gpu:GPU-8932f937-...``, ``cpu:model``, ``memory:model``.
    ``extent`` is ``machine`` (a whole socket or board) or ``device`` (one accelerator).
    ``note`` names the meter file or the model and its constants with their sources.
    """

    id: str
    component: Component
    method: Method
    extent: Extent
    # attributed: measured and already split to this process tree by the daemon
    quality: Quality
    note: str = ""
    # The accuracy the sensor states, in percent of the reading (hwmon's power1_accuracy,
    # "95.0%" -> 95.0): the component's range then follows it (impactlib.uncertainty).
    accuracy_percent: float | None = None

    def __post_init__(self) -> None:
        words(self, component=Component, method=Method, extent=Extent, quality=Quality)


class Tick(NamedTuple):
    """When a capture was taken, and the machine's CPU counters at that moment (the
    estimation models need nothing else)."""

    monotonic_s: float
    machine: MachineCpu | None


class Meter(ABC):
    """A source of cumulative energy for one or more domains.

    Reading is split in two so the sampler's tick stays cheap: :meth:`capture` runs at
    the tick and only copies what changes (a counter file's bytes, a library's reading);
    :meth:`decode` turns a capture into joules later, called once per capture and in
    capture order (accumulators unwrap counters there). A meter with nothing to defer
    keeps the defaults: it reads at capture time and its capture *is* the answer.
    """

    name: str = "meter"
    # False: decode needs only the tick (the estimation models), so the sampler does not
    # call capture at all; one call fewer per meter and second on the hot path.
    reads_at_tick: bool = True

    @abstractmethod
    def domains(self) -> Sequence[Domain]:
        """The domains this meter reports (fixed for its lifetime)."""

    @abstractmethod
    def read_energy_j(self) -> Mapping[str, float]:
        """Cumulative joules per domain id since the meter was opened.

        A domain missing from the answer could not be read this time (a gap); the caller
        records the gap and keeps going. Implementations never raise for a transient
        failure, so a hardware hiccup cannot kill the user's program.
        """

    def capture(self) -> object:
        """What :meth:`decode` needs, read now (never raises for a transient failure)."""
        return self.read_energy_j()

    def decode(self, captured: object, tick: Tick) -> Mapping[str, float]:
        """Cumulative joules per domain of one capture taken at ``tick`` (same contract as
        :meth:`read_energy_j`)."""
        return cast(Mapping[str, float], captured)

    # -- optional capabilities: declared here, so callers never probe with getattr ------
    def device_names(self) -> Mapping[str, str]:
        """Product name per device domain (``gpu:<UUID>`` -> ``NVIDIA A100-SXM4-40GB``)."""
        return {}

    def process_weights(self) -> Mapping[str, Mapping[int, float]]:
        """Per device domain, each process's recent utilisation samples (pid -> weight):
        how a shared device is split. Slow on real drivers: called every few seconds."""
        return {}

    def mig_devices(self) -> Mapping[str, MigDevice]:
        """Per device domain in MIG mode, its instances since the previous call (sizes,
        activity, processes): how its energy is split instead of :meth:`process_weights`.
        Slow on real drivers: called every few seconds, right after it."""
        return {}

    def served_floors(self) -> Mapping[str, ServedFloor]:
        """Per attributed domain, the idle floor the daemon split it with in its latest
        answer: the tracker's own floor splits nothing there, so a record must name the
        daemon's, as it stands when the record is written (empty for every other meter)."""
        return {}

    def idle_power_w(self) -> float | None:
        """The idle power an estimation model assumes for its domains (None: measured)."""
        return None

    def container(self) -> Container | None:
        """The container the measured process runs in, where this meter was told by someone
        who sees it (the daemon, outside the container's cgroup namespace)."""
        return None

    def diagnostics(self) -> list[str]:
        """What went wrong or was worked around while reading (counter wraps and resets,
        gaps, driver warnings): one line each, for the record and ``impactlib hardware``."""
        return []

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release file descriptors or library handles."""


class CounterAccumulator:
    """Monotonic total from a raw counter that may wrap or reset.

    With ``wrap_range`` (the counter's modulus, e.g. RAPL ``max_energy_range_uj``) a
    decrease is one wrap: ``delta = cur + range - prev``. Without it (64-bit counters) a
    decrease is a reset: the interval is dropped, counted in ``resets``, and the new value
    becomes the baseline.
    """

    __slots__ = ("wrap_range", "_prev", "total", "wraps", "resets")

    def __init__(self, wrap_range: float | None = None) -> None:
        self.wrap_range = wrap_range
        self._prev: float | None = None
        self.total = 0.0
        self.wraps = 0
        self.resets = 0

    def update(self, raw: float) -> float:
        """Feed the latest raw reading; return the accumulated total (raw units)."""
        prev = self._prev
        self._prev = raw
        if prev is None:
            return self.total
        if raw >= prev:
            self.total += raw - prev
        elif self.wrap_range:
            self.total += raw + self.wrap_range - prev
            self.wraps += 1
        else:
            self.resets += 1
        return self.total


def counter_diagnostics(
    label: str, counter: CounterAccumulator, failed_reads: int, reset_cause: str
) -> list[str]:
    """What happened to one domain's energy counter, one plain line per kind of event.

    Wraps lose nothing (they are unwrapped) but are worth knowing; a failed read loses
    nothing either, because the next reading of the counter covers the interval; a reset
    loses the energy of the interval it fell in, since nothing tells how far the counter
    went before starting again. ``reset_cause`` says why a counter may go back.
    """
    lines = []
    if counter.wraps:
        lines.append(
            f"{label}: the energy counter wrapped around {_times(counter.wraps)}; "
            "each wrap was accounted for, so no energy was lost"
        )
    if counter.resets:
        lines.append(
            f"{label}: the energy counter went backwards {_times(counter.resets)} "
            f"({reset_cause}); the energy of {plural(counter.resets, 'sampling interval')} "
            "was not counted"
        )
    if failed_reads:
        lines.append(
            f"{label}: {plural(failed_reads, 'reading')} failed; the next reading of the "
            "counter covered the missed time, so no energy was lost"
        )
    return lines


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def plural(n: int, noun: str) -> str:
    """``1 reading``, ``3 readings``: counts in diagnostics read as prose."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
