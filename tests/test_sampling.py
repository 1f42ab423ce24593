"""The sampler's cheap ticks: captures decoded later, in order, to the same figures."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from burn import BURN, CPU_BURN, track_child
from powercap import FakePowercap

from impactlib.config import load_config
from impactlib.meters import MeterSet
from impactlib.meters.base import Domain, Meter, Tick
from impactlib.meters.model import CpuModelMeter, MemoryModelMeter
from impactlib.meters.rapl import RaplMeter
from impactlib.procfs import CLK_TCK, MachineCpu, MachineCpuReader, ProcessTree
from impactlib.sampling import Delivered, Sampler
from impactlib.tracker import Tracker

# --- meters: capture now, decode later --------------------------------------------------------


def test_rapl_captures_decoded_later_give_what_reading_each_time_gives(tmp_path: Path) -> None:
    fake = FakePowercap.two_socket(tmp_path)
    fake.set("cpu:package-0", fake.zone("cpu:package-0").max_energy_range_uj - 3_000_000)
    read_now, read_later = RaplMeter(fake.root), RaplMeter(fake.root)
    readings, captures = [], []
    for step in range(6):  # package-0 wraps at the second step
        fake.advance("cpu:package-0", 2.0 + step)
        fake.advance("dram:package-1", 0.5)
        readings.append(dict(read_now.read_energy_j()))
        captures.append(read_later.capture())
    decoded = [dict(read_later.decode(c, Tick(0.0, None))) for c in captures]
    assert decoded == readings
    assert decoded[-1]["cpu:package-0"] == pytest.approx(sum(2.0 + s for s in range(6)))
    assert read_later.wraps == read_now.wraps == 1


def _machine(seconds: float, busy_fraction: float, ncpus: int = 4) -> MachineCpu:
    total = seconds * ncpus
    return MachineCpu(busy_s=total * busy_fraction, total_s=total)


def test_cpu_model_energy_is_the_same_decoded_each_tick_or_each_tenth(tmp_path: Path) -> None:
    """The model is linear in cumulative busy time, which is why the sampler may read
    /proc/stat once per checkpoint when nothing measured needs it at every tick."""
    (tmp_path / "stat").write_text("cpu  0 0 0 0 0 0 0 0 0 0\n")
    (tmp_path / "cpuinfo").write_text("model name : Test CPU\n")
    every, tenth = (CpuModelMeter(str(tmp_path), tdp_w=100.0) for _ in range(2))
    tenth._last = every._last  # the same baseline
    start = every._last[0]
    busy = 0.0
    for second in range(1, 31):
        busy += (0.1 + 0.8 * (second % 3 == 0)) * 4  # a bursty load, seconds of 4 CPUs
        tick = Tick(start + second, MachineCpu(busy_s=busy, total_s=4.0 * second))
        fine = every.decode(None, tick)
        if second % 10 == 0:
            coarse = tenth.decode(None, tick)
            assert coarse["cpu:model"] == pytest.approx(fine["cpu:model"], rel=1e-12)
    assert fine["cpu:model"] == pytest.approx(100 * (0.12 * 30 + 0.88 * busy / 4))


def test_cpu_model_waits_for_the_kernel_tick_to_integrate(tmp_path: Path) -> None:
    """Read twice within one kernel tick, /proc/stat has not moved: the energy so far is
    known (no gap: a tracker starting then must get its baseline), and the time is
    integrated once the counters move."""
    (tmp_path / "stat").write_text("cpu  0 0 0 0 0 0 0 0 0 0\n")
    meter = CpuModelMeter(str(tmp_path), tdp_w=50.0)
    start, first = meter._last
    same = Tick(start + 0.003, first)
    assert meter.decode(None, same) == {"cpu:model": 0.0}
    later = Tick(start + 1.0, MachineCpu(first.busy_s, first.total_s + 2.0))
    assert meter.decode(None, later) == {"cpu:model": pytest.approx(50.0 * 0.12)}


# --- the sampler ------------------------------------------------------------------------------


class CountingMeter(Meter):
    """Reads a number at every tick; its decode says which capture it decoded."""

    name = "counting"

    def __init__(self) -> None:
        self.captured = 0
        self.decoded: list[int] = []

    def domains(self) -> Sequence[Domain]:
        return (Domain("cpu:count", "cpu", "rapl", "machine", "measured"),)

    def read_energy_j(self) -> Mapping[str, float]:
        return self.decode(self.capture(), Tick(0.0, None))

    def capture(self) -> int:
        self.captured += 1
        return self.captured

    def decode(self, captured: object, tick: Tick) -> Mapping[str, float]:
        assert isinstance(captured, int)
        self.decoded.append(captured)
        return {"cpu:count": float(captured)}


class Scope:
    """A listener whose captures are numbered, to check they come back with their tick."""

    def __init__(self) -> None:
        self.count = 0

    def capture(self) -> object:
        self.count += 1
        return self.count


def _sampler(meter: Meter, interval_s: float) -> Sampler:
    return Sampler(MeterSet([meter], MachineCpuReader()), interval_s)


def test_samples_come_back_in_tick_order_with_their_own_captures() -> None:
    meter = CountingMeter()
    sampler = _sampler(meter, 0.02)
    scope, collected = Scope(), threading.Event()
    sampler.subscribe(scope, collected.set, collect_every_s=0.2)
    assert collected.wait(5), "the sampler thread never asked for a checkpoint"
    time.sleep(0.1)
    delivery = sampler.take(scope) + sampler.unsubscribe(scope)
    counts = [sample.energy_j["cpu:count"] for sample, _ in delivery]
    assert counts == sorted(counts) and len(counts) >= 5
    assert [c for _, c in delivery] == list(range(1, len(delivery) + 1))  # none lost, none twice
    assert meter.decoded == list(range(1, meter.captured + 1))  # each capture decoded once
    stamps = [sample.monotonic_ns for sample, _ in delivery]
    assert stamps == sorted(stamps)


def test_the_sampler_asks_for_checkpoints_every_collect_period() -> None:
    sampler = _sampler(CountingMeter(), 0.05)
    scope, times = Scope(), []
    sampler.subscribe(scope, lambda: times.append(time.monotonic()), collect_every_s=0.25)
    time.sleep(1.6)
    sampler.unsubscribe(scope)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert len(times) >= 4
    # never later than the period plus half a tick (scheduling jitter aside)
    assert max(gaps) < 0.25 + 0.05 + 0.1, gaps


def test_a_listener_alone_gets_its_first_and_last_sample() -> None:
    """Another tracker starting or stopping must not split this one's intervals."""
    meter = CountingMeter()
    sampler = _sampler(meter, 60.0)  # no tick during the test: only the synchronous ones
    first, second = Scope(), Scope()
    sampler.subscribe(first, lambda: None, 60.0)
    sampler.subscribe(second, lambda: None, 60.0)
    sampler.unsubscribe(second)
    delivery: list[Delivered] = sampler.unsubscribe(first)
    assert [c for _, c in delivery] == [1, 2]  # its own baseline and final capture only
    assert meter.decoded == [1, 2, 3, 4]  # yet every capture went through the meter in order


