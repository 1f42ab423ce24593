"""Machine-wide attribution on scripted intervals: exact arithmetic, conservation, stability."""

from __future__ import annotations

import random

import pytest

from impactlib.attribution.shares import Floor
from impactlib.footprint import Container, ContainerRuntime
from impactlib.meters.base import Domain
from impactlib.server.attributor import Interval, MachineAttributor
from impactlib.server.procscan import Proc, Scan, Usage

CPU = Domain("cpu:package-0", "cpu", "rapl", "machine", "measured")
DRAM = Domain("dram:package-0", "dram", "rapl", "machine", "measured")
GPU = Domain("gpu:GPU-1", "gpu", "nvml-energy", "device", "measured")
MEMORY = Domain("memory:model", "memory", "model-memory", "machine", "estimated")
IDLE_W, W_PER_CPU, NCPUS = 10.0, 15.0, 4
WALL = 1_800_000_000 * 10**9


def proc(pid: int, uid: int, ppid: int = 1, job: str | None = None, rss: int = 0) -> Proc:
    return Proc(pid, 0, uid, f"p{pid}", ppid, job, 0, rss)


def attributor(*domains: Domain, policy: str = "usage") -> MachineAttributor:
    a = MachineAttributor(domains or (CPU,), NCPUS, 1000.0, policy)
    a.set_floors({CPU.id: Floor(IDLE_W, "calibrated")})
    return a


def step(
    a: MachineAttributor,
    used: dict[Proc, float],
    *,
    other_busy: float = 0.0,
    gone: tuple[Proc, ...] = (),
    procs: dict[int, Proc] | None = None,
    t: int = 0,
) -> None:
    """One second in which each process used that much CPU and the rest of the machine
    ``other_busy``, on a host drawing IDLE_W + W_PER_CPU x busy CPUs."""
    busy = sum(used.values()) + other_busy
    energy = {CPU.id: IDLE_W + W_PER_CPU * busy}
    live = procs if procs is not None else {p.pid: p for p in used}
    scan = Scan([Usage(p, s) for p, s in used.items()], list(gone))
    a.account(Interval(1.0, WALL + t * 10**9, energy, busy), scan, live)


def truth(cpu_s: float) -> float:
    """A user's energy under the usage policy: dynamic power of their CPU time, plus the
    idle power of the capacity share they used."""
    return W_PER_CPU * cpu_s + IDLE_W * cpu_s / NCPUS


def test_each_user_gets_exactly_their_dynamic_and_idle_share() -> None:
    a = attributor()
    alice, bob = proc(100, 1000), proc(200, 1001)
    for t in range(10):
        step(a, {alice: 1.0, bob: 0.5}, other_busy=0.25, t=t)
    assert a.users[1000][CPU.id] == pytest.approx(truth(10.0), rel=1e-12)
    assert a.users[1001][CPU.id] == pytest.approx(truth(5.0), rel=1e-12)


def test_conservation_holds_exactly_every_interval() -> None:
    rng = random.Random(7)
    a = attributor(CPU, DRAM)
    procs = [proc(100 + i, 1000 + i % 3) for i in range(20)]
    for t in range(200):
        used = {p: rng.choice([0.0, 0.01, 0.1, 0.5]) for p in rng.sample(procs, 8)}
        busy = sum(used.values()) + rng.random()
        energy = {CPU.id: rng.uniform(0, 80), DRAM.id: rng.uniform(0, 5)}  # even below the floor
        scan = Scan([Usage(p, s) for p, s in used.items()], [])
        a.account(Interval(1.0, WALL + t * 10**9, energy, busy), scan, {p.pid: p for p in procs})
    for domain, measured in a.domain_energy().items():
        charged = sum(user.get(domain, 0.0) for user in a.users.values())
        assert charged + a.unattributed[domain] == pytest.approx(measured, rel=1e-12)


def test_quantised_cpu_times_never_charge_more_than_measured() -> None:
    a = attributor()
    p, q = proc(100, 1000), proc(200, 1001)
    # The kernel's ticks make the processes' time exceed the machine's busy time and capacity.
    scan = Scan([Usage(p, 2.5), Usage(q, 2.5)], [])
    a.account(Interval(1.0, WALL, {CPU.id: 70.0}, 4.0), scan, {100: p, 200: q})
    charged = a.users[1000][CPU.id] + a.users[1001][CPU.id]
    assert charged == pytest.approx(70.0) and a.unattributed[CPU.id] == pytest.approx(0.0)


def test_a_job_does_not_swing_with_a_neighbours_load() -> None:
    alone, beside = attributor(), attributor()
    job = proc(100, 1000, job="42")
    neighbour = proc(200, 1001)
    for t in range(30):
        step(alone, {job: 1.0}, t=t)
        step(beside, {job: 1.0, neighbour: 2.5}, t=t)
    assert alone.jobs["42"][CPU.id] == pytest.approx(beside.jobs["42"][CPU.id], rel=1e-12)
    assert alone.jobs["42"][CPU.id] == pytest.approx(truth(30.0), rel=1e-12)


