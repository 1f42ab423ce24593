"""The attribution window, fed scripted samples: no threads, no sleeps, exact truths.

A scripted host (a fake ``/proc`` and one package domain) draws ``10 W + 15 W`` per busy CPU
on 2 CPUs. A job burning one CPU for 8 s should be charged, under the default ``usage``
policy, its dynamic power (15 W x 8 s = 120 J) and half the idle power while it holds one of
two CPUs (10 W x 8 s / 2 = 40 J): 160 J, alone or beside a neighbour.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from fakeproc import FakeProc

from impactlib.attribution import ranks
from impactlib.attribution.power_model import fit
from impactlib.attribution.scope import (
    CgroupScope,
    MachineScope,
    PendingTreeScope,
    Scope,
    TreeScope,
    choose_scope,
)
from impactlib.attribution.shares import Floor
from impactlib.attribution.summary import floor_warnings
from impactlib.attribution.window import Window
from impactlib.config import load_config
from impactlib.footprint import ChargedTo, FloorSource
from impactlib.meters import MeterSet
from impactlib.meters.base import Domain, Meter
from impactlib.procfs import MachineCpu, MachineCpuReader
from impactlib.sampling import Delivered, Sample

PACKAGE = Domain("cpu:package-0", "cpu", "rapl", "machine", "measured")
IDLE_W, W_PER_CPU = 10.0, 15.0
TRUTH_J = W_PER_CPU * 8 + IDLE_W * 8 / 2  # 160 J


class _Scripted(Meter):
    """Domains only: the host below writes the energy into each sample itself."""

    def domains(self) -> Sequence[Domain]:
        return [PACKAGE]

    def read_energy_j(self) -> Mapping[str, float]:
        return {}


class Host:
    """A scripted 2-CPU machine whose package draws IDLE_W + W_PER_CPU x busy CPUs."""

    def __init__(self, tmp_path: Path, *, gaps: Sequence[int] = ()) -> None:
        self.proc = FakeProc(tmp_path / "proc", ncpus=2)
        self.meters = MeterSet([_Scripted()], MachineCpuReader(str(self.proc.root)))
        self.energy_j = 0.0
        self.t_ns = 0
        self.wall0_ns = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z
        self.windows: list[Window] = []
        self.gaps = set(gaps)  # steps at which the package counter could not be read
        self.steps = 0

    def window(self, scope: Scope, floor: Floor | None = None, policy: str = "usage") -> Window:
        config = load_config({"procfs_root": str(self.proc.root), "idle_policy": policy})
        window = Window(self.meters, config, scope)
        if floor is not None:
            window.set_known_floors({PACKAGE.id: floor})
        window.account([self._delivered(window)])  # its baseline
        self.windows.append(window)
        return window

    def step(self, cpu_s: Mapping[int, float] | None = None, other_busy_s: float = 0.0) -> None:
        """One second in which each pid of ``cpu_s`` used that much CPU, others ``other``."""
        cpu_s = dict(cpu_s or {})
        busy = sum(cpu_s.values()) + other_busy_s
        self.energy_j += IDLE_W + W_PER_CPU * busy
        self.proc.advance(1.0, cpu_s, other_busy_s)
        self.t_ns += 10**9
        self.steps += 1
        for window in self.windows:
            window.account([self._delivered(window)])

    def close(self, window: Window) -> None:
        self.windows.remove(window)

    def _delivered(self, window: Window) -> Delivered:
        energy = {} if self.steps in self.gaps else {PACKAGE.id: self.energy_j}
        machine = MachineCpu(self.proc.busy_s, self.proc.busy_s + self.proc.idle_s)
        sample = Sample(self.t_ns, self.wall0_ns + self.t_ns, energy, machine)
        return Delivered(sample, window.capture())


def package(window: Window) -> tuple[float, float, str]:
    """(charged J, measured J, floor source) of the package domain."""
    comp = next(c for c in window.components() if c.domain == PACKAGE.id)
    assert comp.dynamic_j + comp.idle_j + comp.unattributed_j == pytest.approx(comp.domain_j)
    return comp.energy_j, comp.domain_j, comp.idle_floor_source


def job(host: Host, floor: Floor | None, *, neighbour: bool) -> float:
    """A job burning one CPU for 8 s, alone or beside another user's one-CPU process."""
    proc = host.proc.spawn()
    window = host.window(TreeScope(proc.pid), floor)
    for _ in range(8):
        host.step({proc.pid: 1.0}, other_busy_s=1.0 if neighbour else 0.0)
    host.close(window)
    return package(window)[0]


