"""A fake host whose power follows its load: a fake RAPL package and a fake ``/proc/stat``.

A counter at constant power cannot test anything that depends on load (idle floors, the
host power model). :class:`SweepingHost` advances the package counter at ``idle_w +
w_per_busy_cpu x busy CPUs`` from a load it sweeps itself and writes to its own ``stat``:
the truth is known exactly whatever else runs on the real machine. (Hosts that mirror real
processes, for jobs and daemons, are in :mod:`fakelab`.)
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from powercap import FakePowercap

from impactlib.procfs import CLK_TCK

PACKAGE = "cpu:package-0"
TICK_S = 0.02


def one_package(tmp_path: Path) -> FakePowercap:
    """A powercap tree with ``package-0`` only (no DRAM, no psys)."""
    fake = FakePowercap(tmp_path)
    fake.add_package(0)
    return fake


class SweepingHost:
    """A fake ``/proc`` and powercap package whose load sweeps by itself, for tests that
    need a calibration to succeed whatever the real (shared) machine is doing.

    The machine's busy CPUs follow a triangle wave between 0 and ``max_busy`` CPUs (one
    period every ``period_s``), written to a fake ``stat`` as the kernel writes it (ticks of
    1/``CLK_TCK`` s), and the package counter advances at ``idle_w + w_per_busy_cpu x busy``
    from the same wave: power and load agree exactly, burners or not. Point ``procfs_root``
    at :attr:`procfs` and ``powercap_root`` at ``powercap.root``; run it in a ``with``.
    """

    def __init__(
        self,
        tmp_path: Path,
        idle_w: float,
        w_per_busy_cpu: float,
        *,
        max_busy: float = 2.0,
        period_s: float = 5.0,
        cpus: int = 2,
    ) -> None:
        self.powercap = one_package(tmp_path / "sys")
        self.procfs = tmp_path / "proc"
        self.procfs.mkdir()
        self.idle_w, self.w_per_busy_cpu = idle_w, w_per_busy_cpu
        self.max_busy, self.period_s, self.cpus = max_busy, period_s, cpus
        self._busy_s = self._total_s = 0.0
        self._write_stat()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sweeping-host", daemon=True)

    def busy_cpus(self, elapsed_s: float) -> float:
        """The wave: 0 at the start of each period, ``max_busy`` half-way through it."""
        phase = (elapsed_s / self.period_s) % 1.0
        return self.max_busy * (1.0 - abs(2.0 * phase - 1.0))

    def __enter__(self) -> SweepingHost:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        start = last = time.monotonic()
        while not self._stop.wait(TICK_S):
            now = time.monotonic()
            busy = self.busy_cpus((last + now) / 2 - start)
            dt = now - last
            self._busy_s += busy * dt
            self._total_s += self.cpus * dt
            self._write_stat()
            self.powercap.advance(PACKAGE, (self.idle_w + self.w_per_busy_cpu * busy) * dt)
            last = now

    def _write_stat(self) -> None:
        """Rewrite ``stat`` in place at a fixed width (a kept descriptor re-reads it)."""
        busy = round(self._busy_s * CLK_TCK)
        idle = max(round(self._total_s * CLK_TCK) - busy, 0)
        line = f"cpu  {busy:020d} 0 0 {idle:020d} 0 0 0 0 0 0\n".encode()
        fd = os.open(self.procfs / "stat", os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, line, 0)
        finally:
            os.close(fd)
