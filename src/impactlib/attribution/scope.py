"""What a tracker measures, chosen once from the configuration and never re-derived.

Three scopes exist, and each is its own type so that no code has to guess which one it holds
from a combination of flags (that guess once charged ``impactlib run --scope machine`` 0 J):

* :class:`MachineScope`: every joule of every domain (a dedicated machine);
* :class:`TreeScope`: an existing process and its descendants (``impactlib.init()`` in a
  script measures the script's own process tree);
* :class:`PendingTreeScope`: a process tree about to be started (``impactlib run``): the
  baseline is taken first, then the command starts and is attached, so its whole CPU time
  falls inside the window;
* :class:`CgroupScope`: every process of a cgroup (a SLURM job on this node), whose CPU
  time is the group's own counter (``cpu.stat usage_usec``, v1 ``cpuacct.usage``): it
  holds processes that are not descendants of the tracker (``srun`` steps, MPI ranks).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class MachineScope:
    """The whole machine: every domain is charged in full."""

    label: Literal["machine"] = "machine"


@dataclass(frozen=True)
class TreeScope:
    """The process ``pid`` and its descendants (exited ones included)."""

    pid: int
    label: Literal["tree"] = "tree"


@dataclass(frozen=True)
class PendingTreeScope:
    """A process tree that starts after the baseline and is given with ``attach(pid)``."""

    label: Literal["tree"] = "tree"


@dataclass(frozen=True)
class CgroupScope:
    """Every process of a cgroup. ``cpu_file`` is its CPU counter (``cpu.stat`` for v2,
    ``cpuacct.usage`` for v1), ``memory_file`` its memory use; ``cpus`` and
    ``memory_bytes`` are what the group holds, for the ``allocation`` idle policy."""

    cpu_file: str
    version: int = 2
    memory_file: str | None = None
    cpus: int | None = None
    memory_bytes: int | None = None
    label: Literal["cgroup"] = "cgroup"


Scope = MachineScope | TreeScope | PendingTreeScope | CgroupScope


def choose_scope(
    configured: str, *, pid: int | None = None, pending: bool = False
) -> MachineScope | TreeScope | PendingTreeScope:
    """The scope for a tracker: the configuration's ``scope`` decides between the machine
    and a process tree; ``pending`` (a command to be started) or ``pid`` (an existing
    process, default: this one) say which tree."""
    if configured == "machine":
        return MachineScope()
    if pending:
        return PendingTreeScope()
    return TreeScope(os.getpid() if pid is None else pid)
