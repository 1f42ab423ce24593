"""The machine-wide process table: CPU time per process, counted once, owners and jobs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from fakeproc import FakeProc

from impactlib.server.procscan import ProcessTable, job_from_cgroup, parse_stat


def _own(fake: FakeProc, pid: int, uid: int, cgroup: str = "0::/user.slice\n") -> None:
    """Give a fake process an owner and a cgroup (read once, when first seen)."""
    (fake.root / str(pid) / "status").write_text(f"Name:\tfake\nUid:\t{uid}\t{uid}\t{uid}\t0\n")
    (fake.root / str(pid) / "cgroup").write_text(cgroup)


def _spawn(fake: FakeProc, ppid: int, uid: int, cgroup: str = "0::/user.slice\n") -> int:
    pid = fake.spawn(ppid).pid
    _own(fake, pid, uid, cgroup)
    return pid


def _exit(fake: FakeProc, pid: int) -> None:
    """The process is reaped by its parent: its whole CPU time joins the parent's cutime."""
    proc = fake.processes.pop(pid)
    parent = fake.processes.get(proc.ppid)
    if parent is not None:
        parent.reaped_s += proc.cpu_s + proc.reaped_s
        parent.children.remove(pid)
        fake._write_process(parent)
    shutil.rmtree(fake.root / str(pid))


def _used(table: ProcessTable) -> dict[int, float]:
    return {u.proc.pid: round(u.cpu_s, 6) for u in table.scan().used}


def test_stat_is_split_after_the_last_parenthesis() -> None:
    raw = b"42 (a) b (c)) S 7 " + b" ".join([b"0"] * 9) + b" 100 50 30 20 0 0 0 0 777 0 12\n"
    stat = parse_stat(raw)
    assert stat.comm == "a) b (c)"
    assert (stat.ppid, stat.total_ticks, stat.start_ticks, stat.rss_pages) == (7, 200, 777, 12)


@pytest.mark.parametrize(
    ("text", "job"),
    [
        ("0::/system.slice/slurmstepd.scope/job_123/step_0/user/task_0\n", "123"),
        ("0::/system.slice/node1_slurmstepd.scope/job_7/step_batch/user/task_0\n", "7"),
        ("0::/system.slice/slurmstepd.scope/s5K1KKYAYG5D00/step_0/user/task_0\n", "s5K1KKYAYG5D00"),
        ("4:cpuacct,cpu:/slurm/uid_1000/job_31/step_0/task_0\n1:name=systemd:/\n", "31"),
        ("0::/system.slice/slurmstepd.scope/system\n", None),  # slurmstepd's waiting area
        ("0::/user.slice/user-1000.slice/session-3.scope\n", None),
        ("", None),
    ],
)
def test_job_comes_from_the_cgroup_path(text: str, job: str | None) -> None:
    assert job_from_cgroup(text) == job


def test_first_scan_is_a_baseline_and_later_scans_count_growth(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path / "proc")
    old = _spawn(fake, 1, 1000)
    fake.advance(1.0, {old: 0.7})
    table = ProcessTable(str(fake.root))
    assert table.scan().used == []
    fake.advance(1.0, {old: 0.4})
    assert _used(table) == {old: 0.4}
    assert table.procs[old].uid == 1000


def test_a_process_born_between_scans_counts_from_its_birth(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path / "proc")
    parent = _spawn(fake, 1, 1000)
    table = ProcessTable(str(fake.root))
    table.scan()
    child = _spawn(fake, parent, 1000, "0::/system.slice/slurmstepd.scope/job_9/step_0\n")
    fake.advance(1.0, {child: 0.5})
    assert _used(table) == {child: 0.5}
    assert table.procs[child].job == "9"


def test_an_exited_child_is_counted_once_through_its_parent(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path / "proc")
    parent = _spawn(fake, 1, 1000)
    table = ProcessTable(str(fake.root))
    table.scan()
    child = _spawn(fake, parent, 1000)
    fake.advance(1.0, {child: 0.6})
    assert _used(table) == {child: 0.6}
    fake.advance(1.0, {child: 0.3})  # used, then exited before the next scan
    _exit(fake, child)
    fake.advance(1.0, {parent: 0.2})
    scan = table.scan()
    assert [p.pid for p in scan.gone] == [child]
    # The parent's cutime grew by 0.9; 0.6 was counted through the child: 0.3 + its own 0.2.
    assert {u.proc.pid: round(u.cpu_s, 6) for u in scan.used} == {parent: 0.5}


def test_a_grandchild_reaped_by_a_child_that_then_exits_is_not_counted_twice(
    tmp_path: Path,
) -> None:
    fake = FakeProc(tmp_path / "proc")
    parent = _spawn(fake, 1, 1000)
    table = ProcessTable(str(fake.root))
    table.scan()
    child = _spawn(fake, parent, 1000)
    grandchild = _spawn(fake, child, 1000)
    fake.advance(1.0, {child: 0.2, grandchild: 0.7})
    assert _used(table) == {child: 0.2, grandchild: 0.7}
    # The grandchild exits, the child reaps it and exits too, all before the next scan.
    _exit(fake, grandchild)
    _exit(fake, child)
    fake.advance(1.0, {parent: 0.1})
    scan = table.scan()
    assert sorted(p.pid for p in scan.gone) == [child, grandchild]
    assert {u.proc.pid: round(u.cpu_s, 6) for u in scan.used} == {parent: 0.1}


def test_a_short_lived_grandchild_is_charged_to_whoever_reaped_it(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path / "proc")
    parent = _spawn(fake, 1, 1000)
    table = ProcessTable(str(fake.root))
    table.scan()
    fake.processes[parent].reaped_s += 0.8  # born, burned and reaped between two scans
    fake._write_process(fake.processes[parent])
    assert _used(table) == {parent: 0.8}


def test_adopted_between_scans_counts_from_then(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path / "proc")
    table = ProcessTable(str(fake.root))
    table.scan()
    pid = _spawn(fake, 1, 1000)
    fake.advance(1.0, {pid: 0.5})
    assert table.adopt(pid) is not None
    fake.advance(1.0, {pid: 0.25})
    assert _used(table) == {pid: 0.25}
    assert table.adopt(99999) is None


def test_the_real_proc_reads_this_process(tmp_path: Path) -> None:
    table = ProcessTable()
    table.scan()
    me = table.procs[os.getpid()]
    assert me.uid == os.getuid() and me.ppid == os.getppid()
    table.close()
    assert table.procs == {}
