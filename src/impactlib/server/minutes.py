"""Per-minute aggregates of the daemon, buffered until the store has them.

Every interval adds its energy to one row per (minute, kind, name, domain): ``machine`` (the
domain's whole energy, with the idle floor used), ``user`` (uid), ``job`` (SLURM job id),
``tree`` (a user's process tree, named by its root), ``container`` (``runtime:id``, where a
process's cgroup names one) and ``unattributed`` (the remainder).
Each row carries its domain's quality: a daemon that cannot read the CPU's counters models
it, and that energy is ``estimated``, never counted as measured downstream. Rows are
written to the store as *increments* (the upsert adds), each exactly once: a write is one
transaction, so when the store is briefly unavailable nothing is committed, the rows stay
with the daemon and the next flush sends them again. Nothing is lost and nothing is counted twice,
and a daemon restarted within a minute adds to that minute instead of replacing it.
"""

from __future__ import annotations

from typing import NamedTuple

from .._time import minute_iso
from ..footprint import Quality, Word
from ..meters.base import Domain


class MinuteKind(Word):
    """What a row of ``host_minutes`` is the energy of."""

    MACHINE = "machine"  # the whole domain
    USER = "user"  # one uid's processes
    JOB = "job"  # one SLURM job's
    TREE = "tree"  # one user's process tree
    CONTAINER = "container"  # one container's (``runtime:id``)
    UNATTRIBUTED = "unattributed"  # charged to no process


MachineKey = tuple[int, MinuteKind, str, str]  # minute, kind, name, domain


class HostMinute(NamedTuple):
    """One row of ``host_minutes``."""

    host: str
    minute: str  # ISO 8601 UTC, minute resolution
    kind: MinuteKind
    name: str
    domain: str
    energy_j: float
    floor_w: float | None  # the idle floor used (machine rows only)
    quality: Quality  # the domain's: measured where a meter read it, else estimated


class MinuteBuffer:
    """Energy per (minute, kind, name, domain) not yet in the store."""

    def __init__(self) -> None:
        self._energy: dict[MachineKey, float] = {}
        self._floor: dict[tuple[int, str], float] = {}
        self._quality: dict[str, Quality] = {}

    def add(self, minute: int, kind: MinuteKind, name: str, domain: Domain, joules: float) -> None:
        """Add energy to a row (``minute``: UTC epoch minute)."""
        key = (minute, kind, name, domain.id)
        self._energy[key] = self._energy.get(key, 0.0) + joules
        self._quality[domain.id] = domain.quality

    def add_machine(self, minute: int, domain: Domain, joules: float, floor_w: float) -> None:
        """Add a domain's whole energy, with the floor in use."""
        self.add(minute, MinuteKind.MACHINE, "", domain, joules)
        self._floor[(minute, domain.id)] = floor_w

    def __len__(self) -> int:
        return len(self._energy)

    def take(self, host: str, before: int | None = None) -> list[HostMinute]:
        """Remove and return the rows of minutes before ``before`` (all when None)."""
        keys = [k for k in self._energy if before is None or k[0] < before]
        rows = []
        for key in keys:
            minute, kind, name, domain = key
            floor = self._floor.pop((minute, domain), None) if kind is MinuteKind.MACHINE else None
            rows.append(
                HostMinute(
                    host,
                    minute_iso(minute),
                    kind,
                    name,
                    domain,
                    self._energy.pop(key),
                    floor,
                    self._quality[domain],
                )
            )
        return rows
