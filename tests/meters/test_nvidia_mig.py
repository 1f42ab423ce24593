"""NvidiaMeter on GPUs in MIG mode: the parent's energy, and what its instances say."""

from __future__ import annotations

import os

import pytest
from fakes.pynvml import (
    NVML_DEVICE_ARCH_AMPERE,
    NVML_DEVICE_ARCH_TURING,
    NVML_ERROR_GPU_IS_LOST,
    NVML_ERROR_NOT_SUPPORTED,
    FakeMig,
    FakeNvml,
)

from impactlib.meters.mig import MigActivity, MigDevice, MigInstance
from impactlib.meters.nvidia import NvidiaMeter

H100 = "GPU-8932f937-d72c-4106-c12f-20bd9faed9f6"
MIG_A = "MIG-11111111-2222-3333-4444-555555555555"
MIG_B = "MIG-66666666-7777-8888-9999-000000000000"
KEY = f"gpu:{H100}"


@pytest.fixture
def nvml() -> FakeNvml:
    """An H100 (132 SMs under MIG) cut into a 3g.40gb and a 2g.20gb instance, one process
    each, the first 80 % busy and the second 20 %."""
    fake = FakeNvml()
    fake.add_gpu(
        H100,
        power_w=300.0,
        mig_sms=132,
        migs=[
            FakeMig(MIG_A, 1, 0, profile="3g.40gb", sms=60, processes={101}, sm_util=80),
            FakeMig(MIG_B, 2, 0, profile="2g.20gb", sms=32, processes={202}, sm_util=20),
        ],
    )
    return fake


def meter_for(nvml: FakeNvml, visible: str | None = None) -> NvidiaMeter:
    return NvidiaMeter(nvml.module(), visible_devices=visible, clock=nvml.clock)


def instances(device: MigDevice) -> dict[str, tuple[float, frozenset[int], bool]]:
    return {i.uuid: (i.activity, i.pids, i.assigned) for i in device.instances}


def test_the_parent_gpu_is_measured_whole_and_says_it_is_split(nvml: FakeNvml) -> None:
    meter = meter_for(nvml)
    (domain,) = meter.domains()
    assert domain.id == KEY and domain.extent == "device" and domain.method == "nvml-energy"
    assert "no per-MIG-instance power or energy" in domain.note
    assert "split between its instances by their SMs and activity" in domain.note
    nvml.advance(2.0)
    assert meter.read_energy_j() == {KEY: 600.0}
    # no per-process samples on MIG: the instances split it, not process_weights()
    assert meter.process_weights() == {}


def test_instances_their_sizes_processes_and_gpm_activity(nvml: FakeNvml) -> None:
    meter = meter_for(nvml)
    first = meter.mig_devices()[KEY]
    # no GPM interval yet: activity is whether a process runs there
    assert first.activity is MigActivity.PROCESSES and first.sms == 132 and first.hidden == 0
    assert [(i.profile, i.sms) for i in first.instances] == [("3g.40gb", 60), ("2g.20gb", 32)]
    assert instances(first) == {
        MIG_A: (1.0, frozenset({101}), False),
        MIG_B: (1.0, frozenset({202}), False),
    }
    nvml.advance(5.0)
    second = meter.mig_devices()[KEY]
    assert second.activity is MigActivity.GPM
    assert instances(second) == {
        MIG_A: (pytest.approx(0.8), frozenset({101}), False),
        MIG_B: (pytest.approx(0.2), frozenset({202}), False),
    }
    # GPM covers the time since the previous call only
    nvml.gpus[0].migs[0].sm_util = 0.0
    nvml.advance(5.0)
    assert instances(meter.mig_devices()[KEY])[MIG_A][0] == 0.0


def test_an_instance_is_named_as_a_record_says_it() -> None:
    instance = MigInstance(MIG_A, "3g.40gb", 42, 0.5, frozenset(), False)
    assert instance.describe(98) == f"MIG 3g.40gb instance {MIG_A} (42 of 98 SMs)"


@pytest.mark.parametrize(
    "visible",
    [MIG_A, f"MIG-{H100}/1/0"],  # R470+ form, and the legacy one naming the parent
)
def test_the_instances_cuda_visible_devices_names_are_ours(nvml: FakeNvml, visible: str) -> None:
    meter = meter_for(nvml, visible)
    assert [d.id for d in meter.domains()] == [KEY]
    assigned = {i.uuid: i.assigned for i in meter.mig_devices()[KEY].instances}
    assert assigned == {MIG_A: True, MIG_B: False}


