"""Footprint records: plain immutable dataclasses with units in their field names.

These are the only shapes that cross from measuring to pricing, storing and reporting, so
every number carries its provenance: which domain and method produced it, at what scope,
with which quality, and (for carbon) which intensity source, zone and year.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .units import j_to_kwh


@dataclass(frozen=True)
class ComponentEnergy:
    """Energy of one domain over a run, split the way attribution split it.

    ``measured_j`` is what the meter saw for the whole domain (socket, board, device);
    ``dynamic_j + idle_j`` is what was charged to the tracked scope; ``unattributed_j`` is
    the rest (other users, the system, idle not held by the scope). Conservation:
    ``dynamic_j + idle_j + unattributed_j == measured_j``.
    """

    domain: str
    component: str
    method: str
    scope: str
    quality: str
    measured_j: float
    dynamic_j: float
    idle_j: float
    unattributed_j: float
    note: str = ""
    # The idle power split by the idle policy, and where it came from: "calibrated" or
    # "learned" (the host power model), "model" (an estimation model's own idle power) or
    # "observed" (the lowest power seen during this run: may hold the run's own load).
    idle_floor_w: float = 0.0
    idle_floor_source: str = "observed"

    @property
    def energy_j(self) -> float:
        """Energy charged to the tracked scope (before PUE)."""
        return self.dynamic_j + self.idle_j


@dataclass(frozen=True)
class CarbonInfo:
    """How operational emissions were priced."""

    source: str  # static table name, "rte", "gb", "electricitymaps"
    zone: str
    mean_g_per_kwh: float
    detail: str = ""  # table + year, or resolution and actual/forecast mix
    fallback: str | None = None  # set when a live source failed: what failed and what was used
    located_by: str = "configuration"  # how the zone was chosen (configuration, timezone guess...)


@dataclass(frozen=True)
class Footprint:
    """The full result of one tracked run."""

    run_id: str
    scope: str
    idle_policy: str
    started_at: str  # ISO 8601 UTC
    ended_at: str | None
    duration_s: float
    components: tuple[ComponentEnergy, ...]
    pue: float
    emissions_kg: float
    carbon: CarbonInfo | None
    cpu_hours: float = 0.0
    gpu_hours: float = 0.0
    peak_memory_bytes: int = 0
    embodied_kg: float | None = None
    embodied_note: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def energy_j(self) -> float:
        """Energy charged to the scope, without PUE."""
        return sum(c.energy_j for c in self.components)

    @property
    def energy_kwh(self) -> float:
        """Energy charged to the scope, PUE included (the promised ``energy_consumption``)."""
        return j_to_kwh(self.energy_j) * self.pue

    def component_kwh(self, component: str) -> float:
        """Energy of one component kind (cpu, dram, gpu, memory), PUE included."""
        joules = sum(c.energy_j for c in self.components if c.component == component)
        return j_to_kwh(joules) * self.pue

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (the store and the JSON export use this shape).

        Copied from the instances' ``__dict__`` rather than with ``dataclasses.asdict``,
        whose recursive deep copies made this the most expensive step of a checkpoint.
        """
        out = dict(vars(self))
        out["components"] = [
            {**vars(c), "energy_j": c.energy_j, "energy_kwh": j_to_kwh(c.energy_j) * self.pue}
            for c in self.components
        ]
        out["carbon"] = dict(vars(self.carbon)) if self.carbon else None
        out["warnings"] = list(self.warnings)
        out["energy_j"] = self.energy_j
        out["energy_kwh"] = self.energy_kwh
        return out

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Footprint:
        """Inverse of :meth:`to_dict` (derived keys are ignored)."""
        comps = tuple(
            ComponentEnergy(**{k: v for k, v in c.items() if k not in ("energy_j", "energy_kwh")})
            for c in data.get("components", ())
        )
        carbon = data.get("carbon")
        fields = {k: v for k, v in data.items() if k not in ("energy_j", "energy_kwh")}
        fields["components"] = comps
        fields["carbon"] = CarbonInfo(**carbon) if carbon else None
        fields["warnings"] = tuple(data.get("warnings", ()))
        return Footprint(**fields)
