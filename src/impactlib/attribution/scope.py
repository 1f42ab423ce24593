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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from ..footprint import ChargedTo

if TYPE_CHECKING:
    from ..config import Config


@dataclass(frozen=True)
class MachineScope:
    """The whole machine: every domain is charged in full."""

    charged_to: Literal[ChargedTo.MACHINE] = ChargedTo.MACHINE


@dataclass(frozen=True)
class TreeScope:
    """The process ``pid`` and its descendants (exited ones included). ``cpus`` and
    ``memory_bytes``: what the tree holds where a workload manager says so (a SLURM job
    whose CPU time has no cgroup of its own), for the ``allocation`` idle policy."""

    pid: int
    charged_to: Literal[ChargedTo.TREE] = ChargedTo.TREE
    cpus: int | None = None
    memory_bytes: int | None = None


@dataclass(frozen=True)
class PendingTreeScope:
    """A process tree that starts after the baseline and is given with ``attach(pid)``
    (``cpus``, ``memory_bytes``: as for :class:`TreeScope`)."""

    charged_to: Literal[ChargedTo.TREE] = ChargedTo.TREE
    cpus: int | None = None
    memory_bytes: int | None = None


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
    charged_to: Literal[ChargedTo.CGROUP] = ChargedTo.CGROUP


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


class Placement(NamedTuple):
    """Where a workload manager put a run: the settings and scope that follow from it, and
    what the run's record says about it (``{"slurm": ...}``)."""

    config: Config
    scope: Scope
    record: Mapping[str, Any]


# Given the settings, the scope chosen from them and whether the tracker measures its own
# process tree: the run's placement, or None outside any workload manager. The faces that
# create trackers pass ``impactlib.slurm.scope.place``; the lifecycle knows nothing of SLURM.
Placer = Callable[["Config", Scope, bool], "Placement | None"]
