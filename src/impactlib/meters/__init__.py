"""Meters: where energy numbers come from. One module per source, one interface (``base.Meter``).

:func:`open_meters` is the one place that decides which meters a machine gets: measured
ones where they work, labelled models for the CPU and memory where they do not, and for
every meter that could not be opened the reason and the fix (shown by ``impactlib hardware``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import MeterFailed, MeterUnavailable
from ..procfs import MachineCpuReader
from .base import Domain, Meter
from .driver import require_nvidia_driver
from .settings import MeterSettings

# Split by the scope's share of the machine's CPU time (attribution's rule, stated here
# because it decides whether the machine's CPU time must be read at every tick).
CPU_TIME_SPLIT = ("cpu", "dram")


@dataclass
class MeterSet:
    """The meters opened for this machine, and why the others could not be.

    Two kinds of plain-text lines for a record's warnings: ``notes``, decided when the
    meters were opened (CPU energy estimated, GPUs present but not measured), fixed from
    then on; and :meth:`diagnostics`, what the meters met while reading (wraps, resets,
    failed reads, devices skipped), which grows during a run and is asked at its end.
    """

    meters: list[Meter]
    machine: MachineCpuReader
    unavailable: list[MeterUnavailable] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def domains(self) -> list[Domain]:
        """Every domain of every meter."""
        return [d for m in self.meters for d in m.domains()]

    def machine_cpu_each_tick(self) -> bool:
        """Whether the machine's CPU time must be read at every tick.

        A *measured* CPU or DRAM domain is split by the scope's share of the machine's CPU
        time over each interval, so it needs both at every tick. The estimated CPU domain is
        linear in that time (``P = idle + k x busy``), so reading it once per checkpoint
        gives the same energy and the same split, while the process tree is still read at
        every tick: one kernel-generated ``/proc/stat`` fewer per second.
        """
        return any(
            d.component in CPU_TIME_SPLIT and d.quality == "measured" for d in self.domains()
        )

    def tick_interval_s(self, interval_s: float, save_interval_s: float) -> float:
        """How often the sampler must tick: every ``interval_s``, except where the daemon
        serves the CPU and no meter reads at ticks (no GPU): then nothing changes between
        checkpoints that the daemon does not already count, so the sampler wakes only at
        them and a tracked minute costs the user's process almost nothing."""
        served = any(m.name == "daemon" for m in self.meters)
        if served and not any(m.reads_at_tick for m in self.meters):
            return max(interval_s, save_interval_s)
        return interval_s

    def known_floors_w(self) -> dict[str, float]:
        """Idle power the estimation models know for their own domains."""
        out: dict[str, float] = {}
        for meter in self.meters:
            idle = meter.idle_power_w()
            if idle is not None:
                for d in meter.domains():
                    out[d.id] = idle
        return out

    def diagnostics(self) -> list[str]:
        """Every meter's diagnostics, in meter order (empty when nothing went wrong)."""
        return [line for meter in self.meters for line in meter.diagnostics()]

    def close(self) -> None:
        """Close every meter."""
        for meter in self.meters:
            meter.close()
        self.machine.close()


def open_meters(settings: MeterSettings) -> MeterSet:
    """Open every meter that works here; fall back to labelled models for CPU and memory.

    Where RAPL is here but unreadable and ``impactlib serve`` answers on the settings'
    ``daemon_socket``, a process tree's CPU and DRAM energy come from the daemon instead
    (measured, attributed to the tree by the daemon). Settings without a socket (the whole
    machine, the daemon itself: :meth:`MeterSettings.of`) never ask it.
    """
    from .model import CpuModelMeter, MemoryModelMeter

    found = MeterSet(meters=[], machine=MachineCpuReader(settings.procfs_root))
    rapl = _try(found, _open_rapl, settings)
    rapl_problem = found.unavailable[-1] if rapl is None and found.unavailable else None
    if _unreadable(rapl_problem) and settings.daemon_socket is not None:
        rapl = _try(found, _open_daemon, settings)
    has_dram = False
    if rapl is not None:
        has_dram = any(d.component == "dram" for d in rapl.domains())
    else:
        reason = rapl_problem.reason if rapl_problem else "no RAPL meter"
        found.meters.append(
            CpuModelMeter(settings.procfs_root, settings.cpu_tdp_w, reason, found.machine)
        )
        found.notes.append(f"CPU energy is estimated: {rapl_problem}" if rapl_problem else reason)
    if not has_dram:
        found.meters.append(MemoryModelMeter(settings.procfs_root, settings.memory_w_per_gb))
    for opener in (_open_nvidia, _open_amd):
        if _try(found, opener, settings) is None and isinstance(found.unavailable[-1], MeterFailed):
            found.notes.append(f"GPUs here are not measured: {found.unavailable[-1]}")
    return found


def _open_rapl(settings: MeterSettings) -> Meter:
    from .rapl import RaplMeter

    return RaplMeter(settings.powercap_root)


def _unreadable(problem: MeterUnavailable | None) -> bool:
    """RAPL is here but root-only: where a daemon can help (not on a VM without RAPL)."""
    return problem is not None and isinstance(problem.__cause__, PermissionError)


def _open_daemon(settings: MeterSettings) -> Meter:
    from .daemon import DaemonMeter

    assert settings.daemon_socket is not None
    return DaemonMeter(settings.daemon_socket)


def _open_nvidia(settings: MeterSettings) -> Meter:
    require_nvidia_driver()
    from .nvidia import NvidiaMeter

    return NvidiaMeter()


def _open_amd(settings: MeterSettings) -> Meter:
    from .amd import AmdMeter

    return AmdMeter()


def _try(
    found: MeterSet, opener: Callable[[MeterSettings], Meter], settings: MeterSettings
) -> Meter | None:
    try:
        meter = opener(settings)
    except MeterUnavailable as exc:
        found.unavailable.append(exc)
        return None
    except Exception as exc:  # a broken driver must not stop the user's program
        name = opener.__name__.removeprefix("_open_")
        found.unavailable.append(MeterFailed(name, f"failed to open ({exc!r})"))
        return None
    found.meters.append(meter)
    return meter
