"""Parsing /proc and following a process tree whose children exit between samples."""

from __future__ import annotations

import resource
import shutil
import time
from pathlib import Path

import pytest
from burn import burn, burn_in_children

from impactlib.procfs import (
    CLK_TCK,
    CgroupCounters,
    ProcessTree,
    parse_cpu_list,
    parse_pid_stat,
    parse_proc_cgroup,
    parse_proc_stat,
    read_cpuinfo,
    total_memory_bytes,
)


def test_parse_pid_stat_with_spaces_and_parentheses_in_the_name() -> None:
    fields = ["S", "42"] + ["0"] * 9 + ["100", "50", "7", "3"] + ["0"] * 6 + ["1234"] + ["0"] * 20
    text = f"4242 (evil) name (x)) {' '.join(fields)}\n"
    stat = parse_pid_stat(text)
    assert (stat.ppid, stat.own_ticks, stat.reaped_ticks, stat.rss_pages) == (42, 150, 10, 1234)


def test_parse_proc_stat_busy_excludes_idle_iowait_and_steal() -> None:
    text = "cpu  100 20 30 1000 50 5 5 999 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n"
    cpu = parse_proc_stat(text)
    assert cpu.busy_s == pytest.approx((100 + 20 + 30 + 5 + 5) / CLK_TCK)
    assert cpu.total_s == pytest.approx((160 + 1000 + 50) / CLK_TCK)


def test_parse_proc_stat_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        parse_proc_stat("intr 1 2 3\n")


def test_total_memory_from_a_fake_proc(tmp_path: Path) -> None:
    (tmp_path / "meminfo").write_text("MemTotal:       16384000 kB\nMemFree: 1 kB\n")
    assert total_memory_bytes(str(tmp_path)) == 16384000 * 1024
    assert total_memory_bytes(str(tmp_path / "missing")) == 0


def _wait_sampling(tree: ProcessTree, child: object, period: float = 0.2) -> float:
    while child.poll() is None:  # type: ignore[attr-defined]
        tree.sample(time.monotonic())
        time.sleep(period)
    return tree.sample(time.monotonic()).cpu_s


def test_tree_counts_children_that_exit_between_samples() -> None:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    parent = burn_in_children(0.3, 5)
    tree = ProcessTree(parent.pid, root_is_new=True, rescan_s=0.2)
    # Samples every 0.7 s: most children start and exit unseen between two samples.
    counted = _wait_sampling(tree, parent, period=0.7)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    truth = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert truth > 1.2
    assert counted == pytest.approx(truth, rel=0.05, abs=0.05)


def test_tree_does_not_double_count_children_seen_then_reaped() -> None:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    parent = burn_in_children(0.8, 2)
    tree = ProcessTree(parent.pid, root_is_new=True, rescan_s=0.05)
    counted = _wait_sampling(tree, parent, period=0.05)  # every child seen alive many times
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    truth = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert counted == pytest.approx(truth, rel=0.05, abs=0.05)


def test_tree_baseline_excludes_time_before_tracking() -> None:
    child = burn(1.0)
    time.sleep(0.6)
    tree = ProcessTree(child.pid)  # already running: its first 0.6 s is not ours
    counted = _wait_sampling(tree, child)
    assert 0.2 < counted < 0.6
    assert tree.pids() == []


def test_cpuinfo_of_a_two_socket_x86_server(tmp_path: Path) -> None:
    blocks = [
        f"processor\t: {n}\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6148"
        f" CPU @ 2.40GHz\nphysical id\t: {n // 4}\nsiblings\t: 4\ncore id\t\t: {n % 4 // 2}\n"
        for n in range(8)  # 2 sockets x 2 cores x 2 threads
    ]
    (tmp_path / "cpuinfo").write_text("\n".join(blocks))
    info = read_cpuinfo(str(tmp_path))
    assert info.model == "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz"
    assert (info.sockets, info.physical_cores) == (2, 4)


def test_cpuinfo_of_an_arm_board_and_of_nothing(tmp_path: Path) -> None:
    (tmp_path / "cpuinfo").write_text(
        "processor\t: 0\nBogoMIPS\t: 108.00\n\nprocessor\t: 1\nBogoMIPS\t: 108.00\n\n"
        "Hardware\t: BCM2835\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n"
    )
    assert read_cpuinfo(str(tmp_path)) == ("BCM2835", 1, None)  # no physical/core ids
    assert read_cpuinfo(str(tmp_path / "absent")) == (None, 1, None)


# -- cgroups ---------------------------------------------------------------------------------


