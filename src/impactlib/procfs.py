"""CPU time and memory of the machine and of a process tree, read from ``/proc``.

Why not psutil here: the sampler runs every second for the whole run, so it keeps one file
descriptor per tracked process and re-reads it with ``pread`` (a few microseconds) instead
of re-opening files or scanning every PID each tick. New children are discovered through
``/proc/<pid>/task/<tid>/children`` every few seconds (a full ``/proc`` scan only where the
kernel lacks that file).

Children that exit between two samples are still counted: when a parent reaps a child, the
kernel adds the child's whole CPU time to the parent's ``cutime``/``cstime``; the tree total
adds that growth minus what was already counted for the children seen leaving. Orphans
re-parented outside the tree lose at most the time since their last sample.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class MachineCpu(NamedTuple):
    """Cumulative machine CPU seconds (all CPUs) from the ``cpu`` line of ``/proc/stat``.

    ``busy_s`` counts user, nice, system, irq and softirq; ``steal`` is another guest's time
    and ``idle``/``iowait`` are not work, so they are excluded.
    """

    busy_s: float
    total_s: float


def parse_proc_stat(text: str) -> MachineCpu:
    """Parse the first line of ``/proc/stat``."""
    first = text.split("\n", 1)[0].split()
    if not first or first[0] != "cpu":
        raise ValueError("no aggregate cpu line in /proc/stat")
    values = [int(v) for v in first[1:]]
    values += [0] * (8 - len(values))
    user, nice, system, idle, iowait, irq, softirq = values[:7]
    busy = user + nice + system + irq + softirq
    return MachineCpu(busy / CLK_TCK, (busy + idle + iowait) / CLK_TCK)


class PidStat(NamedTuple):
    """The fields of ``/proc/<pid>/stat`` the tracker needs (ticks and pages)."""

    ppid: int
    own_ticks: int  # utime + stime
    reaped_ticks: int  # cutime + cstime: children this process has waited for
    rss_pages: int


def parse_pid_stat(text: str) -> PidStat:
    """Parse ``/proc/<pid>/stat``; the command name may hold spaces and parentheses, so the
    fields are split after the *last* ``)`` (proc(5))."""
    rest = text[text.rindex(")") + 2 :].split()
    return PidStat(
        ppid=int(rest[1]),
        own_ticks=int(rest[11]) + int(rest[12]),
        reaped_ticks=int(rest[13]) + int(rest[14]),
        rss_pages=int(rest[21]),
    )


class _KeptFile:
    """A procfs file kept open and re-read from offset 0 (procfs regenerates on each read)."""

    __slots__ = ("fd",)

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)

    def read(self, size: int = 4096) -> str:
        return os.pread(self.fd, size, 0).decode("ascii", errors="replace")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


class MachineCpuReader:
    """Cheap repeated reads of the machine's cumulative CPU time from a kept ``/proc/stat``.

    ``capture`` only copies the bytes (the sampler's tick stays cheap); ``parse`` turns them
    into seconds later.
    """

    def __init__(self, procfs_root: str = "/proc") -> None:
        self._file = _KeptFile(os.path.join(procfs_root, "stat"))

    def capture(self) -> bytes:
        """The raw start of ``/proc/stat`` (``OSError`` if unreadable)."""
        return os.pread(self._file.fd, 512, 0)

    @staticmethod
    def parse(raw: bytes) -> MachineCpu:
        """Cumulative machine CPU time of a capture (``ValueError`` if malformed)."""
        return parse_proc_stat(raw.decode("ascii", errors="replace"))

    def read(self) -> MachineCpu:
        """Current cumulative machine CPU time."""
        return self.parse(self.capture())

    def close(self) -> None:
        """Close the kept descriptor."""
        self._file.close()


class PidCreationWatch:
    """Tells whether any process or thread was created since the last look.

    The last field of ``/proc/loadavg`` is the PID most recently handed out in this PID
    namespace; while it stays put, no process can have joined a tracked tree, so the costly
    walk of every thread's ``children`` file is skipped. Any doubt (file missing or
    malformed) answers "changed".
    """

    def __init__(self, procfs_root: str = "/proc") -> None:
        try:
            self._file: _KeptFile | None = _KeptFile(os.path.join(procfs_root, "loadavg"))
        except OSError:
            self._file = None
        self._last: bytes | None = None

    def changed(self) -> bool:
        """True unless the newest PID is the one seen at the previous call."""
        if self._file is None:
            return True
        try:
            newest = os.pread(self._file.fd, 128, 0).rsplit(b" ", 1)[1]
        except (OSError, IndexError):
            return True
        changed = newest != self._last
        self._last = newest
        return changed

    def close(self) -> None:
        """Close the kept descriptor."""
        if self._file is not None:
            self._file.close()


def online_cpus(procfs_root: str = "/proc") -> int:
    """Logical CPUs the kernel lists in ``/proc/stat`` (``cpuN`` lines), at least 1: what
    the machine's CPU time is shared between. Falls back to ``os.cpu_count()``."""
    try:
        with open(os.path.join(procfs_root, "stat"), "rb") as fh:
            count = sum(1 for line in fh if line[:3] == b"cpu" and line[3:4].isdigit())
    except OSError:
        count = 0
    return count or os.cpu_count() or 1