def test_a_tree_keeps_the_energy_of_descendants_that_exited() -> None:
    a = attributor()
    root = proc(100, 1000)
    child = proc(101, 1000, ppid=100)
    grandchild = proc(102, 1000, ppid=101)
    everyone = {100: root, 101: child, 102: grandchild}
    step(a, {root: 0.1, child: 0.5, grandchild: 1.0}, procs=everyone)
    before = a.tree(root, everyone).energy_j[CPU.id]
    # The child and grandchild leave in the same interval: both fold into the root.
    step(a, {root: 0.1}, gone=(grandchild, child), procs={100: root}, t=1)
    after = a.tree(root, {100: root})
    assert after.energy_j[CPU.id] == pytest.approx(before + truth(0.1), rel=1e-12)
    assert after.cpu_s == pytest.approx(1.7) and after.processes == 1
    assert a.tree(child, everyone).energy_j[CPU.id] == 0.0  # its ledger went to the root


def test_per_minute_rows_add_up_to_the_totals() -> None:
    a = attributor()
    alice = proc(100, 1000, job="7")
    for t in range(90):  # a minute and a half
        step(a, {alice: 1.0}, other_busy=1.0, t=t)
    rows = a.minutes.take("host")
    by_kind: dict[str, float] = {}
    for row in rows:
        by_kind[row.kind] = by_kind.get(row.kind, 0.0) + row.energy_j
    assert by_kind["user"] == pytest.approx(a.users[1000][CPU.id])
    assert by_kind["job"] == pytest.approx(a.jobs["7"][CPU.id])
    assert by_kind["tree"] == pytest.approx(a.users[1000][CPU.id])
    assert by_kind["user"] + by_kind["unattributed"] == pytest.approx(by_kind["machine"])
    machine_rows = [r for r in rows if r.kind == "machine"]
    assert len({r.minute for r in machine_rows}) == 2 and {r.floor_w for r in machine_rows} == {
        IDLE_W
    }
    assert len(a.minutes) == 0


def test_gpus_split_by_sm_samples_and_memory_by_resident_memory() -> None:
    a = attributor(GPU, MEMORY)
    p, q = proc(100, 1000, rss=300), proc(200, 1001, rss=100)
    a.gpu_weights[GPU.id] = {100: 3.0, 200: 1.0, 999: 0.0}  # 999: not a process we know
    scan = Scan([], [])
    a.account(Interval(1.0, WALL, {GPU.id: 200.0, MEMORY.id: 4.0}, 0.0), scan, {100: p, 200: q})
    assert a.users[1000][GPU.id] == pytest.approx(150.0)
    assert a.users[1001][GPU.id] == pytest.approx(50.0)
    assert a.users[1000][MEMORY.id] == pytest.approx(4.0 * 300 / 1000)


def test_the_allocation_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="usage or none"):
        MachineAttributor((CPU,), NCPUS, 1000.0, "allocation")


def test_policy_none_charges_dynamic_energy_only() -> None:
    a = attributor(policy="none")
    alice = proc(100, 1000)
    step(a, {alice: 2.0})
    assert a.users[1000][CPU.id] == pytest.approx(W_PER_CPU * 2.0)


def test_finished_jobs_leave_memory_and_metrics_after_an_hour() -> None:
    a = attributor()
    done, running = proc(100, 1000, job="1"), proc(200, 1000, job="2")
    step(a, {done: 1.0, running: 1.0})
    step(a, {running: 1.0}, t=3000)
    a.forget_jobs(3600 * 10**9)
    assert set(a.jobs) == {"1", "2"}
    step(a, {running: 1.0}, t=3700)
    a.forget_jobs(3600 * 10**9)
    assert set(a.jobs) == {"2"}


def test_containers_are_scopes_like_jobs_per_minute_and_forgotten_when_done() -> None:
    """A container's processes (two trees here, one of them a job's too) are charged to it
    as to their user: the same shares, its per-minute rows adding up to its total, a part of
    its user's energy, never added to it; and it leaves memory an hour after its end."""
    box = Container(ContainerRuntime.PODMAN, "ab" * 32)
    a = attributor()
    boxed = proc(100, 1000)
    boxed.container = box
    boxed_job = proc(101, 1000, job="7")
    boxed_job.container = box
    outside = proc(200, 1000)
    for t in range(90):
        step(a, {boxed: 1.0, boxed_job: 0.5, outside: 0.5}, other_busy=0.5, t=t)
    assert a.containers[box.name][CPU.id] == pytest.approx(truth(90 * 1.5))
    assert a.users[1000][CPU.id] == pytest.approx(truth(90 * 2.0))
    rows = [r for r in a.minutes.take("host") if r.kind == "container"]
    assert {r.name for r in rows} == {box.name}
    assert sum(r.energy_j for r in rows) == pytest.approx(a.containers[box.name][CPU.id])
    step(a, {outside: 1.0}, t=90 + 3700)
    a.forget_jobs(3600 * 10**9)
    assert a.containers == {} and a.container_seen_ns == {}
