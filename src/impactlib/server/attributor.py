"""Machine-wide attribution: every interval's energy split between every process at once.

A tracker's :class:`~impactlib.attribution.window.Window` splits each domain between its one
scope and "everyone else". The daemon needs the same split for *every* process, so this
module applies the same per-interval arithmetic (:func:`~impactlib.attribution.shares.
cpu_shares`, ``gpu_shares``, ``memory_shares``) to each process that used the machine, with
the machine's own :class:`~impactlib.attribution.shares.DomainAccount` per domain keeping
the measured totals, the observed floor and the (power, busy CPUs) points the host power
model is learned from. Per interval and domain, with ``f`` the floor::

    charged(p)   = (E - f*dt) * s_busy(p) + f*dt * s_idle(p)      for each process p
    unattributed = E - sum charged(p)

so ``sum charged + unattributed == measured`` holds exactly, per domain and per interval,
whatever the floor. Shares are normalised where the kernel's 10 ms CPU-time steps make the
processes' CPU time add up to more than the machine's busy time in one interval, so no
interval charges more than it measured (except below the floor, where the remainder is the
measured energy the floor did not reach, negative).

What is kept, cumulative since the daemon started: per process its own energy and that of
its exited descendants (folded into the nearest live ancestor when they leave, as the
kernel folds their CPU time into ``cutime``), per user, per job, per container (a process's
cgroup names it: :mod:`impactlib.containers`), the unattributed remainder, and everything
per minute (:mod:`.minutes`) for the store.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from ..attribution.shares import (
    DomainAccount,
    Floor,
    Shares,
    cpu_shares,
    gpu_shares,
    memory_shares,
    mig_shares,
)
from ..footprint import Component, FloorSource, Quality
from ..meters import CPU_TIME_SPLIT
from ..meters.base import Domain
from ..meters.mig import MigDevice
from .minutes import MinuteBuffer, MinuteKind
from .procscan import Proc, Scan

MAX_ANCESTRY = 64  # parent links followed at most (a cycle in a torn read must not hang)


@dataclass
class Ledger:
    """A live process's energy: its own, and that of its descendants that have exited."""

    seen_ns: int  # wall time the daemon first saw it
    own: dict[str, float] = field(default_factory=dict)
    exited: dict[str, float] = field(default_factory=dict)
    cpu_s: float = 0.0  # own and exited descendants', since first seen


class Interval(NamedTuple):
    """One sampling interval of the whole machine."""

    dt_s: float
    wall_ns: int  # its end
    energy_j: Mapping[str, float]  # per domain, measured in the interval
    machine_busy_s: float | None  # the machine's busy CPU-seconds in it (None: not read)


class TreeEnergy(NamedTuple):
    """What the API answers about a process tree."""

    root: Proc
    seen_ns: int
    energy_j: dict[str, float]
    cpu_s: float
    processes: int  # live members now


def _add(into: dict[str, float], domain: str, joules: float) -> None:
    into[domain] = into.get(domain, 0.0) + joules


