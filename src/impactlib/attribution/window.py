"""One tracker's window on the shared samples: turns them into attributed energy.

The sampler hands every tracker the same readings; each :class:`Window` keeps its own
baseline, its own :mod:`scope <impactlib.attribution.scope>` and its own attribution
accounts, which is what makes nested and concurrent trackers independent. At each tick the
sampler asks it to :meth:`~Window.capture` its tree's raw counters; the samples and those
captures come back later, in tick order, and :meth:`~Window.account` splits each interval.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from ..config import Config
from ..footprint import ChargedTo, Component, ComponentEnergy, FloorSource, Quality
from ..meters import CPU_TIME_SPLIT, MeterSet
from ..meters.base import Meter, Tick
from ..meters.mig import MigDevice
from ..procfs import (
    CgroupCapture,
    CgroupCounters,
    ProcessTree,
    TreeCapture,
    online_cpus,
    total_memory_bytes,
)
from ..sampling import Delivered, Sample
from ..units import NS_PER_MINUTE
from .scope import CgroupScope, MachineScope, PendingTreeScope, Scope, TreeScope
from .shares import (
    DomainAccount,
    Floor,
    Shares,
    components,
    cpu_shares,
    gpu_shares,
    memory_shares,
    mig_held,
    mig_shares,
    minute_series,
)

GPU_PROCESS_REFRESH_S = 5.0  # NVML process queries are slow and serialising: <= 0.2 Hz
TIME_SLICED = "GPU split: time-sliced by SM samples"


class GpuShare(NamedTuple):
    """The scope's part of one GPU's recent per-process utilisation samples, or of its
    MIG instances (``mig``: the shares already, ``splits``: which instances)."""

    ours: float
    total: float
    ours_present: bool  # one of our processes holds a context on the device
    mig: Shares | None = None
    splits: tuple[str, ...] = ()


class ScopeCapture(NamedTuple):
    """What one tick saw of the scope."""

    tree: ProcessTree | None  # to recognise captures taken before attach()
    counters: TreeCapture  # the tree's raw counters (empty without a tree)
    gpu: dict[str, GpuShare] | None  # every few seconds, per GPU domain
    cgroup: CgroupCapture | None = None  # a cgroup scope's raw counters


class _Last(NamedTuple):
    """A domain's previous good reading, which the next interval starts from."""

    mono_ns: int
    energy_j: float
    scope_cpu_s: float
    machine_busy_s: float


class ScopeUsage(NamedTuple):
    """The scope's cumulative usage at one sample."""

    cpu_s: float
    rss_bytes: int


