"""The sampler: one background thread per process that reads every meter at a fixed interval.

Every tracker in the process subscribes to the same sampler (nested and concurrent trackers
share it), so the hardware is read once per tick however many trackers there are. Each tick
is stamped with ``monotonic_ns`` (for intervals: immune to NTP jumps) and UTC wall time (to
line energy up with carbon intensity).

A tick only *captures*: it copies counter bytes from kept-open files (meters, ``/proc/stat``,
each tracked process) and goes back to sleep. Parsing, unwrapping and attribution happen in
one batch per checkpoint (or when a tracker asks for its figures), in tick order, so they
give exactly the figures a per-tick computation would. Why: a thread that wakes once a
second finds its code and data out of the CPU caches, and on the machines we measured the
cold per-tick cost was several times the warm one; doing the Python work ten ticks at a
time pays that price once per batch (docs/benchmarks.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from .log import log
from .meters import MeterCapture, MeterSet, MeterSettings, open_meters
from .meters.base import Tick
from .procfs import MachineCpu


class Sample(NamedTuple):
    """One reading of every meter and of the machine's CPU time."""

    monotonic_ns: int
    wall_ns: int
    energy_j: Mapping[str, float]  # cumulative per domain; a missing domain is a gap
    machine: MachineCpu | None


C = TypeVar("C")
C_co = TypeVar("C_co", covariant=True)


class Listener(Protocol[C_co]):
    """A subscriber of the sampler (a tracker's attribution window), with its own capture
    type."""

    def capture(self) -> C_co:
        """Called at every tick, under the sampler's lock: copy the scope's raw usage
        counters and nothing more (no parsing, no locks of the caller's)."""


class Delivered(NamedTuple, Generic[C]):
    """A decoded sample, with what the listener captured at that same tick."""

    sample: Sample
    capture: C | None  # None: the listener's capture failed at that tick


class _RawTick(NamedTuple):
    """What one tick captured, before decoding."""

    monotonic_ns: int
    wall_ns: int
    meters: MeterCapture  # every meter that reads at ticks, and the wall's integral
    machine: bytes | None  # raw /proc/stat, or None where it was not read
    listeners: tuple[Listener[Any], ...]  # whom the tick is for
    captures: tuple[object, ...]  # one per listener, in the same order


