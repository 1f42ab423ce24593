"""Splitting each domain's measured energy between the tracked scope and everyone else.

Per interval and domain, with ``f`` the domain's idle (floor) power::

    idle    = f * dt                       (static power: paid whether anyone works or not)
    dynamic = E - idle                     (what the work added)
    charged = dynamic * s_busy + idle * s_idle
    unattributed = E - charged             (other users, the system, idle nobody holds)

``s_busy`` is the scope's share of the machine's *busy* CPU time (or of the device's SM
samples for a GPU). ``s_idle`` depends on the idle policy, stored with every result:

* ``usage``: the scope's share of machine *capacity* (CPU-seconds / (CPUs x dt)). A job
  using 4 of 32 cores gets 4/32 of the idle power whether the other 28 are busy or not, so
  its figure does not swing with other users' load;
* ``allocation``: the share of the machine the scope holds (CPUs in its affinity mask,
  visible GPUs, memory), which is right under a scheduler;
* ``none``: dynamic energy only (the marginal lower bound).

The floor ``f`` comes, in order of trust, from the host power model (``calibrated`` by
``impactlib calibrate`` or ``learned`` from earlier samples), from an estimation model's own
idle power (``model``), or, failing those, from the lowest power seen on the domain during
this run or remembered for this host (``observed``). Only the last can be wrong in the way
that matters: on a machine never idle while watched it holds the job's own dynamic power,
so the record says so. ``charged`` is linear in ``f``; each domain keeps three sums
(``sum E*s_busy``, ``sum dt*s_busy``, ``sum dt*s_idle``) so the split is recomputed exactly
with the final floor at the end, in constant memory. Conservation holds by construction:
``charged + unattributed == measured`` for every domain and every minute.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from ..footprint import ChargedTo, Component, ComponentEnergy, Extent, FloorSource, Quality
from ..meters.base import Domain, ServedFloor
from ..meters.mig import MigDevice
from .power_model import PowerPoint

FLOOR_WINDOW_S = 1.0  # power floors come from >= 1 s windows: counters move in steps
MAX_POINTS = 2048  # (power, busy CPUs) points kept per domain for learning the power model


class Floor(NamedTuple):
    """A domain's idle power, where it came from, and its relative spread where a fit
    measured one (the power model's RMS residual; None: by its source)."""

    watts: float
    source: FloorSource
    spread: float | None = None


@dataclass
class _Sums:
    energy: float = 0.0  # sum E
    e_busy: float = 0.0  # sum E * s_busy
    dt_busy: float = 0.0  # sum dt * s_busy
    dt_idle: float = 0.0  # sum dt * s_idle

    def add(self, energy: float, dt: float, s_busy: float, s_idle: float) -> None:
        self.energy += energy
        self.e_busy += energy * s_busy
        self.dt_busy += dt * s_busy
        self.dt_idle += dt * s_idle

    def split(self, floor_w: float) -> tuple[float, float]:
        """(dynamic, idle) charged with floor ``floor_w``."""
        dynamic = self.e_busy - floor_w * self.dt_busy
        idle = floor_w * self.dt_idle
        return max(dynamic, 0.0), max(idle, 0.0)


class Shares(NamedTuple):
    """The scope's shares of one domain over one interval."""

    busy: float
    idle: float


@dataclass
class DomainAccount:
    """Running attribution of one domain."""

    domain: Domain
    known_floor: Floor | None = None  # the host power model's or the estimation model's
    remembered_floor_w: float | None = None  # lowest power earlier runs saw on this host
    observed_floor_w: float | None = None
    total: _Sums = field(default_factory=_Sums)
    minutes: dict[int, _Sums] = field(default_factory=dict)
    points: list[PowerPoint] = field(default_factory=list)
    _window_j: float = 0.0
    _window_s: float = 0.0
    _window_busy_s: float = 0.0
    _window_has_busy: bool = True
    # How a shared device was split for the scope ("GPU split: MIG 3g.40gb instance …"),
    # each said once, in the order first seen: the record's note carries them.
    splits: dict[str, None] = field(default_factory=dict)

    @property
    def floor(self) -> Floor:
        """The floor used: a known one, else the lowest power seen (here or remembered)."""
        if self.known_floor is not None:
            return self.known_floor
        seen = [f for f in (self.remembered_floor_w, self.observed_floor_w) if f is not None]
        return Floor(min(seen) if seen else 0.0, FloorSource.OBSERVED)

    @property
    def floor_w(self) -> float:
        """The floor's watts."""
        return self.floor.watts

    def add(
        self,
        energy_j: float,
        dt_s: float,
        minute: int,
        shares: Shares,
        machine_busy_s: float | None = None,
    ) -> None:
        """Account one interval (``minute`` = UTC epoch minute it falls in;
        ``machine_busy_s`` = the machine's busy CPU-seconds in it, where known, to learn
        the host's power against its load)."""
        energy_j = max(energy_j, 0.0)
        s_busy = min(max(shares.busy, 0.0), 1.0)
        s_idle = min(max(shares.idle, 0.0), 1.0)
        bucket = self.minutes.get(minute)
        if bucket is None:
            bucket = self.minutes[minute] = _Sums()
        self.total.add(energy_j, dt_s, s_busy, s_idle)
        bucket.add(energy_j, dt_s, s_busy, s_idle)
        self._window_j += energy_j
        self._window_s += dt_s
        if machine_busy_s is None:
            self._window_has_busy = False
        else:
            self._window_busy_s += machine_busy_s
        if self._window_s >= FLOOR_WINDOW_S:
            power = self._window_j / self._window_s
            if self.observed_floor_w is None or power < self.observed_floor_w:
                self.observed_floor_w = power
            if self._window_has_busy and self.domain.quality is Quality.MEASURED:
                self._keep(PowerPoint(power, self._window_busy_s / self._window_s))
            self._window_j = self._window_s = self._window_busy_s = 0.0
            self._window_has_busy = True

    def _keep(self, point: PowerPoint) -> None:
        """Keep a bounded, evenly thinned record of the run's points (every other one is
        dropped when full), so a week-long run learns from its whole span in fixed memory."""
        self.points.append(point)
        if len(self.points) >= MAX_POINTS:
            del self.points[::2]

    def component(
        self, charged_to: ChargedTo, served: ServedFloor | None = None
    ) -> ComponentEnergy:
        """The domain's totals as a footprint component of a run charged for ``charged_to``;
        ``served``: the daemon's floor, which split an attributed domain (the account's own
        floor split nothing there)."""
        floor = self.floor
        dynamic, idle = self.total.split(floor.watts)
        charged = min(dynamic + idle, self.total.energy)
        if dynamic + idle > 0 and charged < dynamic + idle:  # rounding at the edges
            scale = charged / (dynamic + idle)
            dynamic, idle = dynamic * scale, idle * scale
        d = self.domain
        shown = [f"idle floor {served.watts:.1f} W ({served.source})"] if served else []
        if d.quality is Quality.ESTIMATED:
            quality = Quality.ESTIMATED
        elif charged_to is ChargedTo.MACHINE or (
            d.extent is Extent.DEVICE and charged >= self.total.energy
        ):
            quality = Quality.MEASURED
        else:
            quality = Quality.ATTRIBUTED
        return ComponentEnergy(
            domain=d.id,
            component=d.component,
            method=d.method,
            extent=d.extent,
            quality=quality,
            domain_j=self.total.energy,
            dynamic_j=dynamic,
            idle_j=idle,
            unattributed_j=self.total.energy - dynamic - idle,
            note="; ".join((d.note, *shown, *self.splits)),
            idle_floor_w=served.watts if served else floor.watts,
            idle_floor_source=served.source if served else floor.source,
        )

    def minute_charged_j(self, since: int | None = None) -> dict[int, float]:
        """Energy charged to the scope per UTC minute (from minute ``since`` on: a
        checkpoint needs only the recent ones, and must not cost more as a run grows)."""
        floor = self.floor.watts
        out: dict[int, float] = {}
        for minute in reversed(self.minutes):  # minutes are added in time order
            if since is not None and minute < since:
                break
            sums = self.minutes[minute]
            dynamic, idle = sums.split(floor)
            out[minute] = min(dynamic + idle, sums.energy)
        return out


def cpu_shares(
    policy: str,
    scope_cpu_s: float,
    machine_busy_s: float,
    ncpus: int,
    dt_s: float,
    held_fraction: float,
) -> Shares:
    """Shares of a CPU or DRAM domain for a scope that used ``scope_cpu_s`` in ``dt_s``."""
    busy = scope_cpu_s / machine_busy_s if machine_busy_s > 0 else 0.0
    if policy == "usage":
        idle = scope_cpu_s / (ncpus * dt_s) if dt_s > 0 else 0.0
    elif policy == "allocation":
        idle = held_fraction
    else:
        idle = 0.0
    return Shares(min(busy, 1.0), min(idle, 1.0))


def memory_shares(
    policy: str, scope_rss: float, total_memory: float, held_fraction: float
) -> Shares:
    """Shares of a modelled memory domain: static power split by resident memory held."""
    if policy == "none" or total_memory <= 0:
        return Shares(0.0, 0.0)
    share = held_fraction if policy == "allocation" else scope_rss / total_memory
    return Shares(min(share, 1.0), min(share, 1.0))


def gpu_shares(policy: str, ours: float, total: float, ours_present: bool, visible: bool) -> Shares:
    """Shares of a GPU: SM-sample share when shared, all of it when only we use it."""
    busy = ours / total if total > 0 else 1.0 if ours_present else 0.0
    if policy == "usage":
        idle = busy
    elif policy == "allocation":
        idle = 1.0 if visible else 0.0
    else:
        idle = 0.0
    return Shares(busy, idle)


def mig_shares(policy: str, device: MigDevice, held: Mapping[str, float]) -> Shares:
    """Shares of a GPU in MIG mode for a scope holding ``held[uuid]`` of each instance (1.0:
    all of it; less: its part of the instance's processes). With ``n`` an instance's SMs,
    ``a`` its activity (0..1) and ``N`` the SMs MIG allocates (docs/attribution.md)::

        s_busy = sum(held * a * n) / sum over every instance of (a * n)
        s_idle = sum(held * n) / N          (usage and allocation; none: 0)

    so the instances' shares of the idle power, plus that of the slices no instance holds
    (left unattributed), make the whole. Instances NVML hides from us (another container's)
    are taken to fill the SMs the visible ones leave, as busy on average as those.
    """
    visible_sms = sum(i.sms for i in device.instances)
    weighted = sum(i.activity * i.sms for i in device.instances)
    if device.hidden and visible_sms:
        weighted += weighted / visible_sms * max(device.sms - visible_sms, 0)
    ours = sum(held.get(i.uuid, 0.0) * i.activity * i.sms for i in device.instances)
    busy = ours / weighted if weighted > 0 else 0.0
    idle = 0.0
    if policy != "none" and device.sms > 0:
        idle = sum(held.get(i.uuid, 0.0) * i.sms for i in device.instances) / device.sms
    return Shares(min(busy, 1.0), min(idle, 1.0))


def mig_held(device: MigDevice, pids: Collection[int]) -> dict[str, float]:
    """What a scope running ``pids`` holds of each instance: all of one its
    ``CUDA_VISIBLE_DEVICES`` names (given to it), else its part of the instance's processes
    (NVML has no per-process utilisation on MIG: its processes count alike)."""
    held: dict[str, float] = {}
    for instance in device.instances:
        if instance.assigned:
            held[instance.uuid] = 1.0
        elif instance.pids:
            mine = sum(1 for pid in instance.pids if pid in pids)
            if mine:
                held[instance.uuid] = mine / len(instance.pids)
    return held


def components(
    accounts: Iterable[DomainAccount],
    charged_to: ChargedTo,
    served: Mapping[str, ServedFloor] | None = None,
) -> tuple[ComponentEnergy, ...]:
    """Footprint components of every domain (``served``: the daemon's floors, by domain)."""
    served = served or {}
    return tuple(acc.component(charged_to, served.get(acc.domain.id)) for acc in accounts)


def minute_series(
    accounts: Iterable[DomainAccount], since: int | None = None
) -> dict[tuple[int, Component], float]:
    """Charged energy per (UTC minute, component kind), from minute ``since`` on."""
    out: dict[tuple[int, Component], float] = {}
    for acc in accounts:
        for minute, joules in acc.minute_charged_j(since).items():
            key = (minute, acc.domain.component)
            out[key] = out.get(key, 0.0) + joules
    return out


def apply_remembered_floors(
    accounts: Mapping[str, DomainAccount], floors_w: Mapping[str, float]
) -> None:
    """Set the lowest powers earlier runs saw on this host (an observed floor, no better)."""
    for domain_id, floor in floors_w.items():
        acc = accounts.get(domain_id)
        if acc is not None:
            current = acc.remembered_floor_w
            acc.remembered_floor_w = floor if current is None else min(current, floor)
