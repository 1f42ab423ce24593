"""What the store keeps: one run record plus its per-minute energy series."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..footprint import Footprint

STATUSES = ("running", "completed", "failed", "interrupted", "killed")


@dataclass(frozen=True)
class SeriesRow:
    """Energy of one component kind (cpu, dram, gpu, memory) in one UTC minute, before PUE."""

    run_id: str
    minute: str  # ISO 8601 UTC, start of the minute
    component: str
    energy_j: float


@dataclass(frozen=True)
class RunRecord:
    """A tracked run. ``status`` is one of :data:`STATUSES`; a record left ``running`` by a
    process that no longer exists is reported as ``killed`` (with what was last saved)."""

    id: str
    project: str
    experiment: str
    user: str
    host: str
    pid: int
    command: str
    git_commit: str | None
    started_at: str
    ended_at: str | None
    updated_at: str
    status: str
    config: dict[str, Any] = field(default_factory=dict)
    footprint: Footprint | None = None
    model: dict[str, Any] | None = None  # model metrics (params, FLOPs...) when logged
    epochs: tuple[float, ...] = ()  # cumulative energy (J, before PUE) at each epoch end

    def summary(self) -> dict[str, Any]:
        """The flat JSON shape of ``impactlib report --format json``."""
        fp = self.footprint
        out: dict[str, Any] = {
            "id": self.id,
            "project": self.project,
            "experiment": self.experiment,
            "user": self.user,
            "host": self.host,
            "command": self.command,
            "git_commit": self.git_commit,
            "status": self.status,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration_s": fp.duration_s if fp else 0.0,
            "energy_kwh": fp.energy_kwh if fp else 0.0,
            "emissions_kg": fp.emissions_kg if fp else 0.0,
            "pue": fp.pue if fp else None,
            "scope": fp.scope if fp else None,
            "idle_policy": fp.idle_policy if fp else None,
            "carbon": None,
            "components": [],
            "cpu_hours": fp.cpu_hours if fp else 0.0,
            "gpu_hours": fp.gpu_hours if fp else 0.0,
            "peak_memory_bytes": fp.peak_memory_bytes if fp else 0,
            "embodied_kg": fp.embodied_kg if fp else None,
            "warnings": list(fp.warnings) if fp else [],
            "model": self.model,
            "epochs_energy_j": list(self.epochs),
        }
        if fp is not None:
            full = fp.to_dict()
            out["components"] = full["components"]
            out["carbon"] = full["carbon"]
        return out
