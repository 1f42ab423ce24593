"""A fake lab host: a powercap package and a ``/proc`` whose load the test scripts, with the
real process structure of the jobs it is told to watch.

End-to-end tests need real processes (real pids and uids, a daemon answering over a socket,
``impactlib run`` waiting for its child) but must not depend on how busy the machine is.
:class:`ScriptedHost` mirrors each watched process and its real descendants into a fake
``/proc`` (``stat`` with the real parent, ``status`` with the real uid, ``children`` files),
but their CPU time is scripted: each mirrored process uses ``cpu_per_process`` CPUs while it
lives, the rest of the machine (the system, nobody's job) ``background_cpus``. With
``cpu_per_process=None`` each mirrored process uses the CPU time the kernel counts for it
instead: the same work then costs the same CPU time however busy the real machine is (a
burner of ``process_time``), and still only the watched processes load the fake host. The machine's
``stat`` adds them up in clock ticks as the kernel does, and the package counter advances at
``idle_w + w_per_busy_cpu x busy CPUs`` from the same numbers: power, load and every
process's CPU time agree exactly, whatever else runs on the real machine.

With ``wall_beyond_w`` the host also has a wall sensor: the server draws its package's power
plus that much (fans, disks, board, power supply), integrated exactly in :meth:`wall_j` (moved
under the same lock as the package counter) and shown as an ACPI ``power_meter`` in an hwmon
tree under :attr:`hwmon` (``power1_average`` in microwatts, rewritten at every step).

A mirrored process that exits has its ``stat`` emptied (as a dead process's reads fail) and
its CPU time moved to its parent's reaped time. Files are rewritten in place at a fixed
width, so readers that keep a descriptor open see each update.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from inplace import rewrite
from powercap import FakePowercap

from impactlib.procfs import CLK_TCK

PACKAGE = "cpu:package-0"
TICK_S = 0.02
CPU_MODEL = "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz"


@dataclass
class _Mirrored:
    """One real process as the fake ``/proc`` shows it."""

    pid: int
    ppid: int
    uid: int
    cpu_s: float = 0.0
    reaped_s: float = 0.0
    children: list[int] = field(default_factory=list)
    alive: bool = True
    cgroup: str = "0::/user.slice\n"


def _real_children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                found += [int(word) for word in fh.read().split()]
        except OSError:
            continue
    return found


def _real_cpu_s(pid: int) -> float | None:
    """The process's own CPU time (user + system) as the kernel counts it; None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _real_uid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _real_nspid(pid: int) -> str:
    """The ``NSpid`` line of the real ``status`` ("" where the kernel has none)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next((line for line in fh if line.startswith("NSpid:")), "")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    """Running, not gone and not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class ScriptedHost:
    """The fake host; run it in a ``with`` block. ``base`` must be readable by every user
    whose processes it watches (their trackers read its ``/proc`` and powercap tree)."""

    def __init__(
        self,
        base: Path,
        idle_w: float,
        w_per_busy_cpu: float,
        *,
        cpus: int = 4,
        cpu_per_process: float | None = 0.25,
        background_cpus: float = 0.5,
        wall_beyond_w: float | None = None,
    ) -> None:
        self.powercap = FakePowercap(base)  # short paths: a summary quotes them
        self.powercap.add_package(0)
        self.procfs = base / "proc"
        self.procfs.mkdir(parents=True)
        self.idle_w, self.w_per_busy_cpu = idle_w, w_per_busy_cpu
        self.cpus, self.cpu_per_process = cpus, cpu_per_process
        self.background_cpus = background_cpus
        self.wall_beyond_w = wall_beyond_w
        self.hwmon = base / "hwmon"
        self._wall_j = 0.0
        if wall_beyond_w is not None:
            sensor = self.hwmon / "hwmon0"
            sensor.mkdir(parents=True)
            (sensor / "name").write_text("power_meter\n")
            (sensor / "power1_average_interval").write_text("100\n")
            (sensor / "power1_accuracy").write_text("98.0%\n")  # as the ACPI meter states it
            rewrite(sensor / "power1_average", f"{round((idle_w + wall_beyond_w) * 1e6)}\n", 24)
        self.busy_s = self.total_s = 0.0
        self._procs: dict[int, _Mirrored] = {}
        self._newest_pid = 1  # the last pid mirrored: ``loadavg``'s newest pid
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scripted-host", daemon=True)
        (self.procfs / "meminfo").write_text("MemTotal:       16000000 kB\nMemFree: 1 kB\n")
        cpuinfo = "".join(
            f"processor\t: {i}\nmodel name\t: {CPU_MODEL}\nphysical id\t: 0\ncore id\t: {i}\n"
            f"cpu cores\t: {cpus}\n\n"
            for i in range(cpus)
        )
        (self.procfs / "cpuinfo").write_text(cpuinfo)
        self._write_machine()

    # -- scripting -----------------------------------------------------------------------
    def watch(self, pid: int, cgroup: str = "0::/user.slice\n") -> None:
        """Mirror ``pid`` and, from now on, every descendant it starts; they are shown in
        ``cgroup`` (the contents of their ``/proc/<pid>/cgroup``), as children inherit
        their parent's. Each one's PID namespace is mirrored from the real ``/proc``: its
        ``NSpid`` line and its ``ns/pid`` link."""
        with self._lock:
            self._mirror(pid, ppid=os.getpid(), cgroup=cgroup)

    def wall_j(self) -> float:
        """The wall's cumulative joules since the host was made (exact)."""
        with self._lock:
            return self._wall_j

    def __enter__(self) -> ScriptedHost:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.freeze()

    def freeze(self) -> None:
        """Stop the clock: from now on no CPU time passes and no energy is drawn, so every
        reader's totals stop moving (and can be compared at leisure)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    # -- the clock -----------------------------------------------------------------------
    def _loop(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(TICK_S):
            now = time.monotonic()
            with self._lock:
                self._tick(now - last)
            last = now

    def _tick(self, dt: float) -> None:
        for pid in list(self._procs):
            proc = self._procs[pid]
            if proc.alive:
                for child in _real_children(pid):
                    if child not in self._procs:
                        self._mirror(child, ppid=pid, cgroup=proc.cgroup)
        busy = self.background_cpus * dt
        for proc in list(self._procs.values()):
            if not proc.alive:
                continue
            if _alive(proc.pid):
                used = self._cpu_used(proc, dt)
                proc.cpu_s += used
                busy += used
                self._write_process(proc)
            else:
                self._exit(proc)
        busy = min(busy, self.cpus * dt)
        self.busy_s += busy
        self.total_s += self.cpus * dt
        self._write_machine()
        package_j = self.idle_w * dt + self.w_per_busy_cpu * busy
        self.powercap.advance(PACKAGE, package_j)
        if self.wall_beyond_w is not None and dt > 0:
            wall_j = package_j + self.wall_beyond_w * dt
            self._wall_j += wall_j
            microwatts = round(wall_j / dt * 1e6)
            rewrite(self.hwmon / "hwmon0" / "power1_average", f"{microwatts}\n", 24)

    def _cpu_used(self, proc: _Mirrored, dt: float) -> float:
        """CPU-seconds ``proc`` used in the last ``dt`` s: scripted, or the kernel's count."""
        if self.cpu_per_process is not None:
            return self.cpu_per_process * dt
        own = _real_cpu_s(proc.pid)
        return max(own - proc.cpu_s, 0.0) if own is not None else 0.0

    # -- files ---------------------------------------------------------------------------
    def _mirror(self, pid: int, ppid: int, cgroup: str) -> None:
        uid = _real_uid(pid)
        if uid is None:
            return
        proc = _Mirrored(pid, ppid, uid, cgroup=cgroup)
        self._procs[pid] = proc
        self._newest_pid = pid
        folder = self.procfs / str(pid)
        (folder / "task" / str(pid)).mkdir(parents=True, exist_ok=True)
        ids = "\t".join([str(uid)] * 4)
        status = f"Name:\tfake\nPid:\t{pid}\nUid:\t{ids}\nGid:\t{ids}\n{_real_nspid(pid)}"
        (folder / "status").write_text(status)
        (folder / "cgroup").write_text(cgroup)
        with contextlib.suppress(OSError):
            (folder / "ns").mkdir(exist_ok=True)
            (folder / "ns" / "pid").symlink_to(os.readlink(f"/proc/{pid}/ns/pid"))
        parent = self._procs.get(ppid)
        if parent is not None:
            parent.children.append(pid)
            self._write_process(parent)
        self._write_process(proc)
        self._write_machine()

    def _exit(self, proc: _Mirrored) -> None:
        proc.alive = False
        parent = self._procs.get(proc.ppid)
        if parent is not None and parent.alive:
            parent.reaped_s += proc.cpu_s + proc.reaped_s
            parent.children.remove(proc.pid)
            self._write_process(parent)
        rewrite(self.procfs / str(proc.pid) / "stat", "")

    def _write_process(self, proc: _Mirrored) -> None:
        ticks, reaped = round(proc.cpu_s * CLK_TCK), round(proc.reaped_s * CLK_TCK)
        fields = ["S", str(proc.ppid)] + ["0"] * 9 + [str(ticks), "0", str(reaped), "0"]
        fields += ["0"] * 4 + ["1000", "0", "1000"] + ["0"] * 20  # starttime 1000, rss 1000
        folder = self.procfs / str(proc.pid)
        rewrite(folder / "stat", f"{proc.pid} (fake) {' '.join(fields)}\n", 256)
        children = " ".join(str(c) for c in proc.children)
        rewrite(folder / "task" / str(proc.pid) / "children", children)

    def _write_machine(self) -> None:
        busy = round(self.busy_s * CLK_TCK)
        idle = round(self.total_s * CLK_TCK) - busy
        lines = [f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0"]
        per_cpu = [
            f"cpu{i} {busy // self.cpus} 0 0 {idle // self.cpus} 0 0 0 0 0 0"
            for i in range(self.cpus)
        ]
        rewrite(self.procfs / "stat", "\n".join(lines + per_cpu) + "\n", 2048)
        # The pid created last (not the largest: pids wrap), at a fixed width by zero-padding,
        # never by trailing spaces: readers take the last word (``procfs.PidCreationWatch``).
        rewrite(self.procfs / "loadavg", f"0.00 0.00 0.00 1/100 {self._newest_pid:010d}\n")
