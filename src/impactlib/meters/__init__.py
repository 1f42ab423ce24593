"""Meters: where energy numbers come from. One module per source, one interface (``base.Meter``).

:func:`open_meters` is the one place that decides which meters a machine gets: measured
ones where they work, labelled models for the CPU and memory where they do not, and for
every meter that could not be opened the reason and the fix (shown by ``impactlib hardware``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from ..errors import MeterFailed, MeterUnavailable
from ..log import log
from ..procfs import MachineCpuReader
from .base import Domain, Meter, ServedFloor, Tick
from .driver import require_nvidia_driver
from .platform import PlatformBalance
from .settings import MeterSettings

if TYPE_CHECKING:
    from .wall import WallSampler

_Opened = TypeVar("_Opened")

# Split by the scope's share of the machine's CPU time (attribution's rule, stated here
# because it decides whether the machine's CPU time must be read at every tick). The
# platform (fans, disks, board, power supply) follows no device a process holds: it is
# split like the CPU that drives it.
CPU_TIME_SPLIT = ("cpu", "dram", "platform")

FAILED = object()  # a meter's capture that raised: decoded as a gap


class MeterCapture(NamedTuple):
    """What one tick captured of a meter set: one capture per meter that reads at ticks
    (``FAILED`` where it raised), and the wall's cumulative joules (None: no wall meter, or
    no reading yet)."""

    meters: tuple[object, ...]
    wall_j: float | None


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
    # wall - every other domain, where a wall meter opened (meters.platform)
    platform: PlatformBalance | None = None

    def domains(self) -> list[Domain]:
        """Every domain of every meter, then the platform's."""
        domains = [d for m in self.meters for d in m.domains()]
        if self.platform is not None:
            domains.append(self.platform.domain)
        return domains

    # -- one tick: capture now, decode later (the sampler's split, meters/base.py) -------
    def capture(self) -> MeterCapture:
        """Every meter that reads at ticks, then the wall's integral at this moment."""
        captured: list[object] = []
        for meter in self.meters:
            if meter.reads_at_tick:
                try:
                    captured.append(meter.capture())
                except Exception as exc:  # never let a meter kill the program
                    log.debug("meter %s failed: %r", meter.name, exc)
                    captured.append(FAILED)
        wall_j = None
        if self.platform is not None:
            try:
                wall_j = self.platform.capture()
            except Exception as exc:
                log.debug("wall meter failed: %r", exc)
        return MeterCapture(tuple(captured), wall_j)

    def decode(self, captured: MeterCapture, tick: Tick) -> dict[str, float]:
        """Cumulative joules per domain of one capture taken at ``tick`` (once per capture,
        in capture order): every meter's, then the platform's from them and the wall."""
        energy: dict[str, float] = {}
        captures = iter(captured.meters)
        for meter in self.meters:
            capture = next(captures) if meter.reads_at_tick else None
            if capture is FAILED:
                continue
            try:
                energy.update(meter.decode(capture, tick))
            except Exception as exc:
                log.debug("meter %s failed: %r", meter.name, exc)
        if self.platform is not None:
            platform_j = self.platform.settle(captured.wall_j, energy)
            if platform_j is not None:
                energy[self.platform.domain.id] = platform_j
        return energy

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
        reads = self.platform is not None or any(m.reads_at_tick for m in self.meters)
        if served and not reads:
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

    def served_floors(self) -> dict[str, ServedFloor]:
        """The daemon's latest idle floor per domain it attributed (empty without it)."""
        return {d: f for meter in self.meters for d, f in meter.served_floors().items()}

    def diagnostics(self) -> list[str]:
        """Every meter's diagnostics, in meter order, then the platform's (empty when
        nothing went wrong)."""
        lines = [line for meter in self.meters for line in meter.diagnostics()]
        if self.platform is not None:
            lines += self.platform.diagnostics()
        return lines

    def close(self) -> None:
        """Close every meter (and stop the wall sampler)."""
        for meter in self.meters:
            meter.close()
        if self.platform is not None:
            self.platform.close()
        self.machine.close()


def open_meters(settings: MeterSettings) -> MeterSet:
    """Open every meter that works here; fall back to labelled models for CPU and memory.

    Where RAPL is here but unreadable and ``impactlib serve`` answers on the settings'
    ``daemon_socket``, a process tree's CPU and DRAM energy come from the daemon instead
    (measured, attributed to the tree by the daemon). So they do where RAPL is not here at
    all but the socket is: a container, whose runtime masks the powercap tree (Docker masks
    ``/sys/devices/virtual/powercap``) and into which the admin bound the socket. Settings
    without a socket (the whole machine, the daemon itself: :meth:`MeterSettings.of`) never
    ask it.
    """
    from .model import CpuModelMeter, MemoryModelMeter

    found = MeterSet(meters=[], machine=MachineCpuReader(settings.procfs_root))
    rapl = _try(found, _open_rapl, settings)
    rapl_problem = found.unavailable[-1] if rapl is None and found.unavailable else None
    socket = settings.daemon_socket
    if socket is not None and (
        _unreadable(rapl_problem) or (rapl is None and os.path.exists(socket))
    ):
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
    if not any(m.name == "daemon" for m in found.meters):  # else the daemon serves it
        found.platform = _open_platform(found, settings)
    return found


def _open_platform(found: MeterSet, settings: MeterSettings) -> PlatformBalance | None:
    """The platform domain where a wall meter opens: the wall minus every domain opened
    so far (measured or modelled). Opened last, so that nothing is left to subtract."""
    wall = _opened(found, _open_wall, settings)
    if wall is None:
        return None
    return PlatformBalance(wall, wall.method, wall.note, found.domains(), wall.accuracy_percent)


def _open_wall(settings: MeterSettings) -> WallSampler:
    from .wall import open_wall_sampler

    return open_wall_sampler(settings)


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
    meter = _opened(found, opener, settings)
    if meter is not None:
        found.meters.append(meter)
    return meter


def _opened(
    found: MeterSet, opener: Callable[[MeterSettings], _Opened], settings: MeterSettings
) -> _Opened | None:
    """What ``opener`` opens, or None with why in ``found.unavailable``."""
    try:
        return opener(settings)
    except MeterUnavailable as exc:
        found.unavailable.append(exc)
    except Exception as exc:  # a broken driver or sensor must not stop the user's program
        name = opener.__name__.removeprefix("_open_")
        found.unavailable.append(MeterFailed(name, f"failed to open ({exc!r})"))
    return None
