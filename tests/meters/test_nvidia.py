"""NvidiaMeter against the scriptable fake pynvml: counters, power, device choice, processes."""

from __future__ import annotations

import sys

import pytest
from fakes.pynvml import (
    NVML_DEVICE_ARCH_AMPERE,
    NVML_DEVICE_ARCH_PASCAL,
    NVML_DEVICE_ARCH_TURING,
    NVML_DEVICE_ARCH_VOLTA,
    NVML_ERROR_DRIVER_NOT_LOADED,
    NVML_ERROR_GPU_IS_LOST,
    NVML_ERROR_NO_PERMISSION,
    NVML_ERROR_NOT_SUPPORTED,
    NVML_SUCCESS,
    FakeMig,
    FakeNvml,
)

from impactlib.errors import MeterFailed, MeterUnavailable
from impactlib.meters.nvidia import NvidiaMeter

H100 = "GPU-8932f937-d72c-4106-c12f-20bd9faed9f6"
A100 = "GPU-0f5e1d2c-3b4a-5968-7a8b-9c0d1e2f3a4b"
T4 = "GPU-c0ffee00-1111-2222-3333-444455556666"
V100 = "GPU-8932f000-aaaa-bbbb-cccc-ddddeeeeffff"  # shares the "GPU-8932f" prefix with H100


@pytest.fixture
def nvml() -> FakeNvml:
    """An empty fake node; tests add the GPUs they need."""
    return FakeNvml()


def meter_for(nvml: FakeNvml, visible: str | None = None) -> NvidiaMeter:
    return NvidiaMeter(nvml.module(), visible_devices=visible, clock=nvml.clock)


def ids(meter: NvidiaMeter) -> list[str]:
    return [domain.id for domain in meter.domains()]


@pytest.fixture
def mixed() -> FakeNvml:
    """A mixed node whose NVML order (H100, T4, A100) is not PCI order (T4, A100, H100)."""
    nvml = FakeNvml()
    nvml.add_gpu(H100, pci_bus_id="00000000:C1:00.0")
    nvml.add_gpu(T4, name="Tesla T4", pci_bus_id="00000000:05:00.0", arch=NVML_DEVICE_ARCH_TURING)
    nvml.add_gpu(A100, name="NVIDIA A100-SXM4-40GB", pci_bus_id="00000000:3B:00.0")
    return nvml


# --- energy -----------------------------------------------------------------------------