def test_parse_proc_cgroup_v1_and_v2_lines() -> None:
    text = "12:cpuset:/slurm/uid_1/job_2\n5:cpu,cpuacct:/slurm/uid_1/job_2\n0::/a/b\nbad line\n"
    found = parse_proc_cgroup(text)
    assert [(m.hierarchy, m.controllers, m.path) for m in found] == [
        (12, ("cpuset",), "/slurm/uid_1/job_2"),
        (5, ("cpu", "cpuacct"), "/slurm/uid_1/job_2"),
        (0, (), "/a/b"),
    ]


def test_parse_cpu_list() -> None:
    assert parse_cpu_list("0-3,8,10-11\n") == 7
    assert parse_cpu_list("") == 0


@pytest.mark.parametrize("version", [1, 2])
def test_cgroup_counters_count_from_the_baseline_and_survive_a_bad_read(
    tmp_path: Path, version: int
) -> None:
    cpu = tmp_path / ("cpuacct.usage" if version == 1 else "cpu.stat")
    memory = tmp_path / "memory.current"

    def write(seconds: float) -> None:
        text = (
            f"{round(seconds * 1e9)}\n" if version == 1 else f"usage_usec {round(seconds * 1e6)}\n"
        )
        cpu.write_text(text)

    write(100.0)
    memory.write_text("4096\n")
    counters = CgroupCounters(str(cpu), str(memory), version)
    assert counters.account(counters.capture()) == (0.0, 4096)
    write(102.5)
    assert counters.account(counters.capture()).cpu_s == pytest.approx(2.5)
    assert counters.account((None, b"garbage")) == (pytest.approx(2.5), 4096)  # kept
    counters.close()


def test_a_grandchild_reaped_by_a_child_that_then_exits_is_counted_once(tmp_path: Path) -> None:
    """G runs 1 s and is reaped by C, which exits and is reaped by R before the next
    sample: R's reaped time then holds G's second, already counted through G."""
    from fakeproc import FakeProc

    from impactlib.procfs import ProcessTree

    proc = FakeProc(tmp_path / "proc")
    root = proc.spawn()
    child = proc.spawn(ppid=root.pid)
    grandchild = proc.spawn(ppid=child.pid)
    tree = ProcessTree(root.pid, str(proc.root))
    proc.advance(1.0, {grandchild.pid: 1.0})
    assert tree.account(tree.capture(0.0)).cpu_s == pytest.approx(1.0)
    proc.exit(grandchild.pid)
    proc.advance(1.0, {child.pid: 0.5})
    assert tree.account(tree.capture(0.1)).cpu_s == pytest.approx(1.5)
    proc.exit(child.pid)
    proc.advance(1.0, {root.pid: 0.25})
    assert tree.account(tree.capture(0.2)).cpu_s == pytest.approx(1.75)
    tree.close()


def test_exits_seen_in_one_sample_are_counted_once_in_any_order(tmp_path: Path) -> None:
    from fakeproc import FakeProc

    from impactlib.procfs import ProcessTree

    proc = FakeProc(tmp_path / "proc")
    root = proc.spawn()
    child = proc.spawn(ppid=root.pid)
    grandchild = proc.spawn(ppid=child.pid)
    tree = ProcessTree(root.pid, str(proc.root))
    proc.advance(1.0, {grandchild.pid: 1.0, child.pid: 0.5})
    assert tree.account(tree.capture(0.0)).cpu_s == pytest.approx(1.5)
    proc.exit(grandchild.pid)  # both leave between two samples
    proc.exit(child.pid)
    proc.advance(1.0, {root.pid: 0.25})
    assert tree.account(tree.capture(0.1)).cpu_s == pytest.approx(1.75)
    tree.close()


def test_a_reaped_roots_pid_handed_out_again_is_not_followed(tmp_path: Path) -> None:
    """Once ``impactlib run`` has reaped the root (and given its exit rusage), the root's
    pid is no longer the root's: handed out again, it is a stranger's process, whose CPU
    time is not the tree's (counted, it came on top of the root's rusage)."""
    from fakeproc import FakeProc

    proc = FakeProc(tmp_path / "proc")
    run = proc.spawn()
    root = proc.spawn(ppid=run.pid)
    tree = ProcessTree(root.pid, str(proc.root), rescan_s=0.0, root_is_new=True)
    proc.advance(1.0, {root.pid: 1.0})
    assert tree.sample(0.0).cpu_s == pytest.approx(1.0)
    proc.exit(root.pid)
    tree.account_exit(1.0)
    proc.spawn()  # pids are handed out meanwhile, up to pid_max, where they wrap
    assert tree.sample(1.0).cpu_s == pytest.approx(1.0)
    shutil.rmtree(proc.root / str(root.pid))  # reaped: gone from /proc
    proc.last_pid = root.pid - 1
    stranger = proc.spawn()
    assert stranger.pid == root.pid
    proc.advance(1.0, {stranger.pid: 0.5})
    usage = tree.sample(2.0)
    assert (usage.cpu_s, usage.processes) == (pytest.approx(1.0), 0)
    tree.close()
