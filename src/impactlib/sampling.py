"""The sampler: one background thread per process that reads every meter at a fixed interval.

Every tracker in the process subscribes to the same sampler (nested and concurrent trackers
share it), so the hardware is read once per tick however many trackers there are. Each tick
is stamped with ``monotonic_ns`` (for intervals: immune to NTP jumps) and UTC wall time (to
line energy up with carbon intensity).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from .config import Config
from .errors import MeterUnavailable
from .meters.base import Domain, Meter
from .processes import MachineCpu, MachineCpuReader

log = logging.getLogger("impactlib")


class Sample(NamedTuple):
    """One reading of every meter and of the machine's CPU time."""

    monotonic_ns: int
    wall_ns: int
    energy_j: Mapping[str, float]  # cumulative per domain; a missing domain is a gap
    machine: MachineCpu | None


@dataclass
class MeterSet:
    """The meters opened for this machine, and why the others could not be."""

    meters: list[Meter]
    machine: MachineCpuReader
    unavailable: list[MeterUnavailable] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def domains(self) -> list[Domain]:
        """Every domain of every meter."""
        return [d for m in self.meters for d in m.domains()]

    def known_floors_w(self) -> dict[str, float]:
        """Idle power the estimation models know for their own domains."""
        out: dict[str, float] = {}
        for meter in self.meters:
            idle = getattr(meter, "idle_power_w", None)
            if callable(idle):
                for d in meter.domains():
                    out[d.id] = float(idle())
        return out

    def close(self) -> None:
        """Close every meter."""
        for meter in self.meters:
            meter.close()
        self.machine.close()


def open_meters(config: Config) -> MeterSet:
    """Open every meter that works here; fall back to labelled models for CPU and memory."""
    from .meters.model import CpuModelMeter, MemoryModelMeter

    found = MeterSet(meters=[], machine=MachineCpuReader(config.procfs_root))
    rapl = _try(found, _open_rapl, config)
    has_dram = False
    if rapl is not None:
        has_dram = any(d.component == "dram" for d in rapl.domains())
    else:
        reason = found.unavailable[-1].reason if found.unavailable else "no RAPL meter"
        found.meters.append(
            CpuModelMeter(config.procfs_root, config.cpu_tdp_w, reason, found.machine)
        )
        found.notes.append(
            f"CPU energy is estimated: {found.unavailable[-1]}" if found.unavailable else reason
        )
    if not has_dram:
        found.meters.append(MemoryModelMeter(config.procfs_root, config.memory_w_per_gb))
    _try(found, _open_nvidia, config)
    _try(found, _open_amd, config)
    return found


def _open_rapl(config: Config) -> Meter:
    from .meters.rapl import RaplMeter

    return RaplMeter(config.powercap_root)


def _open_nvidia(config: Config) -> Meter:
    from .meters.nvidia import NvidiaMeter

    return NvidiaMeter()


def _open_amd(config: Config) -> Meter:
    from .meters.amd import AmdMeter

    return AmdMeter()


def _try(found: MeterSet, opener: Callable[[Config], Meter], config: Config) -> Meter | None:
    try:
        meter = opener(config)
    except MeterUnavailable as exc:
        found.unavailable.append(exc)
        return None
    except Exception as exc:  # a broken driver must not stop the user's program
        name = opener.__name__.removeprefix("_open_")
        found.unavailable.append(MeterUnavailable(name, f"failed to open ({exc!r})"))
        return None
    found.meters.append(meter)
    return meter


Listener = Callable[[Sample], None]


class Sampler:
    """Reads a :class:`MeterSet` every ``interval_s`` seconds in a daemon thread."""

    def __init__(self, meters: MeterSet, interval_s: float) -> None:
        self.meters = meters
        self.interval_s = interval_s
        self._cpu = meters.machine
        self._listeners: list[Listener] = []
        self._lock = threading.RLock()
        self._stop: threading.Event | None = None

    def read(self) -> Sample:
        """Read everything now (also used synchronously at start and stop)."""
        energy: dict[str, float] = {}
        for meter in self.meters.meters:
            try:
                energy.update(meter.read_energy_j())
            except Exception as exc:  # never let a meter kill the program
                log.debug("meter %s failed: %r", meter.name, exc)
        try:
            machine: MachineCpu | None = self._cpu.read()
        except (OSError, ValueError):
            machine = None
        return Sample(time.monotonic_ns(), time.time_ns(), energy, machine)

    def subscribe(self, listener: Listener) -> Sample:
        """Add a listener; return a fresh sample to use as its baseline."""
        with self._lock:
            sample = self.read()
            self._listeners.append(listener)
            if self._stop is None:
                self._stop = threading.Event()
                thread = threading.Thread(
                    target=self._loop, args=(self._stop,), name="impactlib-sampler", daemon=True
                )
                thread.start()
            return sample

    def unsubscribe(self, listener: Listener) -> Sample:
        """Remove a listener; return a final sample for it."""
        with self._lock:
            sample = self.read()
            if listener in self._listeners:
                self._listeners.remove(listener)
            if not self._listeners and self._stop is not None:
                self._stop.set()
                self._stop = None
            return sample

    @property
    def idle(self) -> bool:
        """True when nobody listens."""
        return not self._listeners

    def _loop(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval_s):
            with self._lock:
                if stop.is_set():
                    return
                sample = self.read()
                listeners = list(self._listeners)
            for listener in listeners:
                try:
                    listener(sample)
                except Exception:  # a tracker bug must never kill training
                    log.exception("impactlib listener failed; measurement continues")


_samplers: dict[tuple[str, str, float], Sampler] = {}
_samplers_lock = threading.Lock()


def shared_sampler(config: Config) -> Sampler:
    """The process's sampler for this hardware configuration (created on first use)."""
    key = (config.powercap_root, config.procfs_root, config.interval)
    with _samplers_lock:
        sampler = _samplers.get(key)
        if sampler is None:
            sampler = Sampler(open_meters(config), config.interval)
            _samplers[key] = sampler
        return sampler


def domains_of(sampler: Sampler) -> Sequence[Domain]:
    """The domains a sampler reads."""
    return sampler.meters.domains()