# -- scopes ---------------------------------------------------------------------------------


def test_scope_is_chosen_once_from_the_configuration() -> None:
    assert choose_scope("machine", pending=True) == MachineScope()
    assert choose_scope("machine", pid=42) == MachineScope()
    assert choose_scope("tree", pending=True) == PendingTreeScope()
    assert choose_scope("tree", pid=42) == TreeScope(42)
    assert isinstance(choose_scope("tree"), TreeScope)


def test_machine_scope_is_charged_every_joule_as_measured(tmp_path: Path) -> None:
    host = Host(tmp_path)
    window = host.window(MachineScope())
    for busy in (0.0, 1.0, 2.0, 0.5):
        host.step(other_busy_s=busy)
    comp = window.components()[0]
    assert comp.energy_j == pytest.approx(comp.domain_j) == pytest.approx(4 * IDLE_W + 3.5 * 15)
    assert comp.quality == "measured" and comp.extent == "machine"
    assert window.scope_cpu_s == pytest.approx(3.5)  # since the baseline, not since boot


def test_tree_scope_with_a_known_floor_gets_the_truth(tmp_path: Path) -> None:
    host = Host(tmp_path)
    charged = job(host, Floor(IDLE_W, FloorSource.CALIBRATED), neighbour=False)
    assert charged == pytest.approx(TRUTH_J, rel=1e-6)


def test_pending_tree_counts_nothing_before_attach_and_everything_after(tmp_path: Path) -> None:
    host = Host(tmp_path)
    window = host.window(PendingTreeScope(), Floor(IDLE_W, FloorSource.CALIBRATED))
    host.step(other_busy_s=1.0)  # somebody else's work, before our command exists
    proc = host.proc.spawn()
    proc.cpu_s = 0.0
    window.attach(proc.pid)
    for _ in range(8):
        host.step({proc.pid: 1.0})
    charged, measured, _ = package(window)
    assert window.scope_cpu_s == pytest.approx(8.0)
    assert charged == pytest.approx(TRUTH_J, rel=1e-6)
    assert measured == pytest.approx(9 * IDLE_W + 9 * W_PER_CPU)


def test_attach_is_ignored_by_the_other_scopes(tmp_path: Path) -> None:
    host = Host(tmp_path)
    window = host.window(MachineScope())
    window.attach(host.proc.spawn().pid)
    assert window.tree is None and window.charged_to is ChargedTo.MACHINE


def test_a_gap_is_covered_by_the_next_reading_and_conservation_holds(tmp_path: Path) -> None:
    host = Host(tmp_path, gaps=(3, 4))
    proc = host.proc.spawn()
    window = host.window(TreeScope(proc.pid), Floor(IDLE_W, FloorSource.CALIBRATED))
    for _ in range(8):
        host.step({proc.pid: 1.0})
    charged, measured, _ = package(window)
    assert measured == pytest.approx(8 * (IDLE_W + W_PER_CPU))
    assert charged == pytest.approx(TRUTH_J, rel=1e-6)


def test_nested_windows_share_samples_and_the_inner_never_exceeds_the_outer(
    tmp_path: Path,
) -> None:
    host = Host(tmp_path)
    parent = host.proc.spawn()
    child = host.proc.spawn(ppid=parent.pid)  # (children are found every few real seconds)
    outer = host.window(TreeScope(parent.pid), Floor(IDLE_W, FloorSource.CALIBRATED))
    host.step({parent.pid: 0.5, child.pid: 0.2})
    inner = host.window(TreeScope(child.pid), Floor(IDLE_W, FloorSource.CALIBRATED))
    for _ in range(4):
        host.step({parent.pid: 0.3, child.pid: 0.7}, other_busy_s=0.5)
    host.close(inner)
    host.step({parent.pid: 0.5})
    assert outer.scope_cpu_s >= inner.scope_cpu_s
    assert package(inner)[0] < package(outer)[0]
    assert package(inner)[1] < package(outer)[1]  # measured over its own, shorter window


# -- idle floors: where they come from, and the neighbour property ----------------------------


