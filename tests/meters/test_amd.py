"""AmdMeter against a fake amdsmi: both answer generations, resets, gaps, availability."""

from __future__ import annotations

import sys

import pytest
from fakes.amdsmi import FakeAmdGpu, FakeAmdSmi

from impactlib.errors import MeterFailed, MeterUnavailable
from impactlib.meters.amd import AmdMeter

MI300 = "3bff74a1-0000-1000-80d5-6e9bc2f1e1e0"
MI250_GCD0 = "a1b2c3d4-0000-1000-8000-000000000000"


def test_energy_accumulator_times_resolution() -> None:
    gpu = FakeAmdGpu(MI300, accumulator=10**12, resolution_uj=15.3)
    smi = FakeAmdSmi([gpu])
    meter = AmdMeter(smi.module())
    (domain,) = meter.domains()
    assert domain.id == f"gpu:{MI300}"
    assert (domain.component, domain.method, domain.extent) == ("gpu", "amdsmi-energy", "device")
    gpu.accumulator += 1_000_000  # 1e6 counts x 15.3 uJ = 15.3 J
    assert meter.read_energy_j() == {f"gpu:{MI300}": pytest.approx(15.3, rel=1e-12)}
    assert meter.device_names() == {f"gpu:{MI300}": "AMD Instinct MI300X"}


def test_legacy_power_key_is_the_same_counter() -> None:
    gpu = FakeAmdGpu(MI250_GCD0, market_name="AMD Instinct MI250X", legacy=True)
    meter = AmdMeter(FakeAmdSmi([gpu]).module())
    gpu.accumulator = 2_000_000
    assert meter.read_energy_j() == {f"gpu:{MI250_GCD0}": pytest.approx(30.6, rel=1e-12)}


def test_decrease_is_a_reset_not_a_wrap() -> None:
    gpu = FakeAmdGpu(MI300, accumulator=5_000_000, resolution_uj=1.0)
    meter = AmdMeter(FakeAmdSmi([gpu]).module())
    gpu.accumulator = 6_000_000
    assert meter.read_energy_j() == {f"gpu:{MI300}": 1.0}
    gpu.accumulator = 500_000  # driver reload
    assert meter.read_energy_j() == {f"gpu:{MI300}": 1.0}
    gpu.accumulator = 2_500_000
    assert meter.read_energy_j() == {f"gpu:{MI300}": 3.0}


def test_failed_read_is_a_gap() -> None:
    gpu = FakeAmdGpu(MI300, resolution_uj=1.0)
    meter = AmdMeter(FakeAmdSmi([gpu]).module())
    gpu.accumulator = 4_000_000
    gpu.fail_reads = 1
    assert meter.read_energy_j() == {}
    assert meter.gaps == 1
    assert meter.read_energy_j() == {f"gpu:{MI300}": 4.0}


def test_gpu_without_a_counter_is_skipped() -> None:
    smi = FakeAmdSmi([FakeAmdGpu("vm-guest", supported=False), FakeAmdGpu(MI300)])
    meter = AmdMeter(smi.module())
    assert [d.id for d in meter.domains()] == [f"gpu:{MI300}"]
    assert meter.diagnostics() == ["AMD GPU 0 not measured: amdsmi: amdsmi error 2"]


def test_gpus_found_but_none_readable_is_a_failure() -> None:
    smi = FakeAmdSmi([FakeAmdGpu("vm-guest", supported=False)])
    with pytest.raises(MeterFailed, match="AMD GPU 0 not measured") as caught:
        AmdMeter(smi.module())
    assert caught.value.meter == "amd"
    assert not smi.initialized


def test_diagnostics_name_the_gpu_and_what_was_lost() -> None:
    gpu = FakeAmdGpu(MI300, accumulator=5_000_000, resolution_uj=1.0)
    meter = AmdMeter(FakeAmdSmi([gpu]).module())
    gpu.accumulator = 1_000  # driver reset
    meter.read_energy_j()
    gpu.fail_reads = 2
    meter.read_energy_j()
    meter.read_energy_j()
    assert meter.diagnostics() == [
        f"gpu:{MI300} (AMD Instinct MI300X): the energy counter went backwards once (the "
        "driver was reloaded or the GPU reset); the energy of 1 sampling interval was not "
        "counted",
        f"gpu:{MI300} (AMD Instinct MI300X): 2 readings failed; the next reading of the "
        "counter covered the missed time, so no energy was lost",
    ]


def test_a_malformed_answer_is_a_gap() -> None:
    gpu = FakeAmdGpu(MI300, resolution_uj=1.0)
    meter = AmdMeter(FakeAmdSmi([gpu]).module())
    gpu.malformed_reads = 1
    assert meter.read_energy_j() == {}
    gpu.accumulator = 3_000_000
    assert meter.read_energy_j() == {f"gpu:{MI300}": 3.0}
    assert meter.gaps == 1


def test_unavailable_without_gpus_driver_or_module(monkeypatch: pytest.MonkeyPatch) -> None:
    # none of these is a failure: there is no AMD GPU to measure here
    empty = FakeAmdSmi()
    with pytest.raises(MeterUnavailable, match="no AMD GPU") as caught:
        AmdMeter(empty.module())
    assert caught.value.meter == "amd"
    assert not isinstance(caught.value, MeterFailed)
    assert not empty.initialized  # shut down again

    broken = FakeAmdSmi([FakeAmdGpu(MI300)])
    broken.init_error = RuntimeError("amdgpu not loaded")
    with pytest.raises(MeterUnavailable, match="amdsmi did not start") as caught:
        AmdMeter(broken.module())
    assert not isinstance(caught.value, MeterFailed)

    monkeypatch.setitem(sys.modules, "amdsmi", None)
    with pytest.raises(MeterUnavailable) as caught:
        AmdMeter()
    assert "impactlib[amd]" in caught.value.fix
    assert not isinstance(caught.value, MeterFailed)