def total_memory_bytes(procfs_root: str = "/proc") -> int:
    """``MemTotal`` from ``/proc/meminfo`` in bytes (0 if unreadable)."""
    try:
        for line in Path(procfs_root, "meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


@dataclass
class _Member:
    file: _KeptFile
    ppid: int
    last_total: int  # own + reaped ticks at the last successful read


class TreeUsage(NamedTuple):
    """Cumulative CPU seconds of a tree since tracking began, and its current memory."""

    cpu_s: float
    rss_bytes: int
    processes: int


TreeCapture = tuple[tuple[int, "bytes | None"], ...]
"""Raw ``/proc/<pid>/stat`` bytes of every member at one tick (``None``: it was gone)."""


class ProcessTree:
    """A process and all its descendants, with CPU time that survives children exiting.

    Sampling is split in two so the sampler's tick stays cheap: :meth:`capture` (at the
    tick) copies each member's ``stat`` bytes and looks for new children; :meth:`account`
    (later, in tick order) parses them and updates the totals. :meth:`sample` does both.
    """

    def __init__(
        self,
        root_pid: int,
        procfs_root: str = "/proc",
        rescan_s: float = 2.0,
        root_is_new: bool = False,
    ) -> None:
        self.root_pid = root_pid
        self.procfs_root = procfs_root
        self.rescan_s = rescan_s
        self._members: dict[int, _Member] = {}
        self._ticks = 0
        self._pending: dict[int, int] = {}  # parent pid -> ticks already counted for gone children
        self._last_scan: float | None = None
        self._children_files = True
        self._root_is_new = root_is_new
        self._root_exit_ticks: int | None = None  # given by account_exit before the root left
        self._root_reaped = False  # account_exit came: the root's pid is no longer the root
        self._new_pids = PidCreationWatch(procfs_root)
        self._new_pids.changed()  # the baseline discovery below sees everything up to now
        self._discover(baseline=True)

    # -- discovery ---------------------------------------------------------------------
    def _stat_path(self, pid: int) -> str:
        return os.path.join(self.procfs_root, str(pid), "stat")

    def _children_of(self, pid: int) -> list[int]:
        task_dir = os.path.join(self.procfs_root, str(pid), "task")
        found: list[int] = []
        try:
            tids = os.listdir(task_dir)
        except OSError:
            return found
        for tid in tids:
            try:
                with open(os.path.join(task_dir, tid, "children"), "rb") as fh:
                    found.extend(int(p) for p in fh.read().split())
            except FileNotFoundError:
                self._children_files = False
                return found
            except OSError:
                continue
        return found

    def _scan_all(self, starts: set[int]) -> list[int]:
        """Descendants of ``starts`` by walking every PID's parent (kernels without
        ``children`` files)."""
        parents: dict[int, list[int]] = {}
        for name in os.listdir(self.procfs_root):
            if not name.isdigit():
                continue
            try:
                with open(self._stat_path(int(name))) as fh:
                    ppid = parse_pid_stat(fh.read()).ppid
            except (OSError, ValueError, IndexError):
                continue
            parents.setdefault(ppid, []).append(int(name))
        out: list[int] = []
        stack = list(starts)
        while stack:
            for child in parents.get(stack.pop(), []):
                out.append(child)
                stack.append(child)
        return out

    def _discover(self, baseline: bool = False) -> None:
        starts = {self.root_pid, *self._members}
        if self._root_reaped:  # its pid is gone, or reused by a stranger: not ours to follow
            starts.discard(self.root_pid)
        if self._children_files:
            seen = set(starts)
            pending = list(seen)
            descendants: list[int] = []
            while pending:
                for child in self._children_of(pending.pop()):
                    if child not in seen:
                        seen.add(child)
                        descendants.append(child)
                        pending.append(child)
            if not self._children_files:
                descendants = self._scan_all(starts)
        else:
            descendants = self._scan_all(starts)
        for pid in (*starts, *descendants):  # members are skipped: the root, unless reaped
            if pid in self._members:
                continue
            try:
                kept = _KeptFile(self._stat_path(pid))
                stat = parse_pid_stat(kept.read())
            except (OSError, ValueError, IndexError):
                continue
            total = stat.own_ticks + stat.reaped_ticks
            # Processes present when tracking starts count from now; later ones were born
            # inside the tracked window, so their whole CPU time is ours.
            counted_from_now = baseline and not (self._root_is_new and pid == self.root_pid)
            self._members[pid] = _Member(kept, stat.ppid, total if counted_from_now else 0)

    # -- sampling ----------------------------------------------------------------------
    def capture(self, now_s: float) -> TreeCapture:
        """Copy every member's ``stat``; look for new children every ``rescan_s`` seconds,
        when a process was created since the last look."""
        if self._last_scan is None or now_s - self._last_scan >= self.rescan_s:
            self._last_scan = now_s
            if self._new_pids.changed():
                self._discover()
        captured: list[tuple[int, bytes | None]] = []
        for pid, member in self._members.items():
            try:
                captured.append((pid, os.pread(member.file.fd, 1024, 0)))
            except OSError:
                captured.append((pid, None))
        return tuple(captured)

    def account(self, captured: TreeCapture) -> TreeUsage:
        """Add the CPU time of one capture (captures must be accounted in tick order)."""
        gone: list[tuple[int, _Member]] = []
        reads: list[tuple[int, _Member, PidStat]] = []
        rss_pages = 0
        for pid, raw in captured:
            member = self._members.get(pid)
            if member is None:  # left at an earlier capture
                continue
            try:
                stat = parse_pid_stat(raw.decode("ascii", errors="replace")) if raw else None
            except (ValueError, IndexError):
                stat = None
            if stat is None:  # unreadable at the tick: the process had exited
                gone.append((pid, member))
                continue
            reads.append((pid, member, stat))
            rss_pages += stat.rss_pages
        root_left = False
        for pid, member in gone:
            root_left = root_left or pid == self.root_pid
            member.file.close()
            del self._members[pid]
            # Its parent's reaped time will grow by the child's whole lifetime, part of which
            # was already counted through the child itself.
            self._pending[member.ppid] = self._pending.get(member.ppid, 0) + member.last_total
        # A process that left still owing (it had reaped children counted through
        # themselves) passes the debt to its parent, whose reaped time holds theirs too;
        # up the chain, whatever order the exits were seen in.
        parents = {pid: member.ppid for pid, member in gone}
        moved = True
        while moved:
            moved = False
            for pid, ppid in parents.items():
                owed = self._pending.pop(pid, 0)
                if owed:
                    self._pending[ppid] = self._pending.get(ppid, 0) + owed
                    moved = True
        for pid, member, stat in reads:
            total = stat.own_ticks + stat.reaped_ticks
            delta = max(total - member.last_total, 0)
            member.last_total = total
            member.ppid = stat.ppid
            owed = self._pending.get(pid, 0)
            if owed:
                used = min(owed, delta)
                delta -= used
                if owed > used:
                    self._pending[pid] = owed - used
                else:
                    del self._pending[pid]
            self._ticks += delta
        if root_left and self._root_exit_ticks is not None:
            self._ticks = max(self._ticks, self._root_exit_ticks)
        return TreeUsage(self._ticks / CLK_TCK, rss_pages * PAGE_SIZE, len(self._members))

    def sample(self, now_s: float) -> TreeUsage:
        """Capture and account at once."""
        return self.account(self.capture(now_s))

    def account_exit(self, root_cpu_s: float) -> None:
        """Use the exit accounting of the root (``wait4`` rusage: itself plus every
        descendant it reaped) when it exceeds what the samples saw.

        The CPU time the samples missed was used before the root exited, so it belongs to
        the interval in which the root is first seen gone, not to whichever interval comes
        next (at ``stop()`` that one can last a millisecond, with no machine CPU time to
        split). Captures are accounted later than they are taken, so the total is kept
        until that capture is accounted, or applied now if it already was."""
        ticks = round(root_cpu_s * CLK_TCK)
        self._root_reaped = True
        if self.root_pid in self._members:
            self._root_exit_ticks = ticks
        else:
            self._ticks = max(self._ticks, ticks)

    def pids(self) -> list[int]:
        """PIDs currently in the tree."""
        return list(self._members)

    def close(self) -> None:
        """Close every kept descriptor."""
        for member in self._members.values():
            member.file.close()
        self._members.clear()
        self._new_pids.close()


class CpuInfo(NamedTuple):
    """What ``/proc/cpuinfo`` says about the processors, read once.

    The file is generated by the kernel on every read and costs milliseconds on large
    machines (it queries each CPU's frequency), so the model, socket and core counts the
    estimation model and the planning tools need come from one read.
    """

    model: str | None  # first "model name" (x86) or "Hardware" (some ARM kernels) value
    sockets: int  # distinct "physical id", at least 1
    physical_cores: int | None  # distinct (physical id, core id); None where not listed


def read_cpuinfo(procfs_root: str = "/proc") -> CpuInfo:
    """Parse ``/proc/cpuinfo``; an unreadable file gives an unknown model on one socket."""
    try:
        text = Path(procfs_root, "cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return CpuInfo(None, 1, None)
    model: str | None = None
    sockets: set[str] = set()
    cores: set[tuple[str, str]] = set()
    physical = ""
    for line in text.splitlines():
        key, colon, value = line.partition(":")
        if not colon:
            continue
        key, value = key.strip().lower(), value.strip()
        if key in ("model name", "hardware") and model is None:
            model = value or None
        elif key == "physical id":
            physical = value
            sockets.add(value)
        elif key == "core id":
            cores.add((physical, value))
    return CpuInfo(model, max(len(sockets), 1), len(cores) or None)


# -- cgroups (appended for SLURM jobs and other cgroup scopes) ---------------------------


class CgroupMembership(NamedTuple):
    """One line of ``/proc/<pid>/cgroup``: hierarchy id, controllers, path in the hierarchy.

    cgroup v2 has the single line ``0::/path`` (no controllers); each v1 hierarchy has its
    own line, such as ``4:cpuacct,cpu:/slurm/uid_1000/job_42/step_0``.
    """

    hierarchy: int
    controllers: tuple[str, ...]
    path: str


def parse_proc_cgroup(text: str) -> list[CgroupMembership]:
    """Parse ``/proc/<pid>/cgroup`` (malformed lines are skipped: a kernel never writes one,
    and a guess is worse than no cgroup)."""
    out = []
    for line in text.splitlines():
        number, _, rest = line.partition(":")
        controllers, colon, path = rest.partition(":")
        if not colon or not number.isdigit() or not path.startswith("/"):
            continue
        names = tuple(c for c in controllers.split(",") if c)
        out.append(CgroupMembership(int(number), names, path))
    return out


def parse_cpu_list(text: str) -> int:
    """How many CPUs a cpuset list names (``0-3,8,10-11`` -> 7; empty -> 0)."""
    count = 0
    for part in text.strip().split(","):
        if not part:
            continue
        first, dash, last = part.partition("-")
        count += int(last) - int(first) + 1 if dash else 1
    return count


class CgroupUsage(NamedTuple):
    """Cumulative CPU seconds of a cgroup since tracking began, and its memory now."""

    cpu_s: float
    memory_bytes: int


CgroupCapture = tuple["bytes | None", "bytes | None"]
"""Raw CPU and memory counter bytes of a cgroup at one tick (``None``: unreadable)."""


class CgroupCounters:
    """A cgroup's CPU time and memory, read from kept descriptors like :class:`ProcessTree`.

    cgroup v2 keeps ``usage_usec`` in ``cpu.stat`` (µs) and ``memory.current``; v1 keeps
    ``cpuacct.usage`` (ns) and ``memory.usage_in_bytes`` in per-controller directories.
    Both counters are hierarchical and keep the time of processes that exited, so every
    process of the group counts without following any process tree. CPU time counts from
    the first capture accounted (the baseline), not from the group's creation.
    """

    def __init__(self, cpu_file: str, memory_file: str | None, version: int) -> None:
        self.version = version
        self.cpu_dir = os.path.dirname(cpu_file)
        self._cpu = _KeptFile(cpu_file)
        self._memory: _KeptFile | None = None
        if memory_file is not None:
            with contextlib.suppress(OSError):
                self._memory = _KeptFile(memory_file)
        self._base_s: float | None = None
        self._last = CgroupUsage(0.0, 0)

    def capture(self) -> CgroupCapture:
        """The raw counters now."""
        return _pread(self._cpu), _pread(self._memory) if self._memory else None

    def account(self, captured: CgroupCapture) -> CgroupUsage:
        """CPU seconds since the baseline and current memory (an unreadable counter keeps
        its last value: the next good read covers the gap)."""
        cpu_raw, memory_raw = captured
        cpu_s = self._parse_cpu(cpu_raw)
        if cpu_s is not None:
            if self._base_s is None:
                self._base_s = cpu_s
            self._last = self._last._replace(cpu_s=max(cpu_s - self._base_s, 0.0))
        memory = _parse_int(memory_raw)
        if memory is not None:
            self._last = self._last._replace(memory_bytes=memory)
        return self._last

    def _parse_cpu(self, raw: bytes | None) -> float | None:
        if raw is None:
            return None
        if self.version == 1:
            ns = _parse_int(raw)
            return None if ns is None else ns / 1e9
        for line in raw.decode("ascii", errors="replace").splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec" and value.strip().isdigit():
                return int(value) / 1e6
        return None

    def pids(self) -> set[int]:
        """Every process in the group and its sub-groups (``cgroup.procs`` of each)."""
        found: set[int] = set()
        for folder, _, files in os.walk(self.cpu_dir):
            if "cgroup.procs" in files:
                with contextlib.suppress(OSError, ValueError):
                    text = Path(folder, "cgroup.procs").read_text()
                    found.update(int(p) for p in text.split())
        return found

    def close(self) -> None:
        """Close the kept descriptors."""
        self._cpu.close()
        if self._memory is not None:
            self._memory.close()


def _pread(kept: _KeptFile) -> bytes | None:
    try:
        return os.pread(kept.fd, 4096, 0)
    except OSError:
        return None


def _parse_int(raw: bytes | None) -> int | None:
    text = raw.strip() if raw is not None else b""
    return int(text) if text.isdigit() else None
