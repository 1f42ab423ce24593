"""What the store keeps: one run record plus its per-minute energy series."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .. import identity
from .._time import now_utc, parse_utc
from ..footprint import Footprint, Status

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..config import Config

STATUSES = tuple(s.value for s in Status)


@dataclass(frozen=True)
class SeriesRow:
    """Energy of one component kind (cpu, dram, gpu, memory) in one UTC minute, before PUE."""

    run_id: str
    minute: str  # ISO 8601 UTC, start of the minute
    component: str
    energy_j: float


@dataclass(frozen=True)
class RunRecord:
    """A tracked run, as stored. A record left ``running`` by a process that no longer
    exists stays ``running`` in the store; :func:`with_liveness` says ``killed`` for it
    (with what was last saved), where a run is shown."""

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
    status: Status
    config: dict[str, Any] = field(default_factory=dict)
    footprint: Footprint | None = None
    model: dict[str, Any] | None = None  # model metrics (params, FLOPs...) when logged
    epochs: tuple[float, ...] = ()  # cumulative energy (J, before PUE) at each epoch end
    save_interval: float = 0.0  # seconds between its checkpoints (0: not checkpointed)

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
            "scope": fp.charged_to if fp else None,
            "idle_policy": fp.idle_policy if fp else None,
            "carbon": None,
            "container": None,
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
            out["container"] = full["container"]  # runtime, id and pod where it ran in one
        return out


def starting_record(
    run_id: str,
    config: Config,
    command: str,
    started_at: str,
    system: Mapping[str, Any],
    placement: Mapping[str, Any],
) -> RunRecord:
    """The record of a run that starts now, in this process: who runs what where, and the
    settings with their sources (secrets masked), the machine (``system``, read at the start
    because exports made later elsewhere must not describe that machine) and where a
    workload manager placed it (``placement``: ``{"slurm": ...}``)."""
    return RunRecord(
        id=run_id,
        project=config.project,
        experiment=config.experiment,
        user=identity.current_user(),
        host=identity.host_name(),
        pid=os.getpid(),
        command=command,
        git_commit=identity.git_commit(),
        started_at=started_at,
        ended_at=None,
        updated_at=started_at,
        status=Status.RUNNING,
        config={
            "values": config.public_dict(),
            "sources": dict(config.sources),
            "hardware": identity.hardware_line(dict(system)),
            "system": dict(system),
            **placement,
        },
        save_interval=config.save_interval,
    )


def with_liveness(record: RunRecord, *, now: datetime | None = None) -> RunRecord:
    """``record`` as a reader should see it: left ``running`` by a process that is gone
    (same host: the PID is probed) or silent for too long (another host: no checkpoint for
    three save intervals and a minute), it is ``killed``. Reading the store probes nothing:
    the commands and functions that show runs apply this to what they show."""
    if record.status != Status.RUNNING or not _looks_dead(record, now):
        return record
    return dataclasses.replace(record, status=Status.KILLED)


def _looks_dead(record: RunRecord, now: datetime | None) -> bool:
    if record.host == identity.host_name():
        return not _pid_alive(record.pid)
    try:
        updated = parse_utc(record.updated_at)
    except ValueError:
        return False
    silent_for = (now or now_utc()) - updated
    return silent_for > timedelta(seconds=3 * record.save_interval + 60)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True