class Sampler:
    """Captures a :class:`MeterSet` every ``interval_s`` seconds in a daemon thread.

    Phases, one verb each: a tick *captures* (:meth:`_capture`), a take *decodes* the pending
    ticks into :class:`Sample` s (:meth:`_decode`) and *delivers* them to each listener's
    inbox; the listener then *accounts* them (its own business, outside the sampler's lock).

    Lock order: ``Tracker._lock`` -> ``Sampler._lock`` -> the window's lock. The sampler
    thread takes only its own lock and, under it, each listener's ``capture`` (which takes
    the window's); it calls ``collect`` (which takes the tracker's) after releasing it.
    """

    def __init__(self, meters: MeterSet, interval_s: float) -> None:
        self.meters = meters
        self.interval_s = interval_s
        self._cpu = meters.machine
        self._machine_each_tick = meters.machine_cpu_each_tick()
        self._inboxes: dict[Listener[Any], list[Delivered[Any]]] = {}
        self._listeners: tuple[Listener[Any], ...] = ()  # the keys of _inboxes, for the ticks
        self._collectors: dict[Listener[Any], tuple[Callable[[], None], float]] = {}
        self._pending: list[_RawTick] = []
        self._lock = threading.RLock()
        # The running thread's token; a thread whose token is no longer this one ends.
        self._running: object | None = None
        self._next_collect_ns = 0

    # -- under the lock ----------------------------------------------------------------
    def _capture(self, only: Listener[Any] | None = None, machine_cpu: bool = True) -> None:
        """Capture a tick for every listener, or for ``only`` (a listener's own first, last
        or current sample, which the others do not need: it would only split their
        intervals). ``machine_cpu=False`` skips ``/proc/stat`` where nothing needs it."""
        meters = self.meters.capture()
        machine: bytes | None = None
        if machine_cpu or self._machine_each_tick:
            try:
                machine = self._cpu.capture()
            except OSError:
                machine = None
        targets = self._listeners if only is None else (only,)
        captures: list[object] = []
        for listener in targets:
            try:
                captures.append(listener.capture())
            except Exception:  # a tracker bug must never kill training
                log.exception("impactlib listener failed; measurement continues")
                captures.append(None)
        self._pending.append(
            _RawTick(
                time.monotonic_ns(),
                time.time_ns(),
                meters,
                machine,
                targets,
                tuple(captures),
            )
        )

    def _decode(self) -> None:
        """Turn pending ticks into samples, in order, and deliver them to their listeners."""
        for raw in self._pending:
            try:
                machine = self._cpu.parse(raw.machine) if raw.machine is not None else None
            except ValueError:
                machine = None
            energy = self.meters.decode(raw.meters, Tick(raw.monotonic_ns / 1e9, machine))
            sample = Sample(raw.monotonic_ns, raw.wall_ns, energy, machine)
            for listener, capture in zip(raw.listeners, raw.captures, strict=True):
                inbox = self._inboxes.get(listener)
                if inbox is not None:  # else it has left since
                    inbox.append(Delivered(sample, capture))
        self._pending.clear()

    # -- listeners ---------------------------------------------------------------------
    def subscribe(
        self, listener: Listener[C], collect: Callable[[], None], collect_every_s: float
    ) -> None:
        """Add a listener; its inbox starts with a fresh sample (its baseline). The sampler
        thread calls ``collect`` at least every ``collect_every_s`` seconds, right after a
        tick: time to :meth:`take` the samples and save them."""
        with self._lock:
            self._inboxes[listener] = []
            self._listeners = tuple(self._inboxes)
            self._collectors[listener] = (collect, collect_every_s)
            self._capture(only=listener)
            now = time.monotonic_ns()
            due = now + int(collect_every_s * 1e9)
            if self._running is None:
                self._running = token = object()
                self._next_collect_ns = due
                thread = threading.Thread(
                    target=self._loop, args=(token,), name="impactlib-sampler", daemon=True
                )
                thread.start()
            else:
                self._next_collect_ns = min(self._next_collect_ns, due)

    def take(self, listener: Listener[C], fresh: bool = False) -> list[Delivered[C]]:
        """The listener's samples since it last took them, oldest first.

        ``fresh`` asks for figures up to now where they would lag: without a per-tick
        reading of the machine's CPU time the estimated CPU domain was last read at the
        latest checkpoint, so one more sample is taken, for this listener only. Where the
        machine is read at every tick, none is: a sample a few milliseconds after a tick
        splits an interval so short that the kernel's 10 ms CPU-time steps make its share
        of a measured domain meaningless; the figures then end at the latest tick.
        """
        with self._lock:
            if fresh and not self._machine_each_tick and listener in self._inboxes:
                self._capture(only=listener)
            self._decode()
            delivery = self._inboxes.get(listener)
            if delivery is None:
                return []
            self._inboxes[listener] = []
            return delivery

    def unsubscribe(self, listener: Listener[C]) -> list[Delivered[C]]:
        """Remove a listener; return its last samples, ending with one taken now."""
        with self._lock:
            if listener not in self._inboxes:
                return []
            self._capture(only=listener)
            self._decode()
            del self._collectors[listener]
            delivery = self._inboxes.pop(listener)
            self._listeners = tuple(self._inboxes)
            if not self._inboxes:
                self._running = None  # the thread ends when it next wakes
            return delivery

    # -- the thread --------------------------------------------------------------------
    def _loop(self, token: object) -> None:
        # A plain sleep, not a wait that stop() could cut short: on the machines measured
        # it costs less CPU per wake-up, and a stopped thread only lingers until its next
        # tick, doing nothing.
        interval_ns = max(int(self.interval_s * 1e9), 1)
        next_ns = time.monotonic_ns() + interval_ns
        while True:
            time.sleep(max(next_ns - time.monotonic_ns(), 0) / 1e9)
            now = time.monotonic_ns()
            next_ns += interval_ns
            if next_ns < now:  # fell behind (suspended, overloaded): resume from now
                next_ns = now + interval_ns
            with self._lock:
                if self._running is not token:
                    return
                # Half a tick of slack: a wake-up a hair early must not push the checkpoint
                # a whole tick past save_interval.
                due = now + interval_ns // 2 >= self._next_collect_ns
                self._capture(machine_cpu=due)
                if due:
                    every_s = min((e for _, e in self._collectors.values()), default=1.0)
                    self._next_collect_ns = now + int(every_s * 1e9)
                    collectors = [collect for collect, _ in self._collectors.values()]
            if due:
                for collect in collectors:
                    try:
                        collect()
                    except Exception:  # a tracker bug must never kill training
                        log.exception("impactlib listener failed; measurement continues")


_samplers: dict[MeterSettings, Sampler] = {}
_samplers_lock = threading.Lock()


def shared_sampler(settings: MeterSettings) -> Sampler:
    """The process's sampler for these meter settings (created on first use): trackers
    share one exactly when every setting that shaped its meters is the same."""
    with _samplers_lock:
        sampler = _samplers.get(settings)
        if sampler is None:
            meters = open_meters(settings)
            tick_s = meters.tick_interval_s(settings.interval_s, settings.save_interval_s)
            sampler = Sampler(meters, tick_s)
            _samplers[settings] = sampler
        return sampler