@pytest.mark.parametrize("neighbour_first", [False, True])
def test_job_figure_does_not_swing_with_a_neighbour_on_a_calibrated_host(
    tmp_path: Path, neighbour_first: bool
) -> None:
    host = Host(tmp_path)
    calibrated = Floor(IDLE_W, FloorSource.CALIBRATED)
    figures = {}
    for neighbour in (neighbour_first, not neighbour_first):
        figures[neighbour] = job(host, calibrated, neighbour=neighbour)
    alone, beside = figures[False], figures[True]
    assert alone == pytest.approx(TRUTH_J, rel=0.10)
    assert beside == pytest.approx(TRUTH_J, rel=0.10)
    assert beside == pytest.approx(alone, rel=0.10)


def test_an_observed_floor_swings_and_says_where_it_came_from(tmp_path: Path) -> None:
    """The failure the power model exists for: a machine never idle while watched teaches
    a floor that holds the job's own dynamic power."""
    host = Host(tmp_path)
    proc = host.proc.spawn()
    window = host.window(TreeScope(proc.pid))
    for _ in range(8):
        host.step({proc.pid: 1.0})
    charged, _, source = package(window)
    assert source == "observed"
    assert window.accounts[PACKAGE.id].floor.watts == pytest.approx(IDLE_W + W_PER_CPU)
    assert charged < 0.7 * TRUTH_J  # understated, as the record warns


def test_the_model_floor_of_an_estimated_domain_is_labelled_model(tmp_path: Path) -> None:
    host = Host(tmp_path)
    window = host.window(MachineScope())
    window.accounts[PACKAGE.id].known_floor = Floor(7.0, FloorSource.MODEL)
    host.step()
    assert package(window)[2] == "model"


def test_windows_learn_the_host_model_from_their_own_samples(tmp_path: Path) -> None:
    host = Host(tmp_path)
    watcher = host.window(MachineScope())  # e.g. a long run beside varying load
    for busy in [0.0, 0.5, 1.0, 1.5, 2.0, 1.0, 0.2, 1.8] * 3:
        host.step(other_busy_s=busy)
    points = watcher.accounts[PACKAGE.id].points
    assert len(points) == 24
    model = fit(points, PACKAGE.id, "learned")
    assert model is not None
    assert model.idle_w == pytest.approx(IDLE_W, rel=0.02)
    assert model.w_per_busy_cpu == pytest.approx(W_PER_CPU, rel=0.02)
    host.close(watcher)
    learned = Floor(model.idle_w, FloorSource.LEARNED)
    alone = job(host, learned, neighbour=False)
    beside = job(host, learned, neighbour=True)
    assert alone == pytest.approx(TRUTH_J, rel=0.10) and beside == pytest.approx(alone, rel=0.10)


def test_a_constant_load_does_not_span_enough_to_learn(tmp_path: Path) -> None:
    host = Host(tmp_path)
    proc = host.proc.spawn()
    window = host.window(TreeScope(proc.pid))
    for _ in range(20):
        host.step({proc.pid: 1.0})
    assert fit(window.accounts[PACKAGE.id].points, PACKAGE.id, "learned") is None


def test_points_stay_bounded_over_a_long_run(tmp_path: Path) -> None:
    from impactlib.attribution import shares

    host = Host(tmp_path)
    window = host.window(MachineScope())
    account = window.accounts[PACKAGE.id]
    for i in range(shares.MAX_POINTS + 10):
        account.add(20.0 + i % 3, 1.0, 0, shares.Shares(1.0, 1.0), machine_busy_s=1.0)
    assert len(account.points) < shares.MAX_POINTS


# -- rank roles -----------------------------------------------------------------------------


def test_single_process_is_not_a_rank(tmp_path: Path) -> None:
    assert isinstance(ranks.claim({}, str(tmp_path)), ranks.Single)


def test_first_rank_leads_the_node_and_the_others_follow_it(tmp_path: Path) -> None:
    env = {"LOCAL_RANK": "0", "TORCHELASTIC_RUN_ID": "job-1"}
    leader = ranks.claim(env, str(tmp_path))
    follower = ranks.claim(env, str(tmp_path))
    assert isinstance(leader, ranks.Leader) and isinstance(follower, ranks.Follower)
    import os

    assert follower.leader_pid == os.getpid()
    assert "measures this node" in follower.explanation()
    leader.release()
    again = ranks.claim(env, str(tmp_path))  # the lock is free once the leader is gone
    assert isinstance(again, ranks.Leader)
    again.release()


