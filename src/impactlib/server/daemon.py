"""The daemon's core: sample the whole machine, attribute it, learn its power model, keep it.

Every ``interval`` (1 s by default) one :meth:`Daemon.tick` reads every meter and
``/proc/stat`` once, scans every process (:mod:`.procscan`) and has the interval attributed
(:mod:`.attributor`); the API may ask for a tick sooner (:meth:`Daemon.refresh`) so that a
tracker's last question, asked right after its command exited, includes the command's last
moments. Every ``FLUSH_S`` the finished minutes go to the store; a store that cannot be
reached keeps them in memory and gets them at the next flush. Every ``LEARN_S`` the host
power model is refitted from the machine's own (power, busy CPUs) points: a daemon sees the
machine quiet at night and busy by day, which no tracker does, and its fits are saved where
every user's tracker finds them (:mod:`impactlib.attribution.power_model`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import NamedTuple

from ..attribution.power_model import (
    DomainPowerModel,
    fit,
    load_power_model,
    merge,
    refine,
)
from ..attribution.shares import Floor
from ..config import Config
from ..errors import ImpactError, UsageError
from ..footprint import Component, FloorSource
from ..identity import host_name
from ..log import log
from ..meters import CPU_TIME_SPLIT, MeterSet, MeterSettings, open_meters
from ..meters.base import Tick
from ..meters.platform import MODEL_ID, PlatformModelMeter
from ..procfs import MachineCpu, online_cpus, total_memory_bytes
from ..store import Store, open_store
from .attributor import Interval, MachineAttributor
from .procscan import ProcessTable

FLUSH_S = 10.0  # how often finished minutes are sent to the store
LEARN_S = 900.0  # how often the host power model is refitted
GPU_REFRESH_S = 5.0  # NVML process queries are slow and serialising: <= 0.2 Hz
JOB_RETAIN_S = 3600.0  # a finished job's totals stay in /metrics this long
MIN_REFRESH_S = 0.25  # a question this soon after a tick uses it (bounds extra ticks)


class _Reading(NamedTuple):
    """The cumulative counters at the latest tick."""

    mono_ns: int
    energy_j: dict[str, float]
    machine: MachineCpu | None


class Daemon:
    """The machine's measurement and attribution, shared by the API and the exporter."""

    def __init__(
        self,
        config: Config,
        *,
        meters: MeterSet | None = None,
        store_opener: Callable[[Config], Store] = open_store,
    ) -> None:
        if config.idle_policy == "allocation":
            raise UsageError(
                "idle_policy allocation shares idle power by what a scheduler allocated, which "
                "the daemon does not know for every process; use usage (the default) or none"
            )
        self.config = config
        self.host = host_name()
        if meters is None:
            meters = open_meters(MeterSettings.of(config, via_daemon=False))
        self.meters = meters
        self._model, problem = load_power_model(config, self.host)
        if problem:
            log.warning("impactlib serve: %s", problem)
        platform = self._model.platform if self._model is not None else None
        if platform is not None and not any(
            d.component is Component.PLATFORM for d in meters.domains()
        ):  # no wall meter: the calibrated platform, as trackers count it
            meters.meters.append(PlatformModelMeter(platform.watts, platform.describe()))
        self.table = ProcessTable(config.procfs_root)
        self.attributor = MachineAttributor(
            self.meters.domains(),
            online_cpus(config.procfs_root),
            float(total_memory_bytes(config.procfs_root)),
            config.idle_policy,
            self.meters.known_floors_w(),
        )
        self.lock = self.attributor.lock  # one lock: a tick and a read never interleave
        self.started_ns = time.time_ns()
        self._store_opener = store_opener
        self._store: Store | None = None
        self._unsent: list[dict[str, object]] = []
        self.store_problem: str | None = None
        self._last: _Reading | None = None
        self._gpu_at = 0.0
        self._has_gpu = any(d.component == "gpu" for d in self.meters.domains())
        self._apply_model()

    # -- power model -------------------------------------------------------------------
    def _apply_model(self) -> None:
        model = self._model
        if model is None:
            return
        floors = {d: Floor(*f) for d in self.attributor.domains if (f := model.floor_w(d))}
        self.attributor.set_floors(floors)
        modelled = self.attributor.accounts.get(MODEL_ID)
        if modelled is not None and model.platform is not None:
            modelled.known_floor = Floor(model.platform.watts, FloorSource.CALIBRATED)

    def learn(self) -> list[DomainPowerModel]:
        """Refit the host power model from the machine's own points; save what improved."""
        with self.lock:
            points = {
                d: list(a.points)
                for d, a in self.attributor.accounts.items()
                if a.domain.component in CPU_TIME_SPLIT and a.domain.quality == "measured"
            }
        fits = {d: m for d, p in points.items() if (m := fit(p, d, "learned")) is not None}
        if not fits:
            return []
        try:  # merged into the saved model as it is now: runs may have added theirs
            model, _ = refine(self.config, self.host, fits)
        except (ImpactError, OSError) as exc:
            log.warning("impactlib serve: the power model could not be saved: %s", exc)
            model = merge(self._model, fits, host=self.host)
        self._model = model
        with self.lock:
            self.attributor.set_floors(
                {d: Floor(*f) for d in fits if (f := model.floor_w(d)) is not None}
            )
        return [model.domains[d] for d in fits]

    # -- sampling ----------------------------------------------------------------------
    def tick(self) -> None:
        """Read everything once and attribute the interval since the previous tick."""
        with self.lock:
            self._tick()

    def refresh(self, max_age_s: float = MIN_REFRESH_S) -> None:
        """Tick now unless the latest tick is younger than ``max_age_s``."""
        with self.lock:
            last = self._last
            if last is None or time.monotonic_ns() - last.mono_ns >= max_age_s * 1e9:
                self._tick()

    def _tick(self) -> None:
        mono_ns, wall_ns = time.monotonic_ns(), time.time_ns()
        try:
            machine: MachineCpu | None = self.meters.machine.read()
        except (OSError, ValueError):
            machine = None
        energy = self._read_meters(Tick(mono_ns / 1e9, machine))
        if self._has_gpu and mono_ns / 1e9 - self._gpu_at >= GPU_REFRESH_S:
            self._gpu_at = mono_ns / 1e9
            self._refresh_gpu_weights()
        scan = self.table.scan()
        last = self._last
        self._last = _Reading(mono_ns, energy, machine)
        if last is None:
            return
        # A domain missing from this reading is a gap: the next good one covers it.
        for domain, joules in last.energy_j.items():
            energy.setdefault(domain, joules)
        busy = None
        if machine is None:  # so is the machine's CPU time: the next reading covers it
            self._last = self._last._replace(machine=last.machine)
        elif last.machine is not None:
            busy = max(machine.busy_s - last.machine.busy_s, 0.0)
        deltas = {d: e - last.energy_j.get(d, e) for d, e in energy.items()}
        interval = Interval((mono_ns - last.mono_ns) / 1e9, wall_ns, deltas, busy)
        self.attributor.account(interval, scan, self.table.procs)

    def _read_meters(self, tick: Tick) -> dict[str, float]:
        # A driver hiccup is a gap, never the daemon's end (the meter set logs it).
        return self.meters.decode(self.meters.capture(), tick)

    def _refresh_gpu_weights(self) -> None:
        weights: dict[str, dict[int, float]] = {}
        for meter in self.meters.meters:
            try:
                for domain, per_pid in meter.process_weights().items():
                    weights[domain] = dict(per_pid)
                self.attributor.gpu_migs.update(meter.mig_devices())
            except Exception as exc:  # keep the previous weights
                log.debug("impactlib serve: GPU processes of %s: %r", meter.name, exc)
        self.attributor.gpu_weights.update(weights)

    # -- the store ---------------------------------------------------------------------
    def flush(self, everything: bool = False) -> bool:
        """Send finished minutes (every minute when ``everything``) to the store; True when
        nothing is left waiting. A failure keeps the rows for the next flush."""
        with self.lock:
            before = None if everything else time.time_ns() // 60_000_000_000
            rows = [r._asdict() for r in self.attributor.minutes.take(self.host, before)]
            self.attributor.forget_minutes(before)
            self.attributor.forget_jobs(int(JOB_RETAIN_S * 1e9))
        pending = self._unsent + rows
        if not pending:
            return True
        try:
            if self._store is None:
                self._store = self._store_opener(self.config)
            self._store.add_host_minutes(pending)
        except ImpactError as exc:
            if self.store_problem is None:
                log.warning("impactlib serve: the store is unavailable, buffering: %s", exc)
            self.store_problem = str(exc)
            self._unsent = pending
            self._drop_store()
            return False
        self._unsent = []
        self.store_problem = None
        return True

    def _drop_store(self) -> None:
        if self._store is not None:
            try:
                self._store.close()
            except Exception as exc:  # a broken connection may fail to close, too
                log.debug("impactlib serve: closing the store: %r", exc)
            self._store = None

    @property
    def unsent_rows(self) -> int:
        """Per-minute rows waiting for the store."""
        return len(self._unsent)

    # -- the loop ----------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Tick every ``interval`` until ``stop`` is set; flush and learn on their periods."""
        interval = self.config.interval
        next_at = time.monotonic()
        next_flush = next_at + FLUSH_S
        next_learn = next_at + LEARN_S
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # one bad tick must not end the measurement of the machine
                log.exception("impactlib serve: tick failed")
            now = time.monotonic()
            if now >= next_flush:
                next_flush = now + FLUSH_S
                self.flush()
            if now >= next_learn:
                next_learn = now + LEARN_S
                self.learn()
            next_at += interval
            if next_at < now:  # fell behind: resume from now
                next_at = now + interval
            stop.wait(next_at - now)

    def close(self) -> None:
        """Flush everything (as far as the store allows) and release the meters."""
        self.flush(everything=True)
        self._drop_store()
        with self.lock:
            self.meters.close()
            self.table.close()
