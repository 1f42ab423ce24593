"""Every process on the machine: its CPU time since the last scan, owner, parent and job.

The daemon reads the CPU time of *all* processes every second, so the cost per process must
be a few microseconds: each process's ``stat`` is opened once and re-read with ``pread``
(procfs regenerates it on every read at offset 0), and what never changes for a process
(its real uid, its job's cgroup, its start time) is read once, when it is first seen.

Its cgroup, read when it is first seen, also says which container (:mod:`impactlib.containers`)
it runs in: the daemon reads it from the host's side, where a container's own cgroup
namespace does not hide the container's name.

A process is known by ``(pid, start time)``: a PID reused by a new process reads as a
failure on the old kept descriptor (the kernel ties it to the task that exited), so the old
one is seen leaving and the new one arrives fresh.

CPU time is counted the way :class:`impactlib.procfs.ProcessTree` counts it for one tree,
for every process at once: each process adds the growth of its own plus reaped time
(``utime+stime+cutime+cstime``); when a child is seen leaving, what was already counted for
it is owed by its parent, whose reaped time will grow by the child's whole life when it
waits for it; what the child itself still owed for grandchildren it reaped after its last
read goes to the parent too, or a grandchild would be counted twice. Children born and gone
between two scans are therefore charged to the parent that reaped them, which is the tree
they belonged to.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from typing import NamedTuple

from ..containers import container_of
from ..footprint import Container
from ..procfs import CLK_TCK, PAGE_SIZE

# The SLURM job a process runs in, from its cgroup path (never built from a job id):
# cgroup v2 ``.../slurmstepd.scope/job_123/step_0/...`` (or a SLUID directory since Slurm
# 26.05, ``.../slurmstepd.scope/s5K1KKYAYG5D00/...``) and v1 ``/slurm/uid_1000/job_123/...``.
_JOB_V2 = re.compile(r"slurmstepd\.scope/(?:job_)?([0-9A-Za-z]+)(?:/|$)")
_JOB_V1 = re.compile(r"/slurm/uid_[0-9]+/job_([0-9]+)(?:/|$)")
_FLAGS = os.O_RDONLY | os.O_CLOEXEC
_NOT_JOBS = frozenset({"system"})  # slurmstepd's own waiting area under slurmstepd.scope


def job_from_cgroup(text: str) -> str | None:
    """The SLURM job id (or SLUID) of a ``/proc/<pid>/cgroup`` file's contents, if any."""
    for line in text.splitlines():
        path = line.split(":", 2)[-1]
        found = _JOB_V2.search(path) or _JOB_V1.search(path)
        if found and found.group(1) not in _NOT_JOBS:
            return found.group(1)
    return None


class StatFields(NamedTuple):
    """The fields of ``/proc/<pid>/stat`` the daemon needs."""

    comm: str
    ppid: int
    total_ticks: int  # utime + stime + cutime + cstime
    start_ticks: int  # starttime: with the pid, the process's identity
    rss_pages: int


def parse_stat(raw: bytes) -> StatFields:
    """Parse one ``stat`` read (``ValueError``/``IndexError`` when malformed); the command
    name may hold spaces and parentheses, so fields are split after the last ``)``."""
    close = raw.rindex(b")")
    comm = raw[raw.index(b"(") + 1 : close].decode("utf-8", errors="replace")
    rest = raw[close + 2 :].split()
    return StatFields(
        comm=comm,
        ppid=int(rest[1]),
        total_ticks=int(rest[11]) + int(rest[12]) + int(rest[13]) + int(rest[14]),
        start_ticks=int(rest[19]),
        rss_pages=int(rest[21]),
    )


@dataclass(eq=False)
class Proc:
    """One live process as the daemon knows it."""

    pid: int
    start_ticks: int
    uid: int
    comm: str
    ppid: int
    job: str | None
    last_ticks: int
    rss_bytes: int = 0
    fd: int | None = field(default=None, repr=False)  # its kept ``stat``
    raw: bytes = field(default=b"", repr=False)  # the last ``stat`` read, to skip unchanged ones
    container: Container | None = None  # the one its cgroup names
    ns_pids: tuple[int, ...] = ()  # ``NSpid``: its pid in each namespace, the daemon's first
    pid_namespace: str = ""  # ``ns/pid`` link: which PID namespace it lives in


