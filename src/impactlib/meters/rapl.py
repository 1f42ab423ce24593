"""CPU package and DRAM energy from the Linux powercap RAPL tree.

The kernel exposes each RAPL domain as a powercap *zone* with a cumulative ``energy_uj``
counter (``Documentation/power/powercap/powercap.rst``). This module finds the zones that
add up to "CPU + DRAM" without double counting, keeps their counter files open and turns
the wrapping counters into joules since the meter was opened.

What contains what (``drivers/powercap/intel_rapl_common.c``):

* ``package-N`` (or ``package-N-die-D``) is a socket or die; ``core`` and ``uncore`` are
  *inside* it, so adding them would count their energy twice.
* ``dram`` sits under the package in sysfs but is a separate RAPL domain, not part of it.
* ``psys`` is the whole platform (package + the rest of the SoC) on client parts; it is
  registered with no parent, so it is a top-level ``intel-rapl:N`` next to ``package-0``.
  It overlaps the packages, so it is either used alone or not at all.

So CPU+DRAM = Σ package + Σ dram, or psys alone. Zones are told apart by their ``name``
file only: ids are assigned in registration order, and ``intel-rapl:1`` is ``psys`` on a
laptop but ``package-1`` on a two-socket server.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from ..errors import MeterUnavailable
from ..footprint import Component, Extent, Method, Quality
from ..units import UJ_PER_J
from .base import CounterAccumulator, Domain, Meter, Tick, counter_diagnostics

DEFAULT_ROOT = "/sys/class/powercap"

# ``powercap_register_zone()`` (drivers/powercap/powercap_sys.c) names a child zone
# "%s:%x" from its parent's name and index: ids are hexadecimal, so the eleventh
# subzone of package 0 is ``intel-rapl:0:a``. ``\d+`` would silently miss it.
_ZONE_DIR = re.compile(r"^(intel-rapl(?:-mmio)?)((?::[0-9a-f]+)+)$")
# Control-type directories (``intel-rapl``, ``intel-rapl-mmio``) hold the zones when the
# tree is seen through ``/sys/devices/virtual/powercap`` instead of the flat class links.
_CONTROL_DIR = re.compile(r"^intel-rapl(?:-mmio)?$")
_PACKAGE = re.compile(r"^package-\d+(?:-die-\d+)?$")

_PERMISSION_REASON = (
    "cannot read {path}: energy_uj is readable by root only since Linux 5.10 "
    "(CVE-2020-8694 'PLATYPUS', commit 949dd0104c49, also backported to older stable kernels)"
)
# A container sees no RAPL (runtimes mask the powercap tree): the daemon's socket is the way.
CONTAINER_FIX = (
    "in a container, have the host run `impactlib serve` and bind its socket read-only "
    "(`-v /run/impactlib:/run/impactlib:ro`, docs/containers.md): no powercap mount and no "
    "privileges are needed"
)
_PERMISSION_FIX = (
    "ask an admin to run `impactlib serve` (docs/daemon.md; in a container, bind its socket "
    "read-only: `-v /run/impactlib:/run/impactlib:ro`, docs/containers.md), which measures "
    "every user's own processes without opening the counters; or run as root, or give "
    "a group read access with a udev rule "
    '(SUBSYSTEM=="powercap", ACTION=="add", RUN+="/bin/chgrp -R powercap /sys%p", '
    'RUN+="/bin/chmod -R g+r /sys%p"), knowing it re-opens the side channel to that group; '
    "until then CPU energy is estimated (model-tdp)"
)

# One raw ``energy_uj`` per reported zone, in ``domains()`` order (None: the read failed).
_Capture = tuple["bytes | int | None", ...]
_NO_TICK = Tick(0.0, None)  # counters carry their own meaning: decoding needs no time


@dataclass(frozen=True)
class RaplZone:
    """One powercap zone as found on disk, before deciding whether it is reported."""

    zone_id: str  # "intel-rapl:0:a"
    name: str  # contents of the ``name`` file: "package-0", "dram", "psys", ...
    path: Path
    parent_id: str | None  # "intel-rapl:0" for "intel-rapl:0:a"; None at top level
    max_energy_range_uj: int | None

    @property
    def is_mmio(self) -> bool:
        """True for the MMIO interface, which duplicates a package on client CPUs."""
        return self.zone_id.startswith("intel-rapl-mmio:")


@dataclass
class _Reading:
    """A reported zone: its domain, its counter source, its wrap accumulator and how many
    of its reads failed."""

    domain: Domain
    zone: RaplZone
    accumulator: CounterAccumulator
    fd: int | None = None
    failed_reads: int = 0


@dataclass
class _Plan:
    """Which zones are reported, and why every other zone is not (for ``zones_summary``)."""

    used: list[tuple[RaplZone, str]] = field(default_factory=list)  # zone, domain id
    skipped: list[tuple[RaplZone, str]] = field(default_factory=list)  # zone, reason


def find_zones(root: str | os.PathLike[str] = DEFAULT_ROOT) -> list[RaplZone]:
    """All RAPL zones under ``root``, sorted by id, each found once.

    ``/sys/class/powercap`` lists every zone as a flat symlink; a bind-mounted
    ``/sys/devices/virtual/powercap`` nests them instead. Both are walked, and a zone met
    twice (by id) is kept once. Missing or unreadable ``name`` files skip the zone.
    """
    found: dict[str, RaplZone] = {}
    for zone_id, path in _walk(Path(root)):
        if zone_id in found:
            continue
        name = _read_text(path / "name")
        if name is None:
            continue
        parent = zone_id.rsplit(":", 1)[0]
        max_range = _read_text(path / "max_energy_range_uj")
        found[zone_id] = RaplZone(
            zone_id=zone_id,
            name=name,
            path=path,
            parent_id=parent if ":" in parent else None,
            max_energy_range_uj=int(max_range) if max_range and max_range.isdigit() else None,
        )
    return sorted(found.values(), key=_zone_sort_key)


def _walk(directory: Path) -> Iterator[tuple[str, Path]]:
    # Zones at this level first, so a zone is named by its /sys/class/powercap link (the
    # path users know) before the nested copy under its control type is met.
    try:
        entries = sorted(
            (
                e
                for e in os.scandir(directory)
                if _ZONE_DIR.match(e.name) or _CONTROL_DIR.match(e.name)
            ),
            key=lambda e: e.name,
        )
        entries = [e for e in entries if e.is_dir()]  # follows the class symlinks
    except OSError:
        return
    for entry in entries:
        if _ZONE_DIR.match(entry.name):
            yield entry.name, Path(entry.path)
    for entry in entries:
        yield from _walk(Path(entry.path))


def _zone_sort_key(zone: RaplZone) -> tuple[bool, tuple[int, ...]]:
    indices = tuple(int(part, 16) for part in zone.zone_id.split(":")[1:])
    return (zone.is_mmio, indices)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def plan_domains(zones: Sequence[RaplZone], *, prefer_psys: bool = False) -> _Plan:
    """Choose the zones whose sum is CPU (+DRAM) energy without double counting."""
    plan = _Plan()
    by_id = {zone.zone_id: zone for zone in zones}
    standard_names = {zone.name for zone in zones if not zone.is_mmio}
    psys = [zone for zone in zones if zone.name == "psys"]
    use_psys = prefer_psys and bool(psys)
    for zone in zones:
        parent = by_id.get(zone.parent_id) if zone.parent_id else None
        reason = _skip_reason(zone, parent, use_psys, standard_names)
        if reason:
            plan.skipped.append((zone, reason))
        elif zone.name == "psys":
            domain_id = "cpu:psys" if len(psys) == 1 else f"cpu:psys:{zone.zone_id}"
            plan.used.append((zone, domain_id))
        elif zone.name == "dram":
            owner = parent.name if parent else zone.zone_id
            plan.used.append((zone, f"dram:{owner}"))
        else:
            plan.used.append((zone, f"cpu:{zone.name}"))
    return plan


def _skip_reason(
    zone: RaplZone, parent: RaplZone | None, use_psys: bool, standard_names: set[str]
) -> str | None:
    # Client CPUs expose the package a second time through MMIO; the MSR zone of the
    # same name is the reference (Kepler de-duplicates the same way).
    if zone.is_mmio and zone.name in standard_names:
        return f"duplicates the intel-rapl zone named {zone.name}"
    if parent is not None and parent.is_mmio and parent.name in standard_names:
        return "child of a duplicate mmio zone"
    if zone.name == "psys":
        return None if use_psys else "platform total; overlaps the packages (prefer_psys=False)"
    if use_psys:
        return "psys is preferred and already contains it"
    if zone.name in ("core", "uncore"):
        # On AMD the `core` zone is a single physical core read on the package's lead CPU
        # (rapl_msr_priv_amd maps PP0 to the per-core MSR), so it is not even a sum.
        return "inside its package (would be counted twice)"
    if zone.name == "dram":
        return None
    if _PACKAGE.match(zone.name):
        return None
    return "unknown zone name"


class RaplMeter(Meter):
    """Cumulative CPU package and DRAM energy from powercap RAPL counters.

    ``read_counter`` replaces the kept-open file descriptors with a function called with
    each zone's ``energy_uj`` path: tests use it to inject ``PermissionError`` (CI runs
    as root, for whom ``chmod 000`` changes nothing) and the daemon client uses it to read
    through the privileged socket.

    The counter files stay open until :meth:`close`, which whoever opened the meter calls
    (``MeterSet.close`` for the meters of a run). There is no finaliser: it would run at
    an unpredictable time, interpreter shutdown included, and hide a missing ``close``.
    """

    name = "rapl"

    def __init__(
        self,
        root: str | os.PathLike[str] = DEFAULT_ROOT,
        *,
        prefer_psys: bool = False,
        read_counter: Callable[[Path], int] | None = None,
    ) -> None:
        self.root = Path(root)
        self.prefer_psys = prefer_psys
        self._read_counter = read_counter
        self._lock = threading.Lock()
        self._readings: list[_Reading] = []

        if not self.root.is_dir():
            raise MeterUnavailable(
                "rapl",
                f"no powercap tree at {self.root}",
                "load the RAPL driver (`sudo modprobe intel_rapl_msr`); "
                f"{CONTAINER_FIX}; or set IMPACTLIB_POWERCAP_ROOT",
            )
        self.zones = find_zones(self.root)
        if not self.zones:
            raise MeterUnavailable(
                "rapl",
                f"no intel-rapl zone under {self.root} (no RAPL on this CPU, or a VM)",
                f"on bare metal load `intel_rapl_msr`; {CONTAINER_FIX}; otherwise CPU energy "
                "is estimated",
            )
        self._plan = plan_domains(self.zones, prefer_psys=prefer_psys)
        try:
            for zone, domain_id in self._plan.used:
                self._readings.append(self._open(zone, domain_id))
        except BaseException:
            self.close()
            raise
        if not self._readings:
            raise MeterUnavailable(
                "rapl",
                f"no package, dram or psys zone under {self.root}",
                "CPU energy is estimated instead",
            )

    def _open(self, zone: RaplZone, domain_id: str) -> _Reading:
        counter = zone.path / "energy_uj"
        fd = None
        try:
            if self._read_counter is None:
                fd = os.open(counter, os.O_RDONLY | os.O_CLOEXEC)
                baseline = _parse_counter(os.pread(fd, 32, 0))
            else:
                baseline = self._read_counter(counter)
        except PermissionError as exc:
            if fd is not None:
                os.close(fd)
            raise MeterUnavailable(
                "rapl", _PERMISSION_REASON.format(path=counter), _PERMISSION_FIX
            ) from exc
        except (OSError, ValueError) as exc:
            if fd is not None:
                os.close(fd)
            raise MeterUnavailable("rapl", f"cannot read {counter}: {exc}") from exc
        # Without max_energy_range_uj a decrease cannot be told from a reset, so the
        # accumulator drops that interval rather than guess a modulus.
        accumulator = CounterAccumulator(wrap_range=zone.max_energy_range_uj)
        accumulator.update(baseline)
        domain = Domain(
            id=domain_id,
            component=Component.DRAM if zone.name == "dram" else Component.CPU,
            method=Method.RAPL,
            extent=Extent.MACHINE,
            quality=Quality.MEASURED,
            note=str(zone.path),
        )
        return _Reading(domain=domain, zone=zone, accumulator=accumulator, fd=fd)

    def domains(self) -> Sequence[Domain]:
        """Packages and their DRAM, or psys alone when it was preferred and exists."""
        return [reading.domain for reading in self._readings]

    def read_energy_j(self) -> Mapping[str, float]:
        """Joules per domain since opening; a zone that fails this time is left out."""
        return self.decode(self.capture(), _NO_TICK)

    def capture(self) -> _Capture:
        """Each zone's raw ``energy_uj`` (``None`` where the read failed)."""
        raws: list[bytes | int | None] = []
        with self._lock:
            for reading in self._readings:
                try:
                    raws.append(self._read(reading))
                except (OSError, ValueError):
                    raws.append(None)
        return tuple(raws)

    def decode(self, captured: object, tick: Tick) -> Mapping[str, float]:
        """Unwrap one capture's counters into joules since opening."""
        energy: dict[str, float] = {}
        with self._lock:
            for reading, raw in zip(self._readings, cast(_Capture, captured), strict=True):
                try:
                    value = _parse_counter(raw) if isinstance(raw, bytes) else raw
                except ValueError:
                    value = None
                if value is None:
                    reading.failed_reads += 1
                    continue
                energy[reading.domain.id] = reading.accumulator.update(value) / UJ_PER_J
        return energy

    def _read(self, reading: _Reading) -> bytes | int:
        if reading.fd is not None:
            # sysfs regenerates the attribute on every read at offset 0, so one pread on a
            # kept descriptor replaces open+read+close (about 2 µs instead of 13 µs here).
            return os.pread(reading.fd, 32, 0)
        if self._read_counter is None:
            raise OSError("counter closed")
        return self._read_counter(reading.zone.path / "energy_uj")

    @property
    def wraps(self) -> int:
        """Counter wraps seen so far, over all domains."""
        return sum(reading.accumulator.wraps for reading in self._readings)

    @property
    def gaps(self) -> int:
        """Reads that failed at run time, over all domains (each left its domain out once)."""
        return sum(reading.failed_reads for reading in self._readings)

    def diagnostics(self) -> list[str]:
        """Per domain: wraps (handled), decreases without a known range (an interval lost)
        and failed reads (covered by the next reading)."""
        lines: list[str] = []
        with self._lock:
            for reading in self._readings:
                lines += counter_diagnostics(
                    reading.domain.id,
                    reading.accumulator,
                    reading.failed_reads,
                    f"{reading.zone.zone_id} has no max_energy_range_uj to unwrap it by",
                )
        return lines

    def zones_summary(self) -> list[str]:
        """One line per zone found: what it is reported as, or why it is left out."""
        verdicts = {zone.zone_id: f"reported as {domain_id}" for zone, domain_id in self._plan.used}
        verdicts.update({zone.zone_id: f"not used, {why}" for zone, why in self._plan.skipped})
        lines = [f"{zone.zone_id} {zone.name}: {verdicts[zone.zone_id]}" for zone in self.zones]
        if self.prefer_psys and not any(zone.name == "psys" for zone in self.zones):
            lines.append("psys preferred but absent: packages and dram are used")
        return lines

    def close(self) -> None:
        """Close the kept counter files; later reads leave every domain out."""
        with self._lock:
            for reading in self._readings:
                if reading.fd is not None:
                    with contextlib.suppress(OSError):
                        os.close(reading.fd)
                    reading.fd = None


def _parse_counter(raw: bytes) -> int:
    """``energy_uj`` is a decimal number and a newline; anything else is a failed read."""
    return int(raw.strip())
