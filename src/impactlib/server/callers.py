"""Who is asking, and which process they may ask about: the caller's own PID namespace.

A tracker in a container (its own PID namespace, as every runtime makes one) knows itself by
a PID the daemon does not see: ``os.getpid()`` is 1 or 7 there, another process on the host.
The kernel does not let that confusion cross the socket: ``SO_PEERCRED`` gives the daemon
the caller's PID *as the daemon sees it*, whatever namespace the caller lives in. So:

* ``self`` (``/v1/processes/self``) is the caller's own process, from the peer
  credentials alone: nothing the caller writes decides what is answered.
* A number is at most a *hint*, read in the caller's own PID namespace: a caller in the
  daemon's namespace names a host PID (as before); a caller in another namespace names a
  PID of its namespace, which is resolved there (``NSpid`` and ``ns/pid`` of the processes
  the daemon knows) and never reaches a process outside it, even where a host PID of the
  same number exists. A container can guess host PIDs; it cannot use them.
* Then ownership: a caller sees the processes of its own uid; root in the daemon's
  namespace sees every process. Root *inside* a container (uid 0 on the host where the
  runtime maps no user namespace, Docker's default) is confined to its namespace like
  anyone there: the container's processes, not the machine's. The same holds for the
  machine-wide and per-user views, which a caller in another namespace never gets: a uid
  inside a container may be a different person's uid on the host.

The caller's namespace is read from the kernel's own ``/proc`` (``NSpid`` and ``ns/pid`` of
the peer's PID), like its credentials, whatever ``procfs_root`` the daemon scans. A caller
whose process cannot be read there (gone already) is confined like a caller in another
namespace: the daemon cannot tell, so it answers the least; a hint is resolved only where
the caller's ``ns/pid`` could be read. A kernel older than 4.1 writes
no ``NSpid``: there every caller is taken to be in the daemon's namespace.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from .procscan import Proc, ProcessTable, read_identity, read_pid_namespace

ROOT = 0
KERNEL_PROCFS = "/proc"  # where the peer credentials' PID is read: the kernel's, not a fake


class Caller(NamedTuple):
    """The process on the other end of a connection, from the kernel."""

    pid: int  # as the daemon sees it (``SO_PEERCRED``)
    uid: int  # from the peer credentials, never from the request
    ns_pids: tuple[int, ...] | None  # ``NSpid``, the daemon's first (None: unreadable)
    pid_namespace: str  # ``ns/pid``; "" where it cannot be read
    proc: Proc | None  # as the daemon's process table knows it (None: not there)

    @property
    def nested(self) -> bool:
        """Whether the caller lives in a PID namespace below the daemon's (a container), or
        could not be placed (its process gone already: treated the same, confined)."""
        return self.ns_pids is None or len(self.ns_pids) > 1

    @property
    def sees_all(self) -> bool:
        """Root in the daemon's own namespace: the machine's administrator."""
        return self.uid == ROOT and not self.nested

    def pid_of(self, proc: Proc) -> int:
        """``proc``'s pid as the caller names it (in the caller's namespace)."""
        if self.ns_pids is None or len(self.ns_pids) <= 1:
            return proc.pid
        depth = len(self.ns_pids) - 1
        return proc.ns_pids[depth] if len(proc.ns_pids) > depth else proc.pid


class Refused(NamedTuple):
    """An HTTP status and the one-line reason."""

    status: int
    error: str


def identify(table: ProcessTable, peer_pid: int, peer_uid: int) -> Caller:
    """The caller from its peer credentials and the kernel's ``/proc``."""
    ns_pids: tuple[int, ...] | None
    try:  # ``status`` is readable by anyone: a daemon not run as root places callers too
        ns_pids = read_identity(KERNEL_PROCFS, peer_pid).ns_pids
    except (OSError, ValueError):
        ns_pids = None
    namespace = read_pid_namespace(KERNEL_PROCFS, peer_pid)
    return Caller(peer_pid, peer_uid, ns_pids, namespace, table.adopt(peer_pid))


def _in_namespace(caller: Caller, procs: Iterable[Proc], pid: int) -> Proc | None:
    """The process the caller's namespace knows as ``pid``, among those the daemon knows."""
    if not caller.pid_namespace:  # unknown: nothing can be placed in it
        return None
    for proc in procs:
        if proc.pid_namespace == caller.pid_namespace and proc.ns_pids[-1:] == (pid,):
            return proc
    return None


def resolve(table: ProcessTable, caller: Caller, asked: int | None) -> Proc | Refused:
    """The process ``asked`` names for ``caller`` (None: the caller itself), if the caller
    may see it."""
    if asked is None:
        if caller.proc is None:
            return Refused(404, "your process is not visible to the daemon")
        target = caller.proc
    elif caller.nested:
        found = _in_namespace(caller, table.procs.values(), asked)
        if found is None:
            return Refused(404, f"no process {asked} in your PID namespace")
        target = found
    else:
        adopted = table.adopt(asked)
        if adopted is None:
            return Refused(404, f"no process {asked}")
        target = adopted
    if caller.sees_all or target.uid == caller.uid:
        return target
    if caller.nested and caller.uid == ROOT and target.pid_namespace == caller.pid_namespace:
        return target  # root of its container, asking about a process of that container
    return Refused(403, f"process {asked if asked is not None else 'self'} is another user's")