class MachineCounting(MachineCpuReader):
    def __init__(self) -> None:
        super().__init__()
        self.captures = 0

    def capture(self) -> bytes:
        self.captures += 1
        return super().capture()


@pytest.mark.parametrize("measured", [True, False])
def test_machine_cpu_is_read_each_tick_only_for_a_measured_cpu(
    tmp_path: Path, measured: bool
) -> None:
    machine = MachineCounting()
    if measured:
        fake = FakePowercap.laptop(tmp_path)
        meters: list[Meter] = [RaplMeter(fake.root)]
    else:
        meters = [CpuModelMeter(tdp_w=10.0, machine=machine), MemoryModelMeter()]
    sampler = Sampler(MeterSet(meters, machine), 0.02)
    scope = Scope()
    before = machine.captures
    sampler.subscribe(scope, lambda: None, collect_every_s=60.0)
    time.sleep(0.5)
    delivery = sampler.unsubscribe(scope)
    reads = machine.captures - before
    assert len(delivery) > 10
    if measured:
        assert reads == len(delivery)
        assert all(sample.machine is not None for sample, _ in delivery)
    else:
        assert reads == 2  # the baseline and the final sample
        assert delivery[0][0].machine is not None and delivery[-1][0].machine is not None
        assert all(sample.machine is None for sample, _ in delivery[1:-1])
        assert all("memory:model" in sample.energy_j for sample, _ in delivery)