def test_slurm_ranks_of_one_step_share_a_key_and_single_tasks_do_not() -> None:
    many = {"SLURM_LOCALID": "1", "SLURM_NTASKS": "4", "SLURM_JOB_ID": "7", "SLURM_STEP_ID": "0"}
    assert ranks.job_key(many) == "slurm-7-0"
    assert ranks.job_key({**many, "SLURM_NTASKS": "1"}) is None


# -- a cgroup scope (a SLURM job's processes, descendants of the tracker or not) -------------


@pytest.mark.parametrize(
    ("policy", "cpus", "idle_share"),
    [("allocation", 2, 1.0), ("allocation", 1, 0.5), ("usage", 2, 0.5)],
)
def test_a_cgroup_scope_is_charged_by_its_own_counter(
    tmp_path: Path, policy: str, cpus: int, idle_share: float
) -> None:
    """A job using one CPU of two all along: its dynamic power in full, and the idle power
    of what it holds (allocation: its cpuset) or uses (usage)."""
    host = Host(tmp_path)
    counter = tmp_path / "job" / "cpu.stat"
    counter.parent.mkdir()
    used_s = 5.0  # before the baseline: not this window's
    counter.write_text(f"usage_usec {round(used_s * 1e6)}\n")
    window = host.window(
        CgroupScope(str(counter), cpus=cpus), Floor(IDLE_W, FloorSource.CALIBRATED), policy
    )
    for _ in range(8):
        used_s += 1.0
        counter.write_text(f"usage_usec {round(used_s * 1e6)}\n")
        host.step(other_busy_s=1.0)  # the job's processes, seen by the machine
    assert window.scope_cpu_s == pytest.approx(8.0)
    assert window.charged_to is ChargedTo.CGROUP
    expected = W_PER_CPU * 8 + IDLE_W * 8 * idle_share
    assert package(window)[0] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    ("floor", "needle"),
    [
        (None, "only observed"),
        (Floor(IDLE_W, FloorSource.LEARNED), "learned"),
        (Floor(IDLE_W, FloorSource.CALIBRATED), None),
    ],
)
def test_an_uncalibrated_floor_is_named_with_its_fix(
    tmp_path: Path, floor: Floor | None, needle: str | None
) -> None:
    host = Host(tmp_path)
    proc = host.proc.spawn()
    window = host.window(TreeScope(proc.pid), floor)
    host.step({proc.pid: 1.0})
    warnings = floor_warnings(window)
    if needle is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and needle in warnings[0] and "impactlib calibrate" in warnings[0]
    machine = host.window(MachineScope())
    host.step()
    assert floor_warnings(machine) == []  # the machine pays all of it anyway


# -- memory ---------------------------------------------------------------------------------

MEMORY = Domain("memory:model", "memory", "model-memory", "machine", "estimated")


class _ScriptedMemory(Meter):
    def domains(self) -> Sequence[Domain]:
        return [MEMORY]

    def read_energy_j(self) -> Mapping[str, float]:
        return {}


def test_memory_is_charged_for_what_the_tree_held_over_each_interval(tmp_path: Path) -> None:
    """A process holding a quarter of the memory, which exits during the second second: the
    first second charges a quarter, the second an eighth (a quarter at its start, nothing at
    its end), so a run shorter than a tick is not charged zero."""
    proc = FakeProc(tmp_path / "proc", ncpus=2)
    job = proc.spawn()
    job.rss_pages = int(16_000_000 * 1024 / 4 / os.sysconf("SC_PAGE_SIZE"))
    proc.advance(0.0, {job.pid: 0.0})
    meters = MeterSet([_ScriptedMemory()], MachineCpuReader(str(proc.root)))
    window = Window(meters, load_config({"procfs_root": str(proc.root)}), TreeScope(job.pid))
    wall0_ns = 1_767_225_600 * 10**9

    def sample(second: int) -> Delivered:
        machine = MachineCpu(proc.busy_s, proc.busy_s + proc.idle_s)
        energy = {MEMORY.id: 10.0 * second}  # 10 W
        at = Sample(second * 10**9, wall0_ns + second * 10**9, energy, machine)
        return Delivered(at, window.capture())

    window.account([sample(0)])
    proc.advance(1.0, {})
    window.account([sample(1)])
    proc.advance(1.0, {})
    proc.exit(job.pid)
    window.account([sample(2)])
    [memory] = window.components()
    assert memory.energy_j == pytest.approx(10 / 4 + 10 / 8, rel=1e-3)