def test_volta_and_newer_read_the_energy_counter(
    nvml: FakeNvml, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    gpu = nvml.add_gpu(H100, power_w=250.0, energy_mj=123_456_789.0)
    meter = meter_for(nvml)
    (domain,) = meter.domains()
    assert domain.id == f"gpu:{H100}"
    assert (domain.component, domain.method, domain.extent, domain.quality) == (
        "gpu",
        "nvml-energy",
        "device",
        "measured",
    )
    assert meter.read_energy_j() == {f"gpu:{H100}": 0.0}
    nvml.advance(2.0)
    gpu.power_w = 100.0
    nvml.advance(0.5)
    assert meter.read_energy_j() == {f"gpu:{H100}": 550.0}
    assert nvml.calls["nvmlDeviceGetPowerUsage"] == 0


def test_volta_boundary_uses_the_counter(nvml: FakeNvml) -> None:
    nvml.add_gpu(V100, name="Tesla V100-SXM2-16GB", arch=NVML_DEVICE_ARCH_VOLTA)
    nvml.add_gpu(T4, arch=NVML_DEVICE_ARCH_PASCAL, pci_bus_id="00000000:02:00.0")
    methods = [domain.method for domain in meter_for(nvml, None).domains()]
    assert methods == ["nvml-energy", "nvml-power"]


def test_pre_volta_integrates_power_with_the_trapezoid_rule(nvml: FakeNvml) -> None:
    gpu = nvml.add_gpu(T4, name="Tesla P100", arch=NVML_DEVICE_ARCH_PASCAL, power_w=100.0)
    meter = meter_for(nvml, T4)
    assert meter.domains()[0].method == "nvml-power"
    gpu.power_w = 200.0
    nvml.advance(2.0)
    assert meter.read_energy_j() == {f"gpu:{T4}": 300.0}  # (100 + 200) / 2 * 2
    gpu.power_w = 50.0
    nvml.advance(4.0)
    assert meter.read_energy_j() == {f"gpu:{T4}": 800.0}  # + (200 + 50) / 2 * 4
    nvml.advance(0.25)
    assert meter.read_energy_j() == {f"gpu:{T4}": 812.5}  # + 50 * 0.25
    assert nvml.calls["nvmlDeviceGetTotalEnergyConsumption"] == 0


def test_unsupported_counter_falls_back_to_power(nvml: FakeNvml) -> None:
    nvml.add_gpu(A100, energy_supported=False, power_w=300.0)
    meter = meter_for(nvml, A100)
    assert meter.domains()[0].method == "nvml-power"
    nvml.advance(1.0)
    assert meter.read_energy_j() == {f"gpu:{A100}": 300.0}


def test_counter_reset_drops_one_interval_and_rebases(nvml: FakeNvml) -> None:
    gpu = nvml.add_gpu(H100, power_w=200.0, energy_mj=9e9)
    meter = meter_for(nvml, H100)
    nvml.advance(1.0)
    assert meter.read_energy_j() == {f"gpu:{H100}": 200.0}
    gpu.reset_energy()  # driver reload
    nvml.advance(1.0)
    assert meter.read_energy_j() == {f"gpu:{H100}": 200.0}
    assert meter.resets == 1
    nvml.advance(1.0)
    assert meter.read_energy_j() == {f"gpu:{H100}": 400.0}


def test_transient_error_is_a_gap_and_the_counter_catches_up(mixed: FakeNvml) -> None:
    meter = meter_for(mixed, f"{H100},{A100}")
    mixed.advance(1.0)
    mixed.fail("nvmlDeviceGetTotalEnergyConsumption", NVML_ERROR_GPU_IS_LOST, uuid=H100)
    energy = meter.read_energy_j()
    assert f"gpu:{H100}" not in energy
    assert energy[f"gpu:{A100}"] == 100.0
    assert meter.gaps == 1
    mixed.advance(1.0)
    assert meter.read_energy_j()[f"gpu:{H100}"] == 200.0


def test_power_gap_is_not_integrated_across(nvml: FakeNvml) -> None:
    gpu = nvml.add_gpu(T4, arch=NVML_DEVICE_ARCH_PASCAL, power_w=100.0)
    meter = meter_for(nvml, T4)
    nvml.advance(1.0)
    assert meter.read_energy_j() == {f"gpu:{T4}": 100.0}
    nvml.fail("nvmlDeviceGetPowerUsage", NVML_ERROR_GPU_IS_LOST)
    nvml.advance(1.0)
    assert meter.read_energy_j() == {}
    gpu.power_w = 300.0
    nvml.advance(5.0)
    assert meter.read_energy_j() == {f"gpu:{T4}": 100.0}  # new baseline, nothing invented
    nvml.advance(1.0)
    assert meter.read_energy_j() == {f"gpu:{T4}": 400.0}
    assert meter.gaps == 1


def test_one_nvml_call_per_gpu_per_read(mixed: FakeNvml) -> None:
    meter = meter_for(mixed, None)
    before = sum(mixed.calls.values())
    meter.read_energy_j()
    assert sum(mixed.calls.values()) - before == 3


# --- which devices --------------------------------------------------------------------------


def test_all_devices_when_cuda_visible_devices_is_unset(
    mixed: FakeNvml, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert ids(meter_for(mixed)) == [f"gpu:{H100}", f"gpu:{T4}", f"gpu:{A100}"]


def test_environment_is_read_when_not_given(
    mixed: FakeNvml, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", A100)
    assert ids(meter_for(mixed)) == [f"gpu:{A100}"]


@pytest.mark.parametrize(
    ("visible", "expected"),
    [
        ("0", [T4]),  # PCI order: T4 (05) < A100 (3B) < H100 (C1)
        ("2", [H100]),
        ("2,0", [H100, T4]),
        ("1, 2", [A100, H100]),
        (A100, [A100]),
        (f"{T4},{H100}", [T4, H100]),
        ("GPU-c0ffee00", [T4]),  # unique prefix
        ("GPU-0f5e1d2c-3b4a", [A100]),
        ("1,1,1", [A100]),  # duplicates count once
        ("1,bogus,0", [A100]),  # CUDA stops at the first invalid entry
        ("2,7,0", [H100]),  # out of range is invalid too
    ],
)
def test_cuda_visible_devices_forms(mixed: FakeNvml, visible: str, expected: list[str]) -> None:
    assert ids(meter_for(mixed, visible)) == [f"gpu:{uuid}" for uuid in expected]


def test_ambiguous_prefix_resolves_to_nothing(mixed: FakeNvml) -> None:
    mixed.add_gpu(V100, arch=NVML_DEVICE_ARCH_VOLTA, pci_bus_id="00000000:D1:00.0")
    with pytest.raises(MeterUnavailable, match="CUDA_VISIBLE_DEVICES='GPU-8932f'"):
        meter_for(mixed, "GPU-8932f")
    assert ids(meter_for(mixed, "GPU-8932f937")) == [f"gpu:{H100}"]


@pytest.mark.parametrize("visible", ["", "-1", "NoDevFiles"])
def test_nothing_visible_is_unavailable(mixed: FakeNvml, visible: str) -> None:
    with pytest.raises(MeterUnavailable) as caught:
        meter_for(mixed, visible)
    assert caught.value.meter == "nvidia"
    assert not isinstance(caught.value, MeterFailed)  # no GPU of ours is not a failure
    assert mixed.initialized == 0  # nvmlShutdown balanced the nvmlInit


def test_integer_indices_on_mixed_models_warn_about_device_order(
    mixed: FakeNvml, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    assert any("CUDA_DEVICE_ORDER" in w for w in meter_for(mixed, "0").warnings)
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    assert meter_for(mixed, "0").warnings == []
    assert meter_for(mixed, H100).warnings == []


def test_no_permission_means_not_ours(mixed: FakeNvml) -> None:
    mixed.gpu(T4).permitted = False  # another job's GPU under a device cgroup
    meter = meter_for(mixed, None)
    assert ids(meter) == [f"gpu:{H100}", f"gpu:{A100}"]
    assert meter.skipped == []  # not ours is not a failure
    # integers index only what CUDA can see here: A100 (3B) then H100 (C1)
    assert ids(meter_for(mixed, "0")) == [f"gpu:{A100}"]
    with pytest.raises(MeterUnavailable):
        meter_for(mixed, T4)


def test_no_permitted_device_is_unavailable(mixed: FakeNvml) -> None:
    for gpu in mixed.gpus:
        gpu.permitted = False
    with pytest.raises(MeterUnavailable, match="open no GPU") as caught:
        meter_for(mixed, None)
    assert not isinstance(caught.value, MeterFailed)


def test_mig_instance_measures_its_parent_gpu(mixed: FakeNvml) -> None:
    a100 = mixed.gpu(A100)
    a100.migs = [
        FakeMig("MIG-11111111-2222-3333-4444-555555555555", 1, 0),
        FakeMig("MIG-66666666-7777-8888-9999-000000000000", 2, 0),
    ]
    first, second = (mig.uuid for mig in a100.migs)
    meter = meter_for(mixed, f"{first},{second}")
    (domain,) = meter.domains()
    assert domain.id == f"gpu:{A100}"
    assert "no per-MIG-instance" in domain.note and "whole GPU" in domain.note
    assert first in domain.note and second in domain.note
    mixed.advance(1.0)
    assert meter.read_energy_j() == {f"gpu:{A100}": 100.0}


def test_legacy_mig_ids_name_the_parent_uuid(mixed: FakeNvml) -> None:
    meter = meter_for(mixed, f"MIG-{H100}/1/0")
    assert ids(meter) == [f"gpu:{H100}"]
    assert "whole GPU" in meter.domains()[0].note


def test_unknown_mig_id_is_invalid(mixed: FakeNvml) -> None:
    with pytest.raises(MeterUnavailable):
        meter_for(mixed, "MIG-deadbeef-0000-0000-0000-000000000000")


def test_device_names(mixed: FakeNvml) -> None:
    assert meter_for(mixed, "0,1").device_names() == {
        f"gpu:{T4}": "Tesla T4",
        f"gpu:{A100}": "NVIDIA A100-SXM4-40GB",
    }


# --- availability --------------------------------------------------------------------------


def test_missing_pynvml_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` fail
    with pytest.raises(MeterUnavailable) as caught:
        NvidiaMeter()
    assert caught.value.meter == "nvidia"
    assert caught.value.fix == "pip install 'impactlib[nvidia]'"
    # opened only where a driver is loaded: GPUs are there and go unmeasured
    assert isinstance(caught.value, MeterFailed)


def test_a_driver_nvml_cannot_start_is_a_failure(
    nvml: FakeNvml, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("impactlib.meters.driver.nvidia_driver_present", lambda: True)
    nvml.add_gpu(H100)
    nvml.init_error = NVML_ERROR_DRIVER_NOT_LOADED
    with pytest.raises(MeterFailed, match="NVML did not start") as caught:
        meter_for(nvml)
    assert "driver" in caught.value.fix


def test_no_driver_at_all_is_unavailable_not_a_failure(
    nvml: FakeNvml, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("impactlib.meters.driver.nvidia_driver_present", lambda: False)
    nvml.init_error = NVML_ERROR_DRIVER_NOT_LOADED
    with pytest.raises(MeterUnavailable, match="no NVIDIA driver") as caught:
        meter_for(nvml)
    assert not isinstance(caught.value, MeterFailed)


def test_driver_failure_while_listing_is_unavailable(nvml: FakeNvml) -> None:
    nvml.add_gpu(H100)
    nvml.fail("nvmlDeviceGetCount", NVML_ERROR_GPU_IS_LOST)
    with pytest.raises(MeterFailed, match="listing GPUs"):
        meter_for(nvml)
    assert nvml.initialized == 0


def test_no_readable_gpu_is_a_failure(nvml: FakeNvml) -> None:
    nvml.add_gpu(T4, name="Tesla T4", energy_supported=False)
    nvml.fail("nvmlDeviceGetPowerUsage", NVML_ERROR_GPU_IS_LOST)
    with pytest.raises(MeterFailed, match="reports energy or power") as caught:
        meter_for(nvml, None)
    assert f"NVIDIA GPU {T4} (Tesla T4) not measured" in caught.value.reason
    assert nvml.initialized == 0


def test_close_balances_init(nvml: FakeNvml) -> None:
    nvml.add_gpu(H100)
    meter = meter_for(nvml, None)
    assert nvml.initialized == 1
    meter.close()
    meter.close()
    assert nvml.initialized == 0


# --- what the meter says about its readings --------------------------------------------------


def test_diagnostics_name_each_gpu_and_what_was_lost(mixed: FakeNvml) -> None:
    mixed.gpu(H100).energy_mj = 9e9
    meter = meter_for(mixed, f"{H100},{A100}")
    mixed.advance(1.0)
    meter.read_energy_j()
    assert meter.diagnostics() == []  # nothing happened, nothing said
    mixed.gpu(H100).reset_energy()  # driver reload
    mixed.advance(1.0)
    mixed.fail("nvmlDeviceGetTotalEnergyConsumption", NVML_ERROR_GPU_IS_LOST, uuid=A100)
    meter.read_energy_j()
    assert meter.diagnostics() == [
        f"gpu:{H100} (NVIDIA H100 80GB HBM3): the energy counter went backwards once (the "
        "driver was reloaded or the GPU reset); the energy of 1 sampling interval was not "
        "counted",
        f"gpu:{A100} (NVIDIA A100-SXM4-40GB): 1 reading failed; the next reading of the "
        "counter covered the missed time, so no energy was lost",
    ]
    assert (meter.resets, meter.gaps) == (1, 1)


def test_a_power_gap_is_reported_as_energy_not_counted(nvml: FakeNvml) -> None:
    nvml.add_gpu(T4, name="Tesla P100", arch=NVML_DEVICE_ARCH_PASCAL)
    meter = meter_for(nvml, T4)
    nvml.fail("nvmlDeviceGetPowerUsage", NVML_ERROR_GPU_IS_LOST, times=2)
    meter.read_energy_j()
    meter.read_energy_j()
    assert meter.diagnostics() == [
        f"gpu:{T4} (Tesla P100): power could not be read 2 times; the energy between the "
        "readings on either side of each failure was not counted"
    ]


def test_skipped_devices_and_assumptions_are_diagnostics(
    mixed: FakeNvml, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    mixed.fail("nvmlDeviceGetUUID", NVML_ERROR_GPU_IS_LOST, uuid=T4)
    meter = meter_for(mixed, "0,1,bogus")  # PCI order without the T4: A100, H100
    assert ids(meter) == [f"gpu:{A100}", f"gpu:{H100}"]
    skipped, unresolved, order = meter.diagnostics()
    assert skipped == "NVIDIA GPU at NVML index 1 not measured: NVML: NVML error 15"
    assert unresolved == (
        "CUDA_VISIBLE_DEVICES entry 'bogus' names no GPU this process may open; CUDA ignores "
        "it and every entry after it"
    )
    assert "different models" in order and "CUDA_DEVICE_ORDER=PCI_BUS_ID" in order


# --- processes ----------------------------------------------------------------------------


def test_process_weights_sum_sm_samples_since_the_last_call(nvml: FakeNvml) -> None:
    gpu = nvml.add_gpu(H100)
    gpu.processes = {4242: 80, 777: 20}
    meter = meter_for(nvml, None)
    for _ in range(3):
        nvml.advance(1.0)
    key = f"gpu:{H100}"
    assert meter.process_weights() == {key: {4242: 240.0, 777: 60.0}}
    gpu.processes = {4242: 10}
    nvml.advance(1.0)
    assert meter.process_weights() == {key: {4242: 10.0}}  # nothing counted twice


def test_process_weights_fall_back_to_running_processes(nvml: FakeNvml) -> None:
    gpu = nvml.add_gpu(H100)
    gpu.processes = {11: 50, 22: 50}
    meter = meter_for(nvml, None)
    key = f"gpu:{H100}"
    # no sample newer than the last one seen: NVML answers NOT_FOUND
    assert meter.process_weights() == {key: {11: 1.0, 22: 1.0}}
    gpu.process_util_supported = False
    nvml.advance(1.0)
    assert meter.process_weights() == {key: {11: 1.0, 22: 1.0}}
    # nvidia-ml-py raises NVMLError(NVML_SUCCESS) when the size query finds no sample
    gpu.process_util_supported = True
    nvml.fail("nvmlDeviceGetProcessUtilization", NVML_SUCCESS)
    assert meter.process_weights() == {key: {11: 1.0, 22: 1.0}}


def test_process_weights_no_permission_is_empty(nvml: FakeNvml) -> None:
    gpu = nvml.add_gpu(H100)
    gpu.processes = {11: 50}
    nvml.advance(1.0)
    meter = meter_for(nvml, None)
    nvml.fail("nvmlDeviceGetProcessUtilization", NVML_ERROR_NO_PERMISSION)
    assert meter.process_weights() == {f"gpu:{H100}": {}}
    nvml.fail("nvmlDeviceGetProcessUtilization", NVML_ERROR_NOT_SUPPORTED)
    nvml.fail("nvmlDeviceGetComputeRunningProcesses", NVML_ERROR_NO_PERMISSION)
    assert meter.process_weights() == {f"gpu:{H100}": {}}


def test_fake_constants_match_pynvml() -> None:
    # guards the fake against drifting from pynvml's enum order
    pynvml = pytest.importorskip("pynvml")
    assert pynvml.NVML_DEVICE_ARCH_VOLTA == NVML_DEVICE_ARCH_VOLTA
    assert pynvml.NVML_DEVICE_ARCH_AMPERE == NVML_DEVICE_ARCH_AMPERE
    assert pynvml.NVML_ERROR_NO_PERMISSION == NVML_ERROR_NO_PERMISSION
    assert pynvml.NVML_ERROR_NOT_SUPPORTED == NVML_ERROR_NOT_SUPPORTED


def test_no_driver_is_told_before_importing_pynvml(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    from impactlib.meters import driver

    monkeypatch.delitem(sys.modules, "pynvml", raising=False)
    monkeypatch.setattr(driver, "NVIDIA_DRIVER_PATHS", (f"{tmp_path}/nvidiactl",))
    with pytest.raises(MeterUnavailable, match="no NVIDIA driver here") as caught:
        driver.require_nvidia_driver()
    assert "nvidia-smi" in caught.value.fix
    assert "pynvml" not in sys.modules
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml().module())  # a loaded NVML is asked
    driver.require_nvidia_driver()
