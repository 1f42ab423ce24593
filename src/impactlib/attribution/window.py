"""One tracker's measurement window: turns shared samples into attributed energy.

The sampler hands every tracker the same readings; each :class:`Measurement` keeps its own
baseline, its own scope (a process tree or the whole machine) and its own attribution
accounts, which is what makes nested and concurrent trackers independent. At each tick the
sampler asks it to :meth:`~Measurement.capture` its tree's raw counters; the samples and
those captures come back later, in order, through :meth:`~Measurement.consume`.
"""

from __future__ import annotations

import os
import threading
import time
from typing import NamedTuple, cast

from ..config import Config
from ..footprint import ComponentEnergy
from ..meters import CPU_TIME_SPLIT
from ..procfs import ProcessTree, TreeCapture, total_memory_bytes
from ..sampling import Delivery, Sample, Sampler
from .shares import (
    DomainAccount,
    Shares,
    components,
    cpu_shares,
    gpu_shares,
    memory_shares,
    minute_series,
)

GPU_PROCESS_REFRESH_S = 5.0  # NVML process queries are slow and serialising: <= 0.2 Hz


GpuShares = dict[str, tuple[float, float, bool]]  # domain -> (ours, total, ours present)


# What one tick saw of the scope: its tree (to recognise captures taken before attach()),
# the tree's raw counters and, every few seconds, its share of each GPU's per-process
# samples. A plain tuple: this is built at every tick.
_ScopeCapture = tuple["ProcessTree | None", TreeCapture, "GpuShares | None"]


class _Last(NamedTuple):
    mono_ns: int
    energy_j: float
    scope_cpu_s: float
    machine_busy_s: float