class Usage(NamedTuple):
    """What one process used during the last interval."""

    proc: Proc
    cpu_s: float


class Scan(NamedTuple):
    """One scan: the processes that used CPU, and those seen leaving (in that order of
    events: a process that left still had its last usage counted before)."""

    used: list[Usage]
    gone: list[Proc]


class Identity(NamedTuple):
    """Who a process is, from its ``status``: its real uid (what "the user's own process"
    means; the owner of ``/proc/<pid>`` is the effective uid, which a setuid program
    changes), and its pid in each PID namespace from the daemon's down to its own
    (``NSpid``; empty where the kernel or a fake ``/proc`` does not say)."""

    uid: int
    ns_pids: tuple[int, ...]


def read_identity(procfs_root: str, pid: int) -> Identity:
    uid: int | None = None
    ns_pids: tuple[int, ...] = ()
    with open(os.path.join(procfs_root, str(pid), "status"), "rb") as fh:
        for line in fh:
            if line.startswith(b"Uid:"):
                uid = int(line.split()[1])
            elif line.startswith(b"NSpid:"):
                ns_pids = tuple(int(n) for n in line.split()[1:])
                break  # NSpid follows Uid in every kernel's status
    if uid is None:
        raise ValueError("no Uid line")
    return Identity(uid, ns_pids)


def read_pid_namespace(procfs_root: str, pid: int) -> str:
    """The process's PID namespace (``pid:[inode]``), "" where it cannot be read."""
    try:
        return os.readlink(os.path.join(procfs_root, str(pid), "ns", "pid"))
    except OSError:
        return ""


def _read_job(procfs_root: str, pid: int) -> str | None:
    try:
        with open(os.path.join(procfs_root, str(pid), "cgroup"), "rb") as fh:
            job = job_from_cgroup(fh.read().decode("utf-8", errors="replace"))
    except OSError:
        return None
    if job is None or job.isdigit():
        return job
    return _job_id_of_sluid(procfs_root, pid) or job


def _job_id_of_sluid(procfs_root: str, pid: int) -> str | None:
    """The numeric job id of a process whose cgroup names its job by a SLUID, from the
    ``SLURM_JOB_ID`` slurmstepd put in its environment: ``sacct`` lists jobs by that id
    (and 22.05 to 25.11 know no SLUID), so the daemon's minutes must carry it for ingest
    to find them. The daemon is root, so it may read any process's environment; the
    SLUID stays where the environment cannot be read."""
    try:
        with open(os.path.join(procfs_root, str(pid), "environ"), "rb") as fh:
            environ = fh.read()
    except OSError:
        return None
    for entry in environ.split(b"\0"):
        if entry.startswith(b"SLURM_JOB_ID="):
            value = entry[len(b"SLURM_JOB_ID=") :].decode("ascii", errors="replace")
            return value if value.isdigit() else None
    return None


