"""Fake powercap trees in ``tmp_path``, laid out the way the kernel lays them out.

Zones are real directories under ``devices/virtual/powercap/<control type>/...``, nested as
``powercap_register_zone()`` nests them, and ``class/powercap`` holds one symlink per zone,
like ``/sys/class/powercap``. Point a meter at :attr:`FakePowercap.root`.

Counters are rewritten *in place*, with one ``pwrite`` of a fixed-width number. The meter
keeps ``energy_uj`` open and re-reads it with ``pread`` at offset 0, as it does on sysfs;
replacing the file (temp file + ``os.replace``) would leave that descriptor on the old
inode forever, so every reader would see a frozen counter. A fixed width means the file
never needs truncating, so a concurrent reader never sees an empty or half-shortened file.
``advance``/``set`` take a lock and may be called from any thread.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

# xlate(0xffffffff) with the common 2^-14 J unit (a CodeCarbon fixture from a real host).
INTEL_RANGE_UJ = 262_143_328_850
_WIDTH = 20  # digits of a u64: the widest counter the kernel prints


@dataclass
class FakeZone:
    """One zone of the fake tree."""

    zone_id: str
    name: str
    path: Path
    max_energy_range_uj: int
    energy_uj: int = 0

    @property
    def counter(self) -> Path:
        """Its ``energy_uj`` file."""
        return self.path / "energy_uj"


class FakePowercap:
    """A writable powercap tree whose counters advance and wrap like the hardware's.

    Zones can be named by zone id (``intel-rapl:0:a``), by the domain id the meter reports
    (``cpu:package-0``, ``dram:package-0``, ``cpu:psys``) or, when unique, by ``name``.
    """

    def __init__(self, tmp_path: Path) -> None:
        self.base = Path(tmp_path)
        self.root = self.base / "class" / "powercap"
        self.devices = self.base / "devices" / "virtual" / "powercap"
        self.root.mkdir(parents=True, exist_ok=True)
        self.zones: dict[str, FakeZone] = {}
        self.denied: set[str] = set()  # zone ids whose reads raise PermissionError
        self._lock = threading.Lock()

    # --- building -------------------------------------------------------------------------

    def add_zone(
        self,
        zone_id: str,
        name: str,
        *,
        energy_uj: int = 0,
        max_energy_range_uj: int = INTEL_RANGE_UJ,
    ) -> FakeZone:
        """Create one zone directory (its parent must exist) and its class symlink."""
        control, *indices = zone_id.split(":")
        if len(indices) == 1:
            parent_dir = self.devices / control
            parent_dir.mkdir(parents=True, exist_ok=True)
            (parent_dir / "enabled").write_text("1\n")
            link = self.root / control
            if not link.exists():
                link.symlink_to(os.path.relpath(parent_dir, self.root))
        else:
            parent_dir = self.zones[zone_id.rsplit(":", 1)[0]].path
        path = parent_dir / zone_id
        path.mkdir()
        (path / "name").write_text(name + "\n")
        (path / "max_energy_range_uj").write_text(f"{max_energy_range_uj}\n")
        (path / "enabled").write_text("1\n")
        (path / "constraint_0_name").write_text("long_term\n")
        (self.root / zone_id).symlink_to(os.path.relpath(path, self.root))
        zone = FakeZone(zone_id, name, path, max_energy_range_uj, energy_uj)
        self.zones[zone_id] = zone
        self._write(zone)
        return zone

    def add_package(
        self,
        index: int | None = None,
        *,
        die: int | None = None,
        dram: bool = False,
        core: bool = False,
        uncore: bool = False,
        energy_uj: int = 0,
        max_energy_range_uj: int = INTEL_RANGE_UJ,
    ) -> str:
        """Add ``package-N`` as the next top-level ``intel-rapl`` zone; return its zone id.

        Children are numbered in the kernel's order (core 0, uncore 1, dram 2 where present).
        """
        top = self._next_top("intel-rapl")
        index = top if index is None else index
        name = f"package-{index}" if die is None else f"package-{index}-die-{die}"
        zone_id = f"intel-rapl:{top:x}"
        self.add_zone(zone_id, name, energy_uj=energy_uj, max_energy_range_uj=max_energy_range_uj)
        children = [("core", core), ("uncore", uncore), ("dram", dram)]
        for child, (child_name, wanted) in enumerate(children):
            if wanted:
                self.add_zone(
                    f"{zone_id}:{child:x}", child_name, max_energy_range_uj=max_energy_range_uj
                )
        return zone_id

    def add_psys(self, *, energy_uj: int = 0, max_energy_range_uj: int = INTEL_RANGE_UJ) -> str:
        """Add a top-level ``psys`` zone (``rapl_add_platform_domain`` registers it parentless)."""
        zone_id = f"intel-rapl:{self._next_top('intel-rapl'):x}"
        self.add_zone(zone_id, "psys", energy_uj=energy_uj, max_energy_range_uj=max_energy_range_uj)
        return zone_id

    def _next_top(self, control: str) -> int:
        tops = [z for z in self.zones if z.startswith(control + ":") and z.count(":") == 1]
        return len(tops)

    # --- presets ---------------------------------------------------------------------------

    @classmethod
    def laptop(cls, tmp_path: Path) -> FakePowercap:
        """package-0 with core, uncore and dram, plus psys as intel-rapl:1."""
        tree = cls(tmp_path)
        tree.add_package(0, core=True, uncore=True, dram=True)
        tree.add_psys()
        return tree

    @classmethod
    def two_socket(cls, tmp_path: Path) -> FakePowercap:
        """Two packages, each with dram, no psys (a typical Xeon server)."""
        tree = cls(tmp_path)
        tree.add_package(0, dram=True)
        tree.add_package(1, dram=True)
        return tree

    @classmethod
    def amd(cls, tmp_path: Path, sockets: int = 1) -> FakePowercap:
        """AMD Zen: package and (one-core) core only; no dram, uncore or psys."""
        tree = cls(tmp_path)
        for socket in range(sockets):
            tree.add_package(socket, core=True)
        return tree

    # --- driving ---------------------------------------------------------------------------

    def zone(self, key: str) -> FakeZone:
        """The zone named by zone id, domain id (``cpu:package-0``) or unique name."""
        if key in self.zones:
            return self.zones[key]
        kind, _, rest = key.partition(":")
        if kind == "dram" and rest:
            for zone in self.zones.values():
                parent = self.zones.get(zone.zone_id.rsplit(":", 1)[0])
                if zone.name == "dram" and parent is not None and parent.name == rest:
                    return zone
        if kind == "cpu" and rest:
            key = rest
        matches = [z for z in self.zones.values() if z.name == key and "mmio" not in z.zone_id]
        if len(matches) != 1:
            raise KeyError(f"no unique zone for {key!r}")
        return matches[0]

    def advance(self, domain: str, joules: float) -> None:
        """Add energy to a zone's counter, wrapping at ``max_energy_range_uj``."""
        self.advance_uj(domain, round(joules * 1e6))

    def advance_uj(self, domain: str, microjoules: int) -> None:
        """Add an exact number of µJ (the counter's own unit)."""
        with self._lock:
            zone = self.zone(domain)
            zone.energy_uj = (zone.energy_uj + microjoules) % zone.max_energy_range_uj
            self._write(zone)

    def set(self, domain: str, energy_uj: int) -> None:
        """Set a counter to a raw value (to start near the wrap, or fake a reset)."""
        with self._lock:
            zone = self.zone(domain)
            zone.energy_uj = energy_uj
            self._write(zone)

    def energy_uj(self, domain: str) -> int:
        """The counter's current raw value."""
        with self._lock:
            return self.zone(domain).energy_uj

    def _write(self, zone: FakeZone) -> None:
        data = f"{zone.energy_uj:0{_WIDTH}d}\n".encode()
        fd = os.open(zone.counter, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, data, 0)
        finally:
            os.close(fd)

    def deny(self, domain: str) -> None:
        """Make :meth:`read_counter` raise PermissionError for this zone (root ignores chmod)."""
        self.denied.add(self.zone(domain).zone_id)

    def read_counter(self, path: Path) -> int:
        """A ``RaplMeter(read_counter=...)`` hook that honours :meth:`deny`."""
        zone_id = Path(path).parent.name
        if zone_id in self.denied:
            raise PermissionError(13, "Permission denied", str(path))
        return int(Path(path).read_bytes())

    @contextlib.contextmanager
    def drive(
        self,
        domain: str,
        watts: float,
        *,
        period_s: float = 0.005,
        clock: Callable[[], float] = time.monotonic,
    ) -> Iterator[Callable[[], float]]:
        """Advance a counter at constant power from a background thread while in the block.

        Yields a function returning the joules added so far; on exit the counter holds
        exactly ``watts × elapsed`` (rounded to the µJ) since the block was entered.
        """
        start = clock()
        base = self.energy_uj(domain)
        stop = threading.Event()
        added = [0]

        def push() -> None:
            target = round(watts * (clock() - start) * 1e6)
            with self._lock:
                zone = self.zone(domain)
                zone.energy_uj = (base + target) % zone.max_energy_range_uj
                self._write(zone)
                added[0] = target

        def loop() -> None:
            while not stop.wait(period_s):
                push()

        thread = threading.Thread(target=loop, name=f"fake-rapl-{domain}", daemon=True)
        thread.start()
        try:
            yield lambda: added[0] / 1e6
        finally:
            stop.set()
            thread.join()
            push()