class MachineAttributor:
    """Attribution of every domain to every process, user and job of the machine.

    Not thread-safe by itself: the daemon holds :attr:`lock` around :meth:`account` and
    around every read.
    """

    def __init__(
        self,
        domains: Sequence[Domain],
        ncpus: int,
        total_memory: float,
        policy: str,
        model_floors_w: Mapping[str, float] | None = None,
    ) -> None:
        """``model_floors_w``: the idle power the estimation models give their own domains
        (``MeterSet.known_floors_w``), which a tracker's window uses too: the same floor is
        named the same in the daemon's answers and in a tracker's record."""
        if policy not in ("usage", "none"):
            raise ValueError(f"idle policy {policy!r}: the daemon attributes by usage or none")
        self.domains = {d.id: d for d in domains}
        self.accounts = {d.id: DomainAccount(d) for d in domains}
        for domain_id, idle_w in (model_floors_w or {}).items():
            self.accounts[domain_id].known_floor = Floor(idle_w, FloorSource.MODEL)
        self.ncpus = ncpus
        self.total_memory = total_memory
        self.policy = policy
        self.ledgers: dict[Proc, Ledger] = {}
        self.users: dict[int, dict[str, float]] = {}
        self.jobs: dict[str, dict[str, float]] = {}
        self.job_seen_ns: dict[str, int] = {}  # when each job was last charged
        self.containers: dict[str, dict[str, float]] = {}  # by ``runtime:id``
        self.container_seen_ns: dict[str, int] = {}  # when each container was last charged
        self.unattributed: dict[str, float] = dict.fromkeys(self.domains, 0.0)
        self.minutes = MinuteBuffer()
        self.gpu_weights: dict[str, dict[int, float]] = {}
        self.gpu_migs: dict[str, MigDevice] = {}  # GPUs in MIG mode: split by instance
        self.last_wall_ns = 0
        self._trees: dict[Proc, str] = {}  # each process's tree name, this interval
        self.lock = threading.Lock()

    # -- floors ------------------------------------------------------------------------
    def floor(self, domain: str) -> Floor:
        """The domain's idle power now: the host power model's, else the lowest seen."""
        return self.accounts[domain].floor

    def set_floors(self, floors: Mapping[str, Floor]) -> None:
        """Floors from the host power model (calibrated or learned), for measured domains."""
        for domain, floor in floors.items():
            account = self.accounts.get(domain)
            if account is not None and account.domain.quality is Quality.MEASURED:
                account.known_floor = floor

    # -- accounting --------------------------------------------------------------------
    def ledger(self, proc: Proc, now_ns: int) -> Ledger:
        """The process's ledger, opened now if it has none yet."""
        ledger = self.ledgers.get(proc)
        if ledger is None:
            ledger = self.ledgers[proc] = Ledger(now_ns)
        return ledger

    def account(self, interval: Interval, scan: Scan, procs: Mapping[int, Proc]) -> None:
        """Split one interval between the processes that used it, then fold the processes
        that left into their nearest live ancestor."""
        minute = interval.wall_ns // 60_000_000_000
        self.last_wall_ns = interval.wall_ns
        self._trees.clear()
        for proc, usage in ((u.proc, u.cpu_s) for u in scan.used):
            ledger = self.ledger(proc, interval.wall_ns)
            ledger.cpu_s += usage
        for domain_id, energy in interval.energy_j.items():
            account = self.accounts.get(domain_id)
            if account is None or interval.dt_s <= 0:
                continue
            machine_busy = interval.machine_busy_s
            energy = max(energy, 0.0)
            account.add(energy, interval.dt_s, minute, Shares(1.0, 1.0), machine_busy)
            self.minutes.add_machine(minute, account.domain, energy, account.floor_w)
            charged = self._split(account.domain, energy, interval, scan, procs, minute)
            self.unattributed[domain_id] += energy - charged
            self.minutes.add(minute, MinuteKind.UNATTRIBUTED, "", account.domain, energy - charged)
        self._fold(scan.gone, procs)

    def _split(
        self,
        domain: Domain,
        energy: float,
        interval: Interval,
        scan: Scan,
        procs: Mapping[int, Proc],
        minute: int,
    ) -> float:
        """Charge every process its part of one domain's interval; return the total."""
        dt = interval.dt_s
        floor_j = self.floor(domain.id).watts * dt
        total = 0.0
        for proc, shares in self._shares(domain, interval, scan, procs):
            joules = max((energy - floor_j) * shares.busy + floor_j * shares.idle, 0.0)
            if joules <= 0.0:
                continue
            total += joules
            self._charge(proc, domain, joules, minute, procs)
        return total

    def _shares(
        self, domain: Domain, interval: Interval, scan: Scan, procs: Mapping[int, Proc]
    ) -> Iterable[tuple[Proc, Shares]]:
        dt = interval.dt_s
        if domain.component in CPU_TIME_SPLIT:
            used = sum(u.cpu_s for u in scan.used)
            # Tick-quantised CPU times can add up to a hair more than the machine's busy
            # time or its capacity in one interval: normalise, never charge more than 100 %.
            busy = max(interval.machine_busy_s or 0.0, used)
            span = max(dt, used / self.ncpus)
            for u in scan.used:
                yield u.proc, cpu_shares(self.policy, u.cpu_s, busy, self.ncpus, span, 1.0)
        elif domain.component is Component.GPU and domain.id in self.gpu_migs:
            # Each instance's share, its processes alike (no per-process samples on MIG)
            device = self.gpu_migs[domain.id]
            for instance in device.instances:
                for pid in instance.pids:
                    proc = procs.get(pid)
                    if proc is not None:
                        part = {instance.uuid: 1.0 / len(instance.pids)}
                        yield proc, mig_shares(self.policy, device, part)
        elif domain.component is Component.GPU:
            weights = self.gpu_weights.get(domain.id, {})
            total = float(sum(weights.values()))
            for pid, weight in weights.items():
                proc = procs.get(pid)
                if proc is not None:
                    yield proc, gpu_shares(self.policy, weight, total, True, True)
        elif domain.component is Component.MEMORY and self.total_memory > 0:
            for proc in procs.values():
                if proc.rss_bytes:
                    held = proc.rss_bytes / self.total_memory
                    yield proc, memory_shares(self.policy, proc.rss_bytes, self.total_memory, held)

    def _charge(
        self, proc: Proc, domain: Domain, joules: float, minute: int, procs: Mapping[int, Proc]
    ) -> None:
        _add(self.ledger(proc, self.last_wall_ns).own, domain.id, joules)
        _add(self.users.setdefault(proc.uid, {}), domain.id, joules)
        self.minutes.add(minute, MinuteKind.USER, str(proc.uid), domain, joules)
        if proc.job is not None:
            _add(self.jobs.setdefault(proc.job, {}), domain.id, joules)
            self.job_seen_ns[proc.job] = self.last_wall_ns
            self.minutes.add(minute, MinuteKind.JOB, proc.job, domain, joules)
        if proc.container is not None:
            name = proc.container.name
            _add(self.containers.setdefault(name, {}), domain.id, joules)
            self.container_seen_ns[name] = self.last_wall_ns
            self.minutes.add(minute, MinuteKind.CONTAINER, name, domain, joules)
        tree = self._trees.get(proc)
        if tree is None:  # once per process and interval, whatever the number of domains
            root = self.tree_root(proc, procs)
            tree = self._trees[proc] = f"{root.uid}:{root.comm}[{root.pid}]"
        self.minutes.add(minute, MinuteKind.TREE, tree, domain, joules)

    @staticmethod
    def tree_root(proc: Proc, procs: Mapping[int, Proc]) -> Proc:
        """The highest ancestor of ``proc`` run by the same user: the session or job step a
        user started, which per-tree aggregates are kept for."""
        root = proc
        for _ in range(MAX_ANCESTRY):
            parent = procs.get(root.ppid)
            if parent is None or parent.uid != proc.uid or parent.pid <= 1:
                break
            root = parent
        return root

    def _fold(self, gone: Sequence[Proc], procs: Mapping[int, Proc]) -> None:
        """Give the energy of processes that left to their nearest live ancestor (through
        ancestors that left in the same interval)."""
        gone_by_pid = {p.pid: p for p in gone}
        for proc in gone:
            ledger = self.ledgers.pop(proc, None)
            if ledger is None:
                continue
            ancestor = proc.ppid
            for _ in range(MAX_ANCESTRY):
                if ancestor not in gone_by_pid:
                    break
                ancestor = gone_by_pid[ancestor].ppid
            heir = procs.get(ancestor)
            if heir is None:
                continue
            target = self.ledger(heir, self.last_wall_ns)
            target.cpu_s += ledger.cpu_s
            for domain in set(ledger.own) | set(ledger.exited):
                joules = ledger.own.get(domain, 0.0) + ledger.exited.get(domain, 0.0)
                _add(target.exited, domain, joules)

    def forget_jobs(self, idle_ns: int) -> None:
        """Drop the totals of jobs charged nothing for ``idle_ns`` (finished): a daemon runs
        for months, and every job ever run would stay in memory and in ``/metrics`` as a
        series. Their energy is in the store's minutes."""
        for job in [j for j, at in self.job_seen_ns.items() if self.last_wall_ns - at > idle_ns]:
            del self.jobs[job], self.job_seen_ns[job]
        seen = self.container_seen_ns  # containers come and go like jobs
        for name in [c for c, at in seen.items() if self.last_wall_ns - at > idle_ns]:
            del self.containers[name], seen[name]

    def forget_minutes(self, before: int | None) -> None:
        """Drop the machine accounts' per-minute sums before minute ``before`` (all when
        None): the daemon keeps its minutes in :attr:`minutes`, and a year of them in every
        account would only grow."""
        for account in self.accounts.values():
            for minute in [m for m in account.minutes if before is None or m < before]:
                del account.minutes[minute]

    # -- reading -----------------------------------------------------------------------
    def tree(self, root: Proc, procs: Mapping[int, Proc]) -> TreeEnergy:
        """Energy of the tree rooted at ``root`` (exited descendants included)."""
        children: dict[int, list[Proc]] = {}
        for proc in procs.values():
            children.setdefault(proc.ppid, []).append(proc)
        energy = dict.fromkeys(self.domains, 0.0)
        cpu_s = 0.0
        members = 0
        stack = [root]
        seen: set[int] = set()
        while stack:
            proc = stack.pop()
            if proc.pid in seen:
                continue
            seen.add(proc.pid)
            members += 1
            stack.extend(children.get(proc.pid, ()))
            ledger = self.ledgers.get(proc)
            if ledger is None:
                continue
            cpu_s += ledger.cpu_s
            for part in (ledger.own, ledger.exited):
                for domain, joules in part.items():
                    energy[domain] += joules
        seen_ns = self.ledger(root, self.last_wall_ns).seen_ns
        return TreeEnergy(root, seen_ns, energy, cpu_s, members)

    def domain_energy(self) -> dict[str, float]:
        """Joules per whole domain since the daemon started (measured or modelled, as the
        domain's quality says)."""
        return {d: a.total.energy for d, a in self.accounts.items()}