class Window:
    """Attributed energy of one scope since its baseline (the first sample it accounts)."""

    def __init__(self, meters: MeterSet, config: Config, scope: Scope) -> None:
        self.meters = meters
        self.policy = config.idle_policy
        self.scope = scope
        self._procfs_root = config.procfs_root
        self.tree = (
            ProcessTree(scope.pid, config.procfs_root) if isinstance(scope, TreeScope) else None
        )
        self.cgroup = (
            CgroupCounters(scope.cpu_file, scope.memory_file, scope.version)
            if isinstance(scope, CgroupScope)
            else None
        )
        self.ncpus = online_cpus(config.procfs_root)
        self.total_memory = float(total_memory_bytes(config.procfs_root))
        self.accounts = {d.id: DomainAccount(d) for d in meters.domains()}
        for domain_id, idle_w in meters.known_floors_w().items():
            self.accounts[domain_id].known_floor = Floor(idle_w, FloorSource.MODEL)
        self.held_cpu_fraction = self._held_cpus()
        self._own: list[Meter] = []  # read by this window alone (add_time_meter)
        self._last: dict[str, _Last] = {}
        self._gpu_shares: dict[str, GpuShare] = {}
        self._gpu_refreshed: float | None = None
        self._has_gpu = any(a.domain.component is Component.GPU for a in self.accounts.values())
        self.first_ns = self.last_ns = 0
        self.first_wall_ns = self.last_wall_ns = 0
        self.scope_cpu_s = 0.0
        self.rss = 0
        self.peak_rss = 0
        self.gpu_seconds = 0.0
        self._machine_busy_at_start = 0.0
        self._begun = False
        # capture() runs in the sampler thread, account() in the tracker's: the tree is
        # touched by one at a time.
        self._lock = threading.Lock()

    @property
    def charged_to(self) -> ChargedTo:
        """What the run is charged for (the machine, a process tree, a cgroup)."""
        return self.scope.charged_to

    def set_known_floors(self, floors: Mapping[str, Floor]) -> None:
        """Floors from the host power model, for the domains it knows."""
        for domain_id, floor in floors.items():
            account = self.accounts.get(domain_id)
            if account is not None and account.domain.quality is Quality.MEASURED:
                account.known_floor = floor

    def add_time_meter(self, meter: Meter, floor: Floor) -> None:
        """Count a meter whose energy depends on time alone (the platform's constant power
        calibrated in the host power model, which the shared sampler's meters do not know):
        the window decodes it at each sample's moment. Before the baseline only."""
        for domain in meter.domains():
            self.accounts[domain.id] = DomainAccount(domain, known_floor=floor)
        self._own.append(meter)

    def _held_cpus(self) -> float:
        """The share of the machine's CPUs the scope may run on (what a job holds: its
        cgroup's cpuset or SLURM's count; else the tree's affinity mask)."""
        if not isinstance(self.scope, MachineScope) and self.scope.cpus:
            return min(self.scope.cpus / self.ncpus, 1.0)
        pid = self.tree.root_pid if self.tree is not None else None
        if pid is None:
            return 1.0
        try:
            return len(os.sched_getaffinity(pid)) / self.ncpus
        except (OSError, AttributeError):
            return 1.0

    # -- at every tick (sampler thread, under the sampler's lock) ------------------------
    def capture(self) -> ScopeCapture:
        """The scope's raw usage now."""
        with self._lock:
            now_s = time.monotonic()
            gpu = self._gpu_shares_now(now_s) if self._has_gpu else None
            if self.cgroup is not None:
                return ScopeCapture(None, (), gpu, self.cgroup.capture())
            if self.tree is None:
                return ScopeCapture(None, (), gpu)
            return ScopeCapture(self.tree, self.tree.capture(now_s), gpu)

    def _gpu_shares_now(self, now_s: float) -> dict[str, GpuShare] | None:
        """Our share of each GPU's per-process samples, at most every few seconds."""
        if self._gpu_refreshed is None:  # the baseline: the first query comes a tick later
            self._gpu_refreshed = now_s - GPU_PROCESS_REFRESH_S
            return None
        if now_s - self._gpu_refreshed < GPU_PROCESS_REFRESH_S:
            return None
        self._gpu_refreshed = now_s
        ours = set(self.tree.pids()) if self.tree is not None else None
        if self.cgroup is not None:
            ours = self.cgroup.pids()
        shares: dict[str, GpuShare] = {}
        for meter in self.meters.meters:
            try:
                weights = meter.process_weights()
            except Exception:  # a driver hiccup: keep the previous shares
                continue
            for domain_id, per_pid in weights.items():
                total = float(sum(per_pid.values()))
                if ours is None:
                    shares[domain_id] = GpuShare(total, total, bool(per_pid))
                    continue
                mine = [w for pid, w in per_pid.items() if pid in ours]
                shares[domain_id] = GpuShare(float(sum(mine)), total, bool(mine))
            try:
                migs = meter.mig_devices()
            except Exception:  # a driver hiccup: keep the previous shares
                continue
            for domain_id, device in migs.items():
                shares[domain_id] = self._mig_share(device, ours)
        return shares

    def _mig_share(self, device: MigDevice, ours: set[int] | None) -> GpuShare:
        """The scope's shares of a GPU in MIG mode: of the instances it runs on, or that
        its ``CUDA_VISIBLE_DEVICES`` names (every instance, for the machine)."""
        if ours is None:
            held = {instance.uuid: 1.0 for instance in device.instances}
        else:
            held = mig_held(device, ours)
        mig = mig_shares(self.policy, device, held)
        splits = tuple(
            f"GPU split: {instance.describe(device.sms)}"
            for instance in device.instances
            if instance.uuid in held
        )
        if splits:
            splits += (f"MIG activity from {device.activity.value}",)
        return GpuShare(mig.busy, 1.0, bool(held), mig, splits)

    def inner(self, config: Config) -> Window:
        """A second accounting view of this scope from now on (a steady-state window inside
        the run, :mod:`.work`): the same scope and meters (the run's own time meters too),
        starting from the GPU shares seen so far, so that its first seconds are split as the
        run's are."""
        inner = Window(self.meters, config, self.scope)
        with self._lock:
            if inner.tree is None and self.tree is not None:  # a pending tree, attached since
                inner.tree = ProcessTree(self.tree.root_pid, self._procfs_root)
            inner._gpu_shares = dict(self._gpu_shares)
        for meter in self._own:  # the run's time meters (a calibrated platform power)
            for domain in meter.domains():
                floor = self.accounts[domain.id].known_floor
                inner.accounts[domain.id] = DomainAccount(domain, known_floor=floor)
        inner._own = list(self._own)
        return inner

    # -- the scope's process (tracker thread) --------------------------------------------
    def attach(self, pid: int) -> None:
        """Give a pending tree scope its process (started after the baseline, so its whole
        CPU time falls inside the window). Ignored by other scopes."""
        if not isinstance(self.scope, PendingTreeScope):
            return
        tree = ProcessTree(pid, self._procfs_root, root_is_new=True)
        with self._lock:
            self.tree = tree
        self.held_cpu_fraction = self._held_cpus()

    def account_exit(self, root_cpu_s: float) -> None:
        """The tracked root's exit rusage (``wait4``), once it was reaped."""
        with self._lock:
            if self.tree is not None:
                self.tree.account_exit(root_cpu_s)

    # -- accounting (tracker thread) -----------------------------------------------------
    def account(self, delivery: Iterable[Delivered[ScopeCapture]]) -> None:
        """Account samples in tick order; the very first one is the baseline."""
        with self._lock:
            for sample, captured in delivery:
                if captured is not None and captured.gpu is not None:
                    self._gpu_shares.update(captured.gpu)
                energy = self._energy(sample)
                if self._begun:
                    self._interval(sample, energy, captured)
                else:
                    self._baseline(sample, energy, captured)

    def _energy(self, sample: Sample) -> Mapping[str, float]:
        """The sample's cumulative joules per domain, and those of the window's own meters."""
        if not self._own:
            return sample.energy_j
        energy = dict(sample.energy_j)
        tick = Tick(sample.monotonic_ns / 1e9, None)
        for meter in self._own:
            energy.update(meter.decode(None, tick))
        return energy

    def _baseline(
        self, sample: Sample, energy_j: Mapping[str, float], captured: ScopeCapture | None
    ) -> None:
        self._begun = True
        self.first_ns = self.last_ns = sample.monotonic_ns
        self.first_wall_ns = self.last_wall_ns = sample.wall_ns
        busy = sample.machine.busy_s if sample.machine else 0.0
        self._machine_busy_at_start = busy
        usage = self._usage(sample, captured)
        scope_cpu, self.rss = usage.cpu_s, usage.rss_bytes
        self.peak_rss = max(self.peak_rss, usage.rss_bytes)
        for domain_id, energy in energy_j.items():
            if domain_id in self.accounts:
                self._last[domain_id] = _Last(sample.monotonic_ns, energy, scope_cpu, busy)

    def _usage(self, sample: Sample, captured: ScopeCapture | None) -> ScopeUsage:
        """The scope's cumulative CPU time and memory at this sample."""
        if isinstance(self.scope, MachineScope):
            if sample.machine is None:  # not read at this tick (estimated CPU only)
                return ScopeUsage(self.scope_cpu_s, 0)
            # The whole machine's busy time since the baseline (not since boot)
            return ScopeUsage(sample.machine.busy_s - self._machine_busy_at_start, 0)
        if self.cgroup is not None:
            if captured is None or captured.cgroup is None:
                return ScopeUsage(self.scope_cpu_s, self.rss)
            counted = self.cgroup.account(captured.cgroup)
            return ScopeUsage(counted.cpu_s, counted.memory_bytes)
        if self.tree is None:  # a pending tree not attached yet: nothing used so far
            return ScopeUsage(0.0, 0)
        if captured is None or captured.tree is not self.tree:  # taken before attach()
            return ScopeUsage(self.scope_cpu_s, self.rss)
        usage = self.tree.account(captured.counters)
        return ScopeUsage(usage.cpu_s, usage.rss_bytes)

    def _interval(
        self, sample: Sample, energy_j: Mapping[str, float], captured: ScopeCapture | None
    ) -> None:
        """Account the interval since each domain's last good reading."""
        usage = self._usage(sample, captured)
        # Memory held over the interval: the mean of its two ends (a process that exits
        # holds nothing at the end, and one attached late held nothing at the start)
        held_rss = (self.rss + usage.rss_bytes) // 2
        self.scope_cpu_s = usage.cpu_s
        self.rss = usage.rss_bytes
        self.peak_rss = max(self.peak_rss, usage.rss_bytes)
        busy = sample.machine.busy_s if sample.machine else None
        minute = sample.wall_ns // NS_PER_MINUTE
        for domain_id, energy in energy_j.items():
            account = self.accounts.get(domain_id)
            if account is None:
                continue
            split_by_cpu = (  # the daemon has already split an attributed domain
                account.domain.component in CPU_TIME_SPLIT
                and account.domain.quality is not Quality.ATTRIBUTED
            )
            if split_by_cpu and busy is None:
                continue  # a gap: the next sample with the machine's CPU time covers it
            now = _Last(sample.monotonic_ns, energy, usage.cpu_s, busy or 0.0)
            last = self._last.get(domain_id)
            if last is None:
                self._last[domain_id] = now
                continue
            dt = (now.mono_ns - last.mono_ns) / 1e9
            if dt <= 0:
                continue
            machine_busy = now.machine_busy_s - last.machine_busy_s if split_by_cpu else None
            shares = self._shares(
                account, dt, usage.cpu_s - last.scope_cpu_s, machine_busy or 0.0, held_rss
            )
            account.add(energy - last.energy_j, dt, minute, shares, machine_busy)
            if account.domain.component is Component.GPU and shares.busy > 0:
                self.gpu_seconds += dt
            self._last[domain_id] = now
        self.last_ns = sample.monotonic_ns
        self.last_wall_ns = sample.wall_ns

    def _shares(
        self, account: DomainAccount, dt: float, scope_cpu: float, machine_busy: float, rss: int
    ) -> Shares:
        if isinstance(self.scope, MachineScope) or account.domain.quality is Quality.ATTRIBUTED:
            return Shares(1.0, 1.0)
        component = account.domain.component
        if component is Component.GPU:
            share = self._gpu_shares.get(account.domain.id, GpuShare(0.0, 0.0, False))
            if share.mig is not None:
                account.splits.update(dict.fromkeys(share.splits))
                return share.mig
            if share.ours_present and share.total > share.ours:  # others ran on it too
                account.splits[TIME_SLICED] = None
            return gpu_shares(self.policy, share.ours, share.total, share.ours_present, True)
        if component is Component.MEMORY:
            held = rss / self.total_memory if self.total_memory else 0.0
            limit = None if isinstance(self.scope, MachineScope) else self.scope.memory_bytes
            if limit and self.total_memory:  # a job holds its limit, not only its use
                held = min(limit / self.total_memory, 1.0)
            return memory_shares(self.policy, rss, self.total_memory, held)
        return cpu_shares(
            self.policy, scope_cpu, machine_busy, self.ncpus, dt, self.held_cpu_fraction
        )

    # -- results -------------------------------------------------------------------------
    @property
    def duration_s(self) -> float:
        """Seconds between the baseline and the latest sample."""
        return (self.last_ns - self.first_ns) / 1e9

    def components(self) -> tuple[ComponentEnergy, ...]:
        """Per-domain attributed energy so far."""
        return components(self.accounts.values(), self.charged_to, self.meters.served_floors())

    def minute_series(self, since: int | None = None) -> dict[tuple[int, Component], float]:
        """Charged energy per (UTC epoch minute, component kind), from minute ``since``."""
        return minute_series(self.accounts.values(), since)

    def observed_floors_w(self) -> dict[str, float]:
        """Lowest power seen per measured domain (remembered for this host)."""
        return {
            d: a.observed_floor_w
            for d, a in self.accounts.items()
            if a.observed_floor_w is not None and a.domain.quality is Quality.MEASURED
        }

    def close(self) -> None:
        """Release the process tree's descriptors."""
        with self._lock:
            if self.tree is not None:
                self.tree.close()
            if self.cgroup is not None:
                self.cgroup.close()
