"""GPUs in MIG mode: each instance's share of the device's energy (docs/attribution.md,
"Shared GPUs: time-slicing and MIG"), in the daemon's split of every process and in a
tracker's record; and a GPU without MIG split as before."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from daemonhost import daemon_config
from fakes.pynvml import FakeMig, FakeNvml
from gpurun import tracked_on

import impactlib
from impactlib.attribution.shares import Floor, mig_held, mig_shares
from impactlib.footprint import Component, Extent, FloorSource, Method, Quality
from impactlib.meters.base import Domain
from impactlib.meters.mig import MigActivity, MigDevice, MigInstance
from impactlib.meters.nvidia import NvidiaMeter
from impactlib.server.attributor import Interval, MachineAttributor
from impactlib.server.daemon import Daemon
from impactlib.server.procscan import Proc, Scan

A100 = "GPU-0f5e1d2c-3b4a-5968-7a8b-9c0d1e2f3a4b"
MIG_A = "MIG-11111111-2222-3333-4444-555555555555"
MIG_B = "MIG-66666666-7777-8888-9999-000000000000"
GPU = Domain(f"gpu:{A100}", Component.GPU, Method.NVML_ENERGY, Extent.DEVICE, Quality.MEASURED)
OTHER_USER_PID = 999_999  # someone else's process, not in our tree
WALL = 1_800_000_000 * 10**9

# Two instances of a GPU whose MIG profile holds 98 SMs: 3g.40gb (42 SMs) 80 % busy and
# 2g.20gb (28 SMs) 20 % busy; 28 SMs held by no instance. Over 10 s the GPU draws 200 W
# with an idle floor of 60 W: E = 2000 J, idle 600 J, dynamic 1400 J.
SMS, SMS_A, SMS_B, ACT_A, ACT_B = 98, 42, 28, 0.8, 0.2
E, FLOOR_W, DT = 2000.0, 60.0, 10.0
IDLE, DYNAMIC = FLOOR_W * DT, E - FLOOR_W * DT
WEIGHTED = ACT_A * SMS_A + ACT_B * SMS_B  # 39.2
# The documented shares: dynamic by activity x SMs, idle by SMs of the whole.
TRUTH_A = DYNAMIC * ACT_A * SMS_A / WEIGHTED + IDLE * SMS_A / SMS  # 1200 + 257.14
TRUTH_B = DYNAMIC * ACT_B * SMS_B / WEIGHTED + IDLE * SMS_B / SMS  # 200 + 171.43
UNALLOCATED = IDLE * (SMS - SMS_A - SMS_B) / SMS  # 171.43: the idle of no one's slices


def two_instances(alice_pid: int, bob_pid: int, **gpu: object) -> FakeNvml:
    nvml = FakeNvml()
    nvml.add_gpu(
        A100,
        name="NVIDIA A100-SXM4-40GB",
        mig_sms=SMS,
        migs=[
            FakeMig(MIG_A, 1, 0, "3g.40gb", SMS_A, processes={alice_pid}, sm_util=ACT_A * 100),
            FakeMig(MIG_B, 2, 0, "2g.20gb", SMS_B, processes={bob_pid}, sm_util=ACT_B * 100),
        ],
        **gpu,
    )
    return nvml


def measured_instances(nvml: FakeNvml) -> MigDevice:
    """What the meter reports after one GPM interval."""
    meter = NvidiaMeter(nvml.module(), visible_devices=None, clock=nvml.clock)
    meter.mig_devices()
    nvml.advance(5.0)
    device = meter.mig_devices()[GPU.id]
    meter.close()
    assert device.activity is MigActivity.GPM
    return device


def test_two_instances_get_the_documented_shares_summing_to_the_device_energy() -> None:
    alice, bob = (
        Proc(101, 0, 1000, "train", 1, None, 0, 0),
        Proc(202, 0, 1001, "eval", 1, None, 0, 0),
    )
    a = MachineAttributor((GPU,), 4, 1000.0, "usage")
    a.set_floors({GPU.id: Floor(FLOOR_W, FloorSource.CALIBRATED)})
    a.gpu_migs[GPU.id] = measured_instances(two_instances(alice.pid, bob.pid))
    a.account(Interval(DT, WALL, {GPU.id: E}, 0.0), Scan([], []), {101: alice, 202: bob})
    assert a.users[1000][GPU.id] == pytest.approx(TRUTH_A, rel=1e-9)
    assert a.users[1001][GPU.id] == pytest.approx(TRUTH_B, rel=1e-9)
    assert a.unattributed[GPU.id] == pytest.approx(UNALLOCATED, rel=1e-9)
    charged = sum(user[GPU.id] for user in a.users.values())
    assert charged + a.unattributed[GPU.id] == pytest.approx(E, rel=1e-12)  # conservation


def test_processes_sharing_one_instance_share_it_alike() -> None:
    device = measured_instances(two_instances(101, 202))
    crowded = MigDevice(
        device.sms,
        (
            MigInstance(MIG_A, "3g.40gb", SMS_A, ACT_A, frozenset({101, 102}), False),
            device.instances[1],
        ),
        device.activity,
    )
    halves = [mig_shares("usage", crowded, mig_held(crowded, {pid})) for pid in (101, 102)]
    whole = mig_shares("usage", crowded, mig_held(crowded, {101, 102}))
    assert halves[0] == halves[1]
    assert halves[0].busy * 2 == pytest.approx(whole.busy)
    assert whole.idle == pytest.approx(SMS_A / SMS)


def test_hidden_instances_fill_the_rest_as_busy_as_the_visible_ones() -> None:
    # In a container NVML shows our instance only: the other SMs are taken to be held by
    # instances as busy as ours, so our dynamic share is our slice of the allocated SMs.
    ours = MigInstance(MIG_A, "3g.40gb", SMS_A, ACT_A, frozenset(), True)
    device = MigDevice(SMS, (ours,), MigActivity.GPM, hidden=1)
    assert mig_shares("usage", device, {MIG_A: 1.0}) == pytest.approx((SMS_A / SMS, SMS_A / SMS))
    assert mig_shares("none", device, {MIG_A: 1.0}).idle == 0.0


@pytest.mark.parametrize(
    ("policy", "idle"), [("usage", 42 / 98), ("allocation", 42 / 98), ("none", 0.0)]
)
def test_an_instance_holds_its_sm_slice_of_the_idle_power_working_or_not(
    policy: str, idle: float
) -> None:
    resting = MigInstance(MIG_A, "3g.40gb", SMS_A, 0.0, frozenset({101}), False)
    busy = MigInstance(MIG_B, "2g.20gb", SMS_B, 1.0, frozenset({202}), False)
    device = MigDevice(SMS, (resting, busy), MigActivity.GPM)
    assert mig_shares(policy, device, mig_held(device, {101})) == (0.0, pytest.approx(idle))
    assert mig_shares(policy, device, mig_held(device, {202})).busy == 1.0


# --- through the tracker ----------------------------------------------------------------------


def gpu_component(fp: impactlib.Footprint | None) -> impactlib.ComponentEnergy:
    assert fp is not None
    (component,) = [c for c in fp.components if c.component == "gpu"]
    return component


@pytest.fixture
def fast_gpu_queries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Query the instances every 0.3 s rather than 5 s, so a short run sees GPM."""
    monkeypatch.setattr("impactlib.attribution.window.GPU_PROCESS_REFRESH_S", 0.3)


