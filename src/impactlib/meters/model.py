"""Estimation models for what no meter can read; always labelled ``estimated``.

CPU: ``P(u) = TDP * (f_idle + (1 - f_idle) * u)`` with ``u`` the machine's busy fraction
from ``/proc/stat``. The TDP comes from ``cpu_tdp_w`` in the configuration, else the bundled
tables (CodeCarbon ``cpu_power.csv``, Green Algorithms ``TDP_cpu.csv``) times the number of
sockets, else Green Algorithms' default of 12 W per physical core. ``f_idle = 0.12``: an idle
server CPU draws roughly a tenth of its TDP (BoaviztAPI's Xeon Platinum load curve gives about
36 W idle for 260 W at full load); a TDP-only model ignores that floor and overestimates
lightly loaded machines.

Memory: ``P = 0.3725 W/GB * installed GB`` (Green Algorithms ``memoryPower``, from
Desrochers et al. and Tom's Hardware measurements), a constant: its energy is all static.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence

from ..errors import ImpactError
from ..footprint import Component, Extent, Method, Quality
from ..procfs import MachineCpu, MachineCpuReader, read_cpuinfo, total_memory_bytes
from ..units import MEMORY_W_PER_GB
from . import tdp
from .base import Domain, Meter, Tick

IDLE_FRACTION = 0.12


def cpu_power_w(procfs_root: str, configured_tdp_w: float | None) -> tuple[float, str]:
    """Full-load CPU power of this machine and a sentence saying where it came from."""
    if configured_tdp_w:
        return configured_tdp_w, f"TDP {configured_tdp_w:g} W from configuration (cpu_tdp_w)"
    cpu = read_cpuinfo(procfs_root)
    model, sockets = cpu.model, cpu.sockets
    if model:
        try:
            entry = tdp.cpu_tdp(model, suggest=False)
        except ImpactError:
            entry = None
        if entry is not None and entry.tdp_w:
            return entry.tdp_w * sockets, (
                f"TDP {entry.tdp_w:g} W x {sockets} socket(s) for '{entry.name}' ({entry.table})"
            )
    cores = cpu.physical_cores or os.cpu_count() or 1
    watts = tdp.GA_DEFAULT_W_PER_CORE * cores
    return watts, (
        f"CPU model {model or 'unknown'!r} not in the bundled tables: Green Algorithms default "
        f"{tdp.GA_DEFAULT_W_PER_CORE:g} W/core x {cores} core(s); set cpu_tdp_w to be exact"
    )


class CpuModelMeter(Meter):
    """CPU energy estimated from TDP and machine utilisation.

    It reads nothing of its own at a tick: the sampler's tick carries the machine's CPU
    counters, which is all the model needs.
    """

    name = "cpu-model"
    reads_at_tick = False

    def __init__(
        self,
        procfs_root: str = "/proc",
        tdp_w: float | None = None,
        reason: str = "",
        machine: MachineCpuReader | None = None,
    ) -> None:
        self._owns_reader = machine is None
        self._cpu = machine or MachineCpuReader(procfs_root)
        self.tdp_w, source = cpu_power_w(procfs_root, tdp_w)
        self.idle_w = self.tdp_w * IDLE_FRACTION
        note = (
            f"estimated: P = TDP x ({IDLE_FRACTION:g} + {1 - IDLE_FRACTION:g} x utilisation); "
            f"{source}"
        )
        if reason:
            note += f"; no meter because {reason}"
        self._domain = Domain(
            "cpu:model", Component.CPU, Method.MODEL_TDP, Extent.MACHINE, Quality.ESTIMATED, note
        )
        self._clock = time.monotonic
        self._last = (self._clock(), self._cpu.read())
        self._energy_j = 0.0

    def domains(self) -> Sequence[Domain]:
        """One machine-wide CPU domain."""
        return (self._domain,)

    def idle_power_w(self) -> float:
        """The model's own idle power: a known floor for attribution."""
        return self.idle_w

    def read_energy_j(self) -> Mapping[str, float]:
        """Integrate the model since the last read."""
        try:
            machine: MachineCpu | None = self._cpu.read()
        except (OSError, ValueError):
            machine = None
        return self.decode(None, Tick(self._clock(), machine))

    def capture(self) -> None:
        """Nothing to read (``reads_at_tick`` is False): the tick carries the input."""

    def decode(self, captured: object, tick: Tick) -> Mapping[str, float]:
        """Integrate the model up to the tick."""
        if tick.machine is None:
            return {}
        last_t, last_cpu = self._last
        dt = tick.monotonic_s - last_t
        span = tick.machine.total_s - last_cpu.total_s
        if span <= 0:  # within one kernel tick: no utilisation yet; integrate from here later
            return {self._domain.id: self._energy_j}
        if dt > 0:
            util = min(max((tick.machine.busy_s - last_cpu.busy_s) / span, 0.0), 1.0)
            self._energy_j += (self.idle_w + (self.tdp_w - self.idle_w) * util) * dt
        self._last = (tick.monotonic_s, tick.machine)
        return {self._domain.id: self._energy_j}

    def close(self) -> None:
        """Close /proc/stat unless the reader is shared."""
        if self._owns_reader:
            self._cpu.close()


class MemoryModelMeter(Meter):
    """Memory energy at a constant power per installed GB."""

    name = "memory-model"
    reads_at_tick = False

    def __init__(self, procfs_root: str = "/proc", w_per_gb: float = MEMORY_W_PER_GB) -> None:
        total_gb = total_memory_bytes(procfs_root) / 1e9
        self.power_w = w_per_gb * total_gb
        note = (
            f"estimated: {w_per_gb:g} W/GB x {total_gb:.1f} GB installed "
            "(Green Algorithms memoryPower); split by the memory held (resident, or a job's "
            "allocation under the allocation policy)"
        )
        self._domain = Domain(
            "memory:model",
            Component.MEMORY,
            Method.MODEL_MEMORY,
            Extent.MACHINE,
            Quality.ESTIMATED,
            note,
        )
        self._clock = time.monotonic
        self._start = self._clock()

    def domains(self) -> Sequence[Domain]:
        """One machine-wide memory domain."""
        return (self._domain,)

    def idle_power_w(self) -> float:
        """All of it is static power."""
        return self.power_w

    def read_energy_j(self) -> Mapping[str, float]:
        """Constant power times elapsed time."""
        return self.decode(None, Tick(self._clock(), None))

    def capture(self) -> None:
        """Nothing to read (``reads_at_tick`` is False): only the tick's time is needed."""

    def decode(self, captured: object, tick: Tick) -> Mapping[str, float]:
        """Constant power times the time elapsed at the tick."""
        return {self._domain.id: self.power_w * (tick.monotonic_s - self._start)}
