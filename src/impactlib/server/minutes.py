"""Per-minute aggregates of the daemon, buffered until the store has them.

Every interval adds its energy to one row per (minute, kind, name, domain): ``machine`` (the
measured energy, with the idle floor used), ``user`` (uid), ``job`` (SLURM job id), ``tree``
(a user's process tree, named by its root) and ``unattributed`` (the remainder). Rows are
written to the store as *increments* (the upsert adds), each exactly once: a write is one
transaction, so when the store is briefly unavailable nothing is committed, the rows stay
with the daemon and the next flush sends them again. Nothing is lost and nothing is counted twice,
and a daemon restarted within a minute adds to that minute instead of replacing it.
"""

from __future__ import annotations

from typing import NamedTuple

from .._time import minute_iso

MachineKey = tuple[int, str, str, str]  # minute, kind, name, domain


class HostMinute(NamedTuple):
    """One row of ``host_minutes``."""

    host: str
    minute: str  # ISO 8601 UTC, minute resolution
    kind: str  # machine | user | job | tree | unattributed
    name: str
    domain: str
    energy_j: float
    floor_w: float | None  # the idle floor used (machine rows only)


class MinuteBuffer:
    """Energy per (minute, kind, name, domain) not yet in the store."""

    def __init__(self) -> None:
        self._energy: dict[MachineKey, float] = {}
        self._floor: dict[tuple[int, str], float] = {}

    def add(self, minute: int, kind: str, name: str, domain: str, joules: float) -> None:
        """Add energy to a row (``minute``: UTC epoch minute)."""
        key = (minute, kind, name, domain)
        self._energy[key] = self._energy.get(key, 0.0) + joules

    def add_machine(self, minute: int, domain: str, joules: float, floor_w: float) -> None:
        """Add measured energy, with the floor in use."""
        self.add(minute, "machine", "", domain, joules)
        self._floor[(minute, domain)] = floor_w

    def __len__(self) -> int:
        return len(self._energy)

    def take(self, host: str, before: int | None = None) -> list[HostMinute]:
        """Remove and return the rows of minutes before ``before`` (all when None)."""
        keys = [k for k in self._energy if before is None or k[0] < before]
        rows = []
        for key in keys:
            minute, kind, name, domain = key
            floor = self._floor.pop((minute, domain), None) if kind == "machine" else None
            rows.append(
                HostMinute(
                    host,
                    minute_iso(minute),
                    kind,
                    name,
                    domain,
                    self._energy.pop(key),
                    floor,
                )
            )
        return rows