class Measurement:
    """Attributed energy of one scope since ``begin``."""

    def __init__(
        self, sampler: Sampler, config: Config, scope_pid: int | None, new_process: bool = False
    ) -> None:
        self.sampler = sampler
        self.config = config
        self.policy = config.idle_policy
        self.scope = "machine" if scope_pid is None and not new_process else "tree"
        self.tree = (
            ProcessTree(scope_pid, config.procfs_root, root_is_new=new_process)
            if scope_pid is not None
            else None
        )
        self.ncpus = os.cpu_count() or 1
        self.total_memory = float(total_memory_bytes(config.procfs_root))
        self.accounts = {d.id: DomainAccount(d) for d in sampler.meters.domains()}
        for domain_id, floor in sampler.meters.known_floors_w().items():
            self.accounts[domain_id].prior_floor_w = floor
        self.held_cpu_fraction = self._held_cpus(scope_pid)
        self._last: dict[str, _Last] = {}
        self._gpu_shares: GpuShares = {}
        self._gpu_refreshed: float | None = None
        self._has_gpu = any(a.domain.component == "gpu" for a in self.accounts.values())
        self.first_ns = 0
        self.last_ns = 0
        self.first_wall_ns = 0
        self.last_wall_ns = 0
        self.scope_cpu_s = 0.0
        self.rss = 0
        self._machine_busy_at_start = 0.0
        self.peak_rss = 0
        self.gpu_seconds = 0.0
        self._begun = False
        # capture() runs in the sampler thread, consume() in the tracker's: the tree is
        # touched by one at a time.
        self._tree_lock = threading.Lock()

    def _held_cpus(self, pid: int | None) -> float:
        if pid is None:
            return 1.0
        try:
            return len(os.sched_getaffinity(pid)) / self.ncpus
        except (OSError, AttributeError):
            return 1.0

    # -- per tick and per sample -------------------------------------------------------
    def capture(self) -> _ScopeCapture | None:
        """The scope's raw usage now (called by the sampler at every tick)."""
        with self._tree_lock:
            now_s = time.monotonic()
            gpu = self._gpu_shares_now(now_s) if self._has_gpu else None
            if self.tree is None:
                return None if gpu is None else (None, (), gpu)
            return self.tree, self.tree.capture(now_s), gpu

    def consume(self, delivery: Delivery) -> None:
        """Account samples in tick order; the first one is the baseline."""
        with self._tree_lock:
            for sample, captured in delivery:
                scope = cast("_ScopeCapture | None", captured)
                if scope is not None and scope[2] is not None:
                    self._gpu_shares.update(scope[2])
                if self._begun:
                    self._update(sample, scope)
                else:
                    self._begin(sample, scope)

    def _begin(self, sample: Sample, captured: _ScopeCapture | None) -> None:
        self._begun = True
        self.first_ns = self.last_ns = sample.monotonic_ns
        self.first_wall_ns = self.last_wall_ns = sample.wall_ns
        busy = sample.machine.busy_s if sample.machine else 0.0
        self._machine_busy_at_start = busy
        scope_cpu = self._scope_usage(sample, captured)[0]
        for domain_id, energy in sample.energy_j.items():
            if domain_id in self.accounts:
                self._last[domain_id] = _Last(sample.monotonic_ns, energy, scope_cpu, busy)

    def attach(self, pid: int) -> None:
        """Give the process a pending tree scope measures (started after the baseline, so
        its whole CPU time falls inside the window)."""
        tree = ProcessTree(pid, self.config.procfs_root, root_is_new=True)
        with self._tree_lock:
            self.tree = tree
        self.held_cpu_fraction = self._held_cpus(pid)

    def account_exit(self, root_cpu_s: float) -> None:
        """The tracked root's exit rusage (``wait4``), once it was reaped."""
        with self._tree_lock:
            if self.tree is not None:
                self.tree.account_exit(root_cpu_s)

    def _scope_usage(self, sample: Sample, captured: _ScopeCapture | None) -> tuple[float, int]:
        if self.tree is None:
            if self.scope == "tree":  # a process about to be attached: nothing used yet
                return 0.0, 0
            if sample.machine is None:  # not read at this tick (estimated CPU only)
                return self.scope_cpu_s, 0
            # The whole machine's busy time since the baseline (not since boot)
            return sample.machine.busy_s - self._machine_busy_at_start, 0
        if captured is None or captured[0] is not self.tree:  # taken before attach()
            return self.scope_cpu_s, self.rss
        usage = self.tree.account(captured[1])
        return usage.cpu_s, usage.rss_bytes

    def _gpu_shares_now(self, now_s: float) -> GpuShares | None:
        """Our share of each GPU's per-process samples, at most every few seconds (NVML
        process queries are slow and serialising)."""
        if self._gpu_refreshed is None:  # the baseline: the first query comes a tick later
            self._gpu_refreshed = now_s - GPU_PROCESS_REFRESH_S
            return None
        if now_s - self._gpu_refreshed < GPU_PROCESS_REFRESH_S:
            return None
        self._gpu_refreshed = now_s
        ours = set(self.tree.pids()) if self.tree is not None else None
        shares: GpuShares = {}
        for meter in self.sampler.meters.meters:
            weights_of = getattr(meter, "process_weights", None)
            if not callable(weights_of):
                continue
            try:
                weights = weights_of()
            except Exception:
                continue
            for domain_id in (d.id for d in meter.domains()):
                per_pid = weights.get(domain_id, {})
                total = float(sum(per_pid.values()))
                if ours is None:
                    shares[domain_id] = (total, total, bool(per_pid))
                    continue
                mine = [w for pid, w in per_pid.items() if pid in ours]
                shares[domain_id] = (float(sum(mine)), total, bool(mine))
        return shares

    def _update(self, sample: Sample, captured: _ScopeCapture | None) -> None:
        """Account the interval since each domain's last good reading."""
        scope_cpu, rss = self._scope_usage(sample, captured)
        self.scope_cpu_s = scope_cpu
        self.rss = rss
        self.peak_rss = max(self.peak_rss, rss)
        busy = sample.machine.busy_s if sample.machine else None
        minute = int(sample.wall_ns // 60_000_000_000)
        for domain_id, energy in sample.energy_j.items():
            account = self.accounts.get(domain_id)
            if account is None:
                continue
            split_by_cpu = account.domain.component in CPU_TIME_SPLIT
            if split_by_cpu and busy is None:
                continue  # a gap: the next sample with the machine's CPU time covers it
            now = _Last(sample.monotonic_ns, energy, scope_cpu, busy or 0.0)
            last = self._last.get(domain_id)
            if last is None:
                self._last[domain_id] = now
                continue
            dt = (now.mono_ns - last.mono_ns) / 1e9
            if dt <= 0:
                continue
            machine_busy = now.machine_busy_s - last.machine_busy_s if split_by_cpu else 0.0
            shares = self._shares(account, dt, scope_cpu - last.scope_cpu_s, machine_busy, rss)
            account.add(energy - last.energy_j, dt, minute, shares)
            if account.domain.component == "gpu" and shares.busy > 0:
                self.gpu_seconds += dt
            self._last[domain_id] = now
        self.last_ns = sample.monotonic_ns
        self.last_wall_ns = sample.wall_ns

    def _shares(
        self, account: DomainAccount, dt: float, scope_cpu: float, machine_busy: float, rss: int
    ) -> Shares:
        if self.scope == "machine":
            return Shares(1.0, 1.0)
        component = account.domain.component
        if component == "gpu":
            ours, total, present = self._gpu_shares.get(account.domain.id, (0.0, 0.0, False))
            return gpu_shares(self.policy, ours, total, present, visible=True)
        if component == "memory":
            held = rss / self.total_memory if self.total_memory else 0.0
            return memory_shares(self.policy, rss, self.total_memory, held)
        return cpu_shares(
            self.policy, scope_cpu, machine_busy, self.ncpus, dt, self.held_cpu_fraction
        )

    # -- results -----------------------------------------------------------------------
    @property
    def duration_s(self) -> float:
        """Seconds between the baseline and the latest sample."""
        return (self.last_ns - self.first_ns) / 1e9

    def components(self) -> tuple[ComponentEnergy, ...]:
        """Per-domain attributed energy so far."""
        return components(self.accounts.values(), self.scope)

    def minute_series(self, since: int | None = None) -> dict[tuple[int, str], float]:
        """Charged energy per (UTC epoch minute, component kind), from minute ``since``."""
        return minute_series(self.accounts.values(), since)

    def floors_w(self) -> dict[str, float]:
        """Lowest power seen per measured domain (to remember for this host)."""
        return {
            d: a.observed_floor_w
            for d, a in self.accounts.items()
            if a.observed_floor_w is not None and a.domain.quality == "measured"
        }

    def close(self) -> None:
        """Release the process tree's descriptors."""
        with self._tree_lock:
            if self.tree is not None:
                self.tree.close()