# --- the whole path: estimated CPU read at checkpoints only -----------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("save_interval", [0.5, 60.0])
def test_estimated_cpu_charged_to_a_child_follows_its_cpu_time(
    tmp_path: Path, save_interval: float
) -> None:
    """Charged = TDP x the child's CPU-seconds / CPUs, under the usage policy, whether the
    machine's CPU time was read at several checkpoints or only at start and stop."""
    config = load_config(
        {
            "powercap_root": str(tmp_path / "none"),
            "cpu_tdp_w": 100.0,
            "interval": 0.1,
            "save_interval": save_interval,
            "country": "FR",
        }
    )
    footprint, cpu_s = track_child(config, [CPU_BURN, "1.2"])
    cpu = next(c for c in footprint.components if c.domain == "cpu:model")
    ncpus = os.cpu_count() or 1
    assert cpu.quality == "estimated" and cpu_s > 1.0
    assert cpu.energy_j == pytest.approx(100.0 * cpu_s / ncpus, rel=0.05)
    assert cpu.dynamic_j + cpu.idle_j + cpu.unattributed_j == pytest.approx(cpu.domain_j)


def test_a_running_tracker_reports_estimated_cpu_up_to_now(tmp_path: Path) -> None:
    """Figures read mid-run include the estimated CPU although /proc/stat is only read
    at checkpoints (here none falls inside the run)."""
    config = load_config(
        {"powercap_root": str(tmp_path / "none"), "cpu_tdp_w": 100.0, "save_interval": 60}
    )
    tracker = Tracker(config)
    tracker.start()
    end = time.process_time() + 0.5
    while time.process_time() < end:
        pass
    footprint = tracker.footprint
    assert footprint is not None
    cpu = next(c for c in footprint.components if c.domain == "cpu:model")
    assert cpu.energy_j > 100.0 * 0.4 / (os.cpu_count() or 1)
    tracker.stop()


# --- the process tree: discovery only when a process was created -------------------------------


def _fake_proc(root: Path, pid: int, ppid: int, ticks: int, children: Sequence[int] = ()) -> None:
    fields = ["S", str(ppid)] + ["0"] * 9 + [str(ticks), "0", "0", "0"] + ["0"] * 6 + ["10"]
    (root / str(pid) / "task" / str(pid)).mkdir(parents=True, exist_ok=True)
    (root / str(pid) / "stat").write_text(f"{pid} (fake) {' '.join(fields)} 0 0\n")
    (root / str(pid) / "task" / str(pid) / "children").write_text(" ".join(map(str, children)))


def test_tree_looks_for_children_only_after_a_process_was_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "loadavg").write_text("0.00 0.00 0.00 1/80 100\n")
    _fake_proc(tmp_path, 100, 1, 0)
    tree = ProcessTree(100, str(tmp_path), rescan_s=0.0, root_is_new=True)
    walks = []
    real = tree._discover
    monkeypatch.setattr(tree, "_discover", lambda: walks.append(1) or real())
    _fake_proc(tmp_path, 100, 1, 5, children=[101])  # a child the kernel did not announce
    _fake_proc(tmp_path, 101, 100, 7)
    for now in (1.0, 2.0, 3.0):
        assert tree.sample(now).processes == 1
    assert walks == []  # the newest PID did not move: nothing can have joined
    (tmp_path / "loadavg").write_text("0.00 0.00 0.00 1/81 101\n")
    usage = tree.sample(4.0)
    assert walks == [1] and usage.processes == 2 and tree.pids() == [100, 101]
    assert usage.cpu_s == pytest.approx((5 + 7) / CLK_TCK)


