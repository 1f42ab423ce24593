"""The machine-wide process table: CPU time per process, counted once, owners and jobs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NamedTuple

import pytest
from fakeproc import FakeProc

from impactlib.footprint import Container, ContainerRuntime
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


class _Scanned(NamedTuple):
    """A fake ``/proc`` with one process of uid 1000, and a table that has scanned it."""

    fake: FakeProc
    parent: int
    table: ProcessTable


def _scanned(tmp_path: Path) -> _Scanned:
    fake = FakeProc(tmp_path / "proc")
    parent = _spawn(fake, 1, 1000)
    table = ProcessTable(str(fake.root))
    table.scan()
    return _Scanned(fake, parent, table)


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
    fake, parent, table = _scanned(tmp_path)
    child = _spawn(fake, parent, 1000, "0::/system.slice/slurmstepd.scope/job_9/step_0\n")
    fake.advance(1.0, {child: 0.5})
    assert _used(table) == {child: 0.5}
    assert table.procs[child].job == "9"


def test_an_exited_child_is_counted_once_through_its_parent(tmp_path: Path) -> None:
    fake, parent, table = _scanned(tmp_path)
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
    fake, parent, table = _scanned(tmp_path)
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
    fake, parent, table = _scanned(tmp_path)
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


_SLUID_CGROUP = "0::/system.slice/slurmstepd.scope/s5K1KKYAYG5D00/step_0/user/task_0\n"


def test_a_job_named_by_a_sluid_is_recorded_by_its_numeric_id(tmp_path: Path) -> None:
    """sacct lists jobs by their numeric id (22.05 to 25.11 know no SLUID): the daemon's
    minutes must carry it for ingest to match them, so it reads SLURM_JOB_ID from the
    process's environment, as slurmstepd set it."""
    fake, parent, table = _scanned(tmp_path)
    child = _spawn(fake, parent, 1000, _SLUID_CGROUP)
    (fake.root / str(child) / "environ").write_bytes(
        b"HOME=/home/a\0SLURM_JOB_ID=4242\0SLURM_JOB_SLUID=s5K1KKYAYG5D00\0"
    )
    fake.advance(1.0, {child: 0.5})
    table.scan()
    assert table.procs[child].job == "4242"


def test_a_sluid_stays_where_the_environment_cannot_be_read(tmp_path: Path) -> None:
    fake, parent, table = _scanned(tmp_path)
    child = _spawn(fake, parent, 1000, _SLUID_CGROUP)  # no environ file: unreadable
    fake.advance(1.0, {child: 0.5})
    table.scan()
    assert table.procs[child].job == "s5K1KKYAYG5D00"


_CONTAINER_ID = "3f1c2e9b8a7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170f6e5d4c"


def test_container_and_pid_namespace_are_read_once_from_a_fake_v2_host(tmp_path: Path) -> None:
    """A cgroup v2 host with a Podman container (rootless: its processes in ``container``
    under the scope) and a Kubernetes pod's containerd container, beside a login: each
    process's container comes from its cgroup, its pids per namespace from ``NSpid`` and
    its namespace from ``ns/pid``."""
    fake = FakeProc(tmp_path / "proc")
    podman = (
        "0::/user.slice/user-1000.slice/user@1000.service/user.slice/"
        f"libpod-{_CONTAINER_ID}.scope/container\n"
    )
    pod = "0d8a7c21_4f6b_4e1a_9c3d_2b5e6f708192"
    kube = (
        "0::/kubepods.slice/kubepods-burstable.slice/"
        f"kubepods-burstable-pod{pod}.slice/cri-containerd-{_CONTAINER_ID}.scope\n"
    )
    boxed = _spawn(fake, 1, 1000, podman)
    kubed = _spawn(fake, 1, 1001, kube)
    login = _spawn(fake, 1, 1000)
    for pid, inner, namespace in ((boxed, 1, "pid:[4026532174]"), (kubed, 7, "pid:[4026532999]")):
        status = fake.root / str(pid) / "status"
        status.write_text(status.read_text() + f"NSpid:\t{pid}\t{inner}\n")
        (fake.root / str(pid) / "ns").mkdir()
        (fake.root / str(pid) / "ns" / "pid").symlink_to(namespace)
    table = ProcessTable(str(fake.root))
    table.scan()
    podman_proc, kube_proc, login_proc = (table.procs[p] for p in (boxed, kubed, login))
    assert podman_proc.container == Container(ContainerRuntime.PODMAN, _CONTAINER_ID)
    assert (podman_proc.ns_pids, podman_proc.pid_namespace) == ((boxed, 1), "pid:[4026532174]")
    assert kube_proc.container == Container(
        ContainerRuntime.CONTAINERD, _CONTAINER_ID, pod.replace("_", "-")
    )
    assert kube_proc.ns_pids == (kubed, 7)
    assert login_proc.container is None
    assert (login_proc.ns_pids, login_proc.pid_namespace) == ((), "")  # a fake without them
