"""A fake ``/proc`` in ``tmp_path``: machine CPU time, memory and process trees, scripted.

Files are rewritten in place (same inode), as procfs regenerates them on each read, so
readers that keep a descriptor open and ``pread`` it (the sampler does) see each update.
CPU times are given in seconds and written in clock ticks, like the kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from impactlib.procfs import CLK_TCK


@dataclass
class FakeProcess:
    """One process of the fake tree."""

    pid: int
    ppid: int
    cpu_s: float = 0.0
    reaped_s: float = 0.0
    rss_pages: int = 1000
    children: list[int] = field(default_factory=list)


class FakeProc:
    """A scripted procfs root with ``ncpus`` CPUs."""

    def __init__(self, root: Path, ncpus: int = 2, memory_kb: int = 16_000_000) -> None:
        self.root = root
        self.ncpus = ncpus
        self.busy_s = 0.0
        self.idle_s = 0.0
        self.last_pid = 1000
        self.processes: dict[int, FakeProcess] = {}
        root.mkdir(parents=True, exist_ok=True)
        (root / "meminfo").write_text(f"MemTotal:       {memory_kb} kB\nMemFree: 1 kB\n")
        self._write_machine()

    # -- scripting --------------------------------------------------------------------
    def spawn(self, ppid: int = 1) -> FakeProcess:
        """A new process (child of ``ppid`` when that one is fake too)."""
        self.last_pid += 1
        proc = FakeProcess(self.last_pid, ppid)
        self.processes[proc.pid] = proc
        (self.root / str(proc.pid) / "task" / str(proc.pid)).mkdir(parents=True)
        self._write_process(proc)
        if ppid in self.processes:
            self.processes[ppid].children.append(proc.pid)
            self._write_process(self.processes[ppid])
        self._write_machine()
        return proc

    def advance(self, seconds: float, cpu_s: dict[int, float], other_busy_s: float = 0.0) -> None:
        """``seconds`` of wall time in which each pid of ``cpu_s`` used that much CPU and
        processes outside any tree (a neighbour, the system) used ``other_busy_s``."""
        busy = sum(cpu_s.values()) + other_busy_s
        assert busy <= self.ncpus * seconds + 1e-9, "more CPU time than the machine has"
        for pid, used in cpu_s.items():
            self.processes[pid].cpu_s += used
            self._write_process(self.processes[pid])
        self.busy_s += busy
        self.idle_s += self.ncpus * seconds - busy
        self._write_machine()

    def exit(self, pid: int) -> None:
        """``pid`` exits and its parent reaps it: the parent's reaped time grows by the
        child's own and reaped time; reading its kept ``stat`` now fails to parse, as a
        dead process's does."""
        proc = self.processes.pop(pid)
        parent = self.processes.get(proc.ppid)
        if parent is not None:
            parent.reaped_s += proc.cpu_s + proc.reaped_s
            parent.children.remove(pid)
            self._write_process(parent)
        _rewrite(self.root / str(pid) / "stat", "")

    # -- files ------------------------------------------------------------------------
    def _write_machine(self) -> None:
        busy, idle = round(self.busy_s * CLK_TCK), round(self.idle_s * CLK_TCK)
        lines = [f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0"]
        lines += [f"cpu{i} 0 0 0 0 0 0 0 0 0 0" for i in range(self.ncpus)]
        _rewrite(self.root / "stat", "\n".join(lines) + "\n")
        _rewrite(self.root / "loadavg", f"0.00 0.00 0.00 1/100 {self.last_pid}\n")

    def _write_process(self, proc: FakeProcess) -> None:
        ticks = round(proc.cpu_s * CLK_TCK)
        reaped = round(proc.reaped_s * CLK_TCK)
        fields = ["S", str(proc.ppid)] + ["0"] * 9 + [str(ticks), "0", str(reaped), "0"]
        fields += ["0"] * 6 + [str(proc.rss_pages)] + ["0"] * 20
        _rewrite(self.root / str(proc.pid) / "stat", f"{proc.pid} (fake) {' '.join(fields)}\n")
        children = " ".join(str(c) for c in proc.children)
        _rewrite(self.root / str(proc.pid) / "task" / str(proc.pid) / "children", children)


def _rewrite(path: Path, text: str) -> None:
    """Replace the content, keeping the inode (a reader's kept descriptor sees it)."""
    with open(path, "a+") as fh:
        fh.seek(0)
        fh.truncate()
        fh.write(text)