@pytest.mark.usefixtures("fast_gpu_queries")
def test_a_tracker_on_an_instance_is_charged_its_instances_share(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nvml = two_instances(os.getpid(), OTHER_USER_PID, power_w=60.0)
    monkeypatch.setitem(sys.modules, "pynvml", nvml.module())
    fp = tracked_on(nvml, tmp_path, 2.8, busy_after_s=1.6, busy_w=200.0)
    gpu = gpu_component(fp)
    floor_j = gpu.idle_floor_w * fp.duration_s
    assert gpu.idle_floor_w == pytest.approx(60.0, rel=0.05)  # observed before the work
    assert gpu.quality == "attributed"
    assert gpu.dynamic_j == pytest.approx(
        (gpu.domain_j - floor_j) * ACT_A * SMS_A / WEIGHTED, rel=0.05
    )
    assert gpu.idle_j == pytest.approx(floor_j * SMS_A / SMS, rel=0.1)
    assert gpu.energy_j + gpu.unattributed_j == pytest.approx(gpu.domain_j, rel=1e-9)
    assert f"GPU split: MIG 3g.40gb instance {MIG_A} (42 of 98 SMs)" in gpu.note
    assert "MIG activity from GPM SM utilisation" in gpu.note
    assert MIG_B not in gpu.note


def test_cuda_visible_devices_naming_an_instance_charges_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Our PID is not one NVML lists (a container's namespace): the instance we were given
    # is ours all the same. No GPM before the first interval: its process makes it busy.
    nvml = two_instances(OTHER_USER_PID, OTHER_USER_PID + 1, power_w=60.0)
    monkeypatch.setitem(sys.modules, "pynvml", nvml.module())
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", MIG_B)
    fp = tracked_on(nvml, tmp_path, 1.2, busy_after_s=0.0, busy_w=60.0)
    gpu = gpu_component(fp)
    assert gpu.energy_j == pytest.approx(gpu.domain_j * SMS_B / SMS, rel=0.15)
    assert f"GPU split: MIG 2g.20gb instance {MIG_B} (28 of 98 SMs)" in gpu.note
    assert "MIG activity from running processes" in gpu.note


# --- MIG off: the split of today --------------------------------------------------------------


def test_a_time_sliced_gpu_keeps_its_sm_sample_split_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nvml = FakeNvml()
    gpu = nvml.add_gpu(A100, power_w=200.0)
    gpu.processes = {os.getpid(): 60, OTHER_USER_PID: 30}
    monkeypatch.setitem(sys.modules, "pynvml", nvml.module())
    fp = tracked_on(nvml, tmp_path, 1.2, busy_after_s=0.0, busy_w=200.0)
    shared = gpu_component(fp)
    assert shared.energy_j == pytest.approx(shared.domain_j * 60 / 90, rel=0.05)
    assert shared.note.endswith("; GPU split: time-sliced by SM samples")
    assert "MIG" not in shared.note


def test_an_exclusive_gpu_says_no_split(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nvml = FakeNvml()
    nvml.add_gpu(A100, power_w=200.0).processes = {os.getpid(): 80}
    monkeypatch.setitem(sys.modules, "pynvml", nvml.module())
    fp = tracked_on(nvml, tmp_path, 0.6, busy_after_s=0.0, busy_w=200.0)
    gpu = gpu_component(fp)
    assert gpu.energy_j == pytest.approx(gpu.domain_j) and "split" not in gpu.note


# --- through the daemon -----------------------------------------------------------------------


def test_the_daemon_charges_each_process_its_instances_share(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real processes, each on its instance, split by a real daemon reading the fake GPU."""
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    alice, bob = subprocess.Popen(sleeper), subprocess.Popen(sleeper)
    try:
        nvml = two_instances(alice.pid, bob.pid)
        monkeypatch.setitem(sys.modules, "pynvml", nvml.module())
        monkeypatch.setattr("impactlib.server.daemon.GPU_REFRESH_S", 0.0)  # every tick
        daemon = Daemon(daemon_config(tmp_path, tmp_path / "socket"))
        try:
            daemon.tick()  # baseline; first GPM sample
            for _ in range(3):
                nvml.advance(5.0)
                daemon.tick()
            charged = {
                proc.pid: ledger.own.get(GPU.id, 0.0)
                for proc, ledger in daemon.attributor.ledgers.items()
            }
            measured = daemon.attributor.domain_energy()[GPU.id]
            unattributed = daemon.attributor.unattributed[GPU.id]
        finally:
            daemon.close()
    finally:
        for child in (alice, bob):
            child.kill()
            child.wait()
    assert measured == pytest.approx(3 * 5.0 * 100.0)  # the fake's 100 W
    # The ticks are milliseconds apart in real time: no idle floor is seen in so short a
    # time, so the fake's energy is all dynamic, split by activity x SMs (GPM from tick 2).
    assert charged[alice.pid] == pytest.approx(measured * ACT_A * SMS_A / WEIGHTED, rel=1e-6)
    assert charged[bob.pid] == pytest.approx(measured * ACT_B * SMS_B / WEIGHTED, rel=1e-6)
    assert charged[alice.pid] + charged[bob.pid] + unattributed == pytest.approx(measured)