def test_tree_without_loadavg_always_looks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_proc(tmp_path, 100, 1, 0, children=[101])
    _fake_proc(tmp_path, 101, 100, 3)
    tree = ProcessTree(100, str(tmp_path), rescan_s=0.0)
    assert tree.pids() == [100, 101]
    _fake_proc(tmp_path, 101, 100, 3, children=[102])
    _fake_proc(tmp_path, 102, 101, 4)
    assert tree.sample(1.0).processes == 3


def test_exit_time_lands_in_the_interval_where_the_root_left() -> None:
    """`impactlib run` learns the root's full CPU time from wait4 after reaping it; the
    time the samples missed belongs to the first capture that saw the root gone, not to
    a later one (which at stop() can last a millisecond)."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", BURN, "0.4"])
    tree = ProcessTree(child.pid, root_is_new=True)
    alive = tree.capture(time.monotonic())
    _, _, usage = os.wait4(child.pid, 0)
    gone = tree.capture(time.monotonic())
    tree.account_exit(usage.ru_utime + usage.ru_stime)  # given before either is accounted
    seen_alive = tree.account(alive).cpu_s
    at_exit = tree.account(gone).cpu_s
    assert seen_alive < 0.35
    assert at_exit == pytest.approx(usage.ru_utime + usage.ru_stime, abs=1 / CLK_TCK)
    assert tree.account(tree.capture(time.monotonic())).cpu_s == at_exit


# --- checkpoints: cost that does not grow with the run ---------------------------------------


def test_recent_minutes_are_the_same_as_in_the_full_series() -> None:
    from impactlib.attribution.shares import DomainAccount, Shares

    account = DomainAccount(Domain("cpu:package-0", "cpu", "rapl", "machine", "measured"))
    for second in range(0, 300, 2):
        account.add(60.0 + second % 7, 2.0, second // 60, Shares(0.5, 0.25))
    full = account.minute_charged_j()
    assert sorted(full) == [0, 1, 2, 3, 4]
    assert account.minute_charged_j(since=3) == {3: full[3], 4: full[4]}


def test_checkpoints_write_recent_minutes_and_the_end_writes_all(tmp_path: Path) -> None:
    from impactlib.store import open_store

    config = load_config(
        {"powercap_root": str(tmp_path / "none"), "interval": 0.05, "save_interval": 0.2}
    )
    store = open_store(config)
    tracker = Tracker(config, store=store)
    written: list[list[str]] = []
    tracker.start()
    checkpoint = store.checkpoint

    def spy(run_id: str, status: str, footprint: object, series: list, epochs: object) -> None:
        written.append([row.minute for row in series])
        checkpoint(run_id, status, footprint, series, epochs)  # type: ignore[arg-type]

    store.checkpoint = spy  # type: ignore[method-assign]
    time.sleep(1.0)
    footprint = tracker.stop()
    assert footprint is not None and len(written) >= 3
    assert all(len(set(minutes)) <= 2 for minutes in written)  # the current and previous
    rows = open_store(config).series(tracker.run_id)
    assert sum(r.energy_j for r in rows) == pytest.approx(footprint.energy_j, rel=1e-9)


def test_machine_scope_counts_cpu_time_since_the_start_not_since_boot(tmp_path: Path) -> None:
    config = load_config({"powercap_root": str(tmp_path / "none"), "scope": "machine"})
    tracker = Tracker(config)
    tracker.start()
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
    footprint = tracker.stop()
    assert footprint is not None
    cpu_s = footprint.cpu_hours * 3600
    assert 0.25 <= cpu_s <= footprint.duration_s * (os.cpu_count() or 1) + 0.05