def test_inside_a_container_the_instance_it_was_given_is_ours(
    nvml: FakeNvml, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `docker run --gpus '"device=MIG-…"'`: the toolkit sets NVIDIA_VISIBLE_DEVICES, CUDA
    # sees that instance alone without CUDA_VISIBLE_DEVICES, and NVML hides the others.
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("SLURM_STEP_GPUS", raising=False)
    monkeypatch.delenv("SLURM_JOB_GPUS", raising=False)
    monkeypatch.setenv("NVIDIA_VISIBLE_DEVICES", MIG_B)
    nvml.gpus[0].migs[0].permitted = False
    device = meter_for(nvml).mig_devices()[KEY]
    assert instances(device) == {MIG_B: (1.0, frozenset({202}), True)}
    assert device.hidden == 1


def test_without_gpm_activity_comes_from_processes(nvml: FakeNvml) -> None:
    gpu = nvml.gpus[0]
    gpu.arch = NVML_DEVICE_ARCH_AMPERE  # A100: MIG, but no GPM
    gpu.migs[1].processes = set()
    meter = meter_for(nvml)
    for _ in range(2):
        nvml.advance(5.0)
        device = meter.mig_devices()[KEY]
        assert device.activity is MigActivity.PROCESSES
        assert [i.activity for i in device.instances] == [1.0, 0.0]


def test_a_failing_gpm_sample_never_mixes_signals(nvml: FakeNvml) -> None:
    meter = meter_for(nvml)
    meter.mig_devices()
    nvml.advance(5.0)
    nvml.fail("nvmlGpmMigSampleGet", NVML_ERROR_GPU_IS_LOST)  # the first instance's
    device = meter.mig_devices()[KEY]
    assert device.activity is MigActivity.PROCESSES
    assert [i.activity for i in device.instances] == [1.0, 1.0]


def test_another_containers_instance_is_counted_hidden(nvml: FakeNvml) -> None:
    nvml.gpus[0].migs[1].permitted = False
    device = meter_for(nvml).mig_devices()[KEY]
    assert [i.uuid for i in device.instances] == [MIG_A]
    assert device.hidden == 1 and device.sms == 132


def test_unknown_whole_gpu_sm_count_is_said_and_the_instances_make_the_whole(
    nvml: FakeNvml,
) -> None:
    nvml.fail("nvmlDeviceGetGpuInstanceProfileInfo", NVML_ERROR_NOT_SUPPORTED)
    meter = meter_for(nvml)
    assert meter.mig_devices()[KEY].sms == 92  # 60 + 32
    (warning,) = meter.diagnostics()
    assert "SM count of the whole GPU under MIG is unknown" in warning


def test_close_frees_the_gpm_samples_before_shutting_nvml_down(nvml: FakeNvml) -> None:
    meter = meter_for(nvml)
    meter.mig_devices()
    nvml.advance(1.0)
    meter.mig_devices()
    assert nvml.calls["nvmlGpmSampleFree"] == 2  # each previous sample, once compared
    meter.close()
    assert nvml.calls["nvmlGpmSampleFree"] == 4 and nvml.initialized == 0


# --- MIG off: as before ---------------------------------------------------------------------


def test_a_gpu_without_mig_has_no_instances_and_keeps_its_process_samples(
    nvml: FakeNvml,
) -> None:
    gpu = nvml.gpus[0]
    gpu.migs = []
    gpu.processes = {os.getpid(): 50}
    meter = meter_for(nvml)
    assert "MIG" not in meter.domains()[0].note
    nvml.advance(1.0)
    assert meter.mig_devices() == {}
    assert meter.process_weights() == {KEY: {os.getpid(): 50.0}}
    assert nvml.calls["nvmlDeviceGetMaxMigDeviceCount"] == 0


def test_a_gpu_before_ampere_knows_no_mig(nvml: FakeNvml) -> None:
    nvml.gpus[0].migs = []
    nvml.gpus[0].arch = NVML_DEVICE_ARCH_TURING  # GetMigMode: NOT_SUPPORTED
    meter = meter_for(nvml)
    assert meter.mig_devices() == {} and meter.diagnostics() == []
