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
from typing import Literal, NamedTuple, cast

from ..procfs import MachineCpu

Component = Literal["cpu", "dram", "gpu", "memory"]
Quality = Literal["measured", "attributed", "estimated"]


@dataclass(frozen=True)
class Domain:
    """One energy domain a meter reads, with the provenance every figure must carry.

    ``id`` is stable and human readable: ``cpu:package-0``, ``dram:package-1``,
    ``cpu:psys``, ``gpu:GPU-8932f937-...``, ``cpu:model``, ``memory:model``.
    ``scope`` is ``machine`` (a whole socket or board) or ``device`` (one accelerator).
    ``note`` names the meter file or the model and its constants with their sources.
    """

    id: str
    component: Component
    method: str
    scope: Literal["machine", "device"]
    quality: Literal["measured", "estimated"]
    note: str = ""


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

    def idle_power_w(self) -> float | None:
        """The idle power an estimation model assumes for its domains (None: measured)."""
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
    becomes the baseline. ``max_delta`` rejects impossible jumps (recorded as ``gaps``).
    """

    __slots__ = ("wrap_range", "max_delta", "_prev", "total", "wraps", "resets", "gaps")

    def __init__(self, wrap_range: float | None = None, max_delta: float | None = None) -> None:
        self.wrap_range = wrap_range
        self.max_delta = max_delta
        self._prev: float | None = None
        self.total = 0.0
        self.wraps = 0
        self.resets = 0
        self.gaps = 0

    def update(self, raw: float) -> float:
        """Feed the latest raw reading; return the accumulated total (raw units)."""
        prev = self._prev
        self._prev = raw
        if prev is None:
            return self.total
        if raw >= prev:
            delta = raw - prev
        elif self.wrap_range:
            delta = raw + self.wrap_range - prev
            self.wraps += 1
        else:
            self.resets += 1
            return self.total
        if self.max_delta is not None and delta > self.max_delta:
            self.gaps += 1
            return self.total
        self.total += delta
        return self.total