class ProcessTable:
    """The live processes, kept up to date by :meth:`scan`."""

    def __init__(self, procfs_root: str = "/proc") -> None:
        self.procfs_root = procfs_root
        self.procs: dict[int, Proc] = {}
        self._owed: dict[int, int] = {}  # pid -> ticks already counted for children gone
        self._begun = False

    def _open(self, pid: int) -> Proc | None:
        """A newly seen process, its CPU time so far counted, or None if it left (or is
        unreadable) meanwhile."""
        try:
            fd = os.open(os.path.join(self.procfs_root, str(pid), "stat"), _FLAGS)
        except OSError:
            return None
        try:
            raw = os.pread(fd, 1024, 0)
            stat = parse_stat(raw)
            identity = read_identity(self.procfs_root, pid)
        except (OSError, ValueError, IndexError):
            os.close(fd)
            return None
        return Proc(
            pid=pid,
            start_ticks=stat.start_ticks,
            uid=identity.uid,
            comm=stat.comm,
            ppid=stat.ppid,
            job=_read_job(self.procfs_root, pid),
            last_ticks=stat.total_ticks,
            container=container_of(self.procfs_root, pid),
            ns_pids=identity.ns_pids,
            pid_namespace=read_pid_namespace(self.procfs_root, pid),
            rss_bytes=stat.rss_pages * PAGE_SIZE,
            fd=fd,
            raw=raw,
        )

    def adopt(self, pid: int) -> Proc | None:
        """Know ``pid`` now, between scans (an API question about a process the daemon has
        not scanned yet): its energy counts from this moment."""
        known = self.procs.get(pid)
        if known is not None:
            return known
        proc = self._open(pid)
        if proc is not None:
            self.procs[pid] = proc
        return proc

    def scan(self) -> Scan:
        """Read every process; the first scan is the baseline (no usage reported)."""
        baseline = not self._begun
        self._begun = True
        try:
            names = os.listdir(self.procfs_root)
        except OSError:
            return Scan([], [])
        live = {int(n) for n in names if n.isdigit()}
        gone = [p for pid, p in self.procs.items() if pid not in live]
        reads: list[tuple[Proc, StatFields]] = []
        for pid, proc in self.procs.items():
            if pid not in live:
                continue
            raw = self._reread(proc)
            if raw is None:
                gone.append(proc)
            elif raw != proc.raw:  # most processes sleep: their stat does not change
                stat = self._parse(proc, raw)
                if stat is None:
                    gone.append(proc)
                else:
                    reads.append((proc, stat))
        self._leave_all(gone)
        for pid in [pid for pid in self._owed if pid not in self.procs]:
            del self._owed[pid]  # owed by a parent never known (another PID namespace)
        used = [u for u in (self._account(p, s) for p, s in reads) if u is not None]
        for pid in live.difference(self.procs):
            new = self._open(pid)
            if new is None:
                continue
            self.procs[pid] = new
            # Present at the first scan: counted from now. Born since: all its time is new.
            if new.last_ticks and not baseline:
                used.append(Usage(new, new.last_ticks / CLK_TCK))
        return Scan(used, gone)

    @staticmethod
    def _reread(proc: Proc) -> bytes | None:
        """The process's ``stat`` now, or None if it is gone (the kept descriptor of a
        process that exited reads as an error, even when its pid was reused)."""
        if proc.fd is None:
            return None
        try:
            return os.pread(proc.fd, 1024, 0)
        except OSError:
            return None

    @staticmethod
    def _parse(proc: Proc, raw: bytes) -> StatFields | None:
        try:
            stat = parse_stat(raw)
        except (ValueError, IndexError):
            return None
        proc.raw = raw
        return stat if stat.start_ticks == proc.start_ticks else None

    def _leave_all(self, gone: list[Proc]) -> None:
        """Children before their parents: a child's debts go to its parent as it leaves."""
        pending = {p.pid: p for p in gone}
        while pending:
            parents = {p.ppid for p in pending.values()}
            leaves = [p for pid, p in pending.items() if pid not in parents]
            for proc in leaves or list(pending.values()):  # a cycle (torn reads): any order
                self._leave(proc)
                del pending[proc.pid]

    def _leave(self, proc: Proc) -> None:
        _close(proc)
        self.procs.pop(proc.pid, None)
        # Its parent's reaped time will grow by its whole life, part of which is counted:
        # its time as last read, and what it still owed for children it reaped since (their
        # time, counted through them, is in its final total too).
        owed = proc.last_ticks + self._owed.pop(proc.pid, 0)
        self._owed[proc.ppid] = self._owed.get(proc.ppid, 0) + owed

    def _account(self, proc: Proc, stat: StatFields) -> Usage | None:
        delta = max(stat.total_ticks - proc.last_ticks, 0)
        proc.last_ticks = stat.total_ticks
        proc.ppid = stat.ppid
        proc.rss_bytes = stat.rss_pages * PAGE_SIZE
        owed = self._owed.get(proc.pid, 0)
        if owed:
            used = min(owed, delta)
            delta -= used
            if owed > used:
                self._owed[proc.pid] = owed - used
            else:
                del self._owed[proc.pid]
        return Usage(proc, delta / CLK_TCK) if delta else None

    def close(self) -> None:
        """Close every kept descriptor."""
        for proc in self.procs.values():
            _close(proc)
        self.procs.clear()


def _close(proc: Proc) -> None:
    if proc.fd is not None:
        with contextlib.suppress(OSError):
            os.close(proc.fd)
        proc.fd = None
