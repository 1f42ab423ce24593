"""Meter discovery (``meters/__init__.py``): which meters a machine gets, the floors the
models know, and the lines a record carries about the meters (notes and diagnostics)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import pytest
from fakes.pynvml import NVML_ERROR_DRIVER_NOT_LOADED, FakeNvml
from powercap import INTEL_RANGE_UJ, FakePowercap

from impactlib.config import load_config
from impactlib.errors import MeterFailed
from impactlib.meters import MeterSet, MeterSettings, open_meters

H100 = "GPU-8932f937-d72c-4106-c12f-20bd9faed9f6"


@pytest.fixture(autouse=True)
def no_amdsmi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "amdsmi", None)


def open_here(opened: list[MeterSet], powercap_root: Path) -> MeterSet:
    meters = open_meters(MeterSettings.of(load_config({"powercap_root": str(powercap_root)})))
    opened.append(meters)
    return meters


def fake_driver(monkeypatch: pytest.MonkeyPatch, nvml: FakeNvml) -> None:
    """A loaded NVIDIA driver: the fake module stands for pynvml, and the driver's device
    nodes count as present."""
    monkeypatch.setitem(sys.modules, "pynvml", nvml.module())
    monkeypatch.setattr("impactlib.meters.driver.nvidia_driver_present", lambda: True)


def test_model_floors_come_from_the_models(opened: list[MeterSet], tmp_path: Path) -> None:
    meters = open_here(opened, tmp_path / "absent")
    by_domain = {d.id: m for m in meters.meters for d in m.domains()}
    floors = meters.known_floors_w()
    assert set(floors) == {"cpu:model", "memory:model"}
    for domain_id, floor in floors.items():
        assert floor == by_domain[domain_id].idle_power_w()
    assert any(note.startswith("CPU energy is estimated: rapl:") for note in meters.notes)


def test_measured_domains_have_no_model_floor(opened: list[MeterSet], tmp_path: Path) -> None:
    tree = FakePowercap.laptop(tmp_path)
    meters = open_here(opened, tree.root)
    assert [d.id for d in meters.domains()][:2] == ["cpu:package-0", "dram:package-0"]
    assert meters.known_floors_w() == {}  # RAPL measures; DRAM measured: no memory model


def test_diagnostics_gather_every_meter_in_order(
    opened: list[MeterSet], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = FakePowercap(tmp_path)
    tree.add_package(0, energy_uj=INTEL_RANGE_UJ - 1_000)
    nvml = FakeNvml()
    nvml.add_gpu(H100, energy_mj=5e9)
    fake_driver(monkeypatch, nvml)
    meters = open_here(opened, tree.root)
    assert meters.diagnostics() == []
    tree.advance("cpu:package-0", 1.0)
    nvml.gpu(H100).reset_energy()
    for meter in meters.meters:
        meter.read_energy_j()
    rapl_line, gpu_line = meters.diagnostics()
    assert rapl_line.startswith("cpu:package-0: the energy counter wrapped around once")
    assert gpu_line.startswith(f"gpu:{H100} (NVIDIA H100 80GB HBM3): the energy counter went")


def test_gpu_with_a_driver_but_failing_nvml_is_noted(
    opened: list[MeterSet], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nvml = FakeNvml()
    nvml.add_gpu(H100)
    nvml.init_error = NVML_ERROR_DRIVER_NOT_LOADED
    fake_driver(monkeypatch, nvml)
    meters = open_here(opened, tmp_path / "absent")
    (failed,) = [exc for exc in meters.unavailable if exc.meter == "nvidia"]
    assert isinstance(failed, MeterFailed)
    assert (
        "GPUs here are not measured: nvidia: NVML did not start: NVML error 9; fix: install or "
        "load the NVIDIA driver (`nvidia-smi` must work)"
    ) in meters.notes


def test_pynvml_imported_by_another_library_on_a_machine_without_gpu_is_not_noted(
    opened: list[MeterSet], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch imports pynvml on CPU-only machines too: NVML then cannot start, and no record
    should say that GPUs here are not measured."""
    nvml = FakeNvml()
    nvml.init_error = NVML_ERROR_DRIVER_NOT_LOADED
    monkeypatch.setitem(sys.modules, "pynvml", nvml.module())
    monkeypatch.setattr("impactlib.meters.driver.nvidia_driver_present", lambda: False)
    meters = open_here(opened, tmp_path / "absent")
    (missing,) = [exc for exc in meters.unavailable if exc.meter == "nvidia"]
    assert not isinstance(missing, MeterFailed) and "no NVIDIA driver" in missing.reason
    assert not any("GPU" in note for note in meters.notes)


def test_a_job_without_a_gpu_on_a_gpu_node_is_not_noted(
    opened: list[MeterSet], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nvml = FakeNvml()
    nvml.add_gpu(H100)
    fake_driver(monkeypatch, nvml)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    meters = open_here(opened, tmp_path / "absent")
    assert any(exc.meter == "nvidia" for exc in meters.unavailable)
    assert not any("GPUs here" in note for note in meters.notes)
    assert not any("amd" in note for note in meters.notes)  # amdsmi missing: nothing to say


def test_a_meter_that_crashes_while_opening_is_a_noted_failure(
    opened: list[MeterSet], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import impactlib.meters

    def _open_nvidia(config: object) -> NoReturn:  # a driver library that breaks its contract
        raise TypeError("'str' object cannot be interpreted as an integer")

    monkeypatch.setattr(impactlib.meters, "_open_nvidia", _open_nvidia)
    meters = open_here(opened, tmp_path / "absent")
    (failed,) = [exc for exc in meters.unavailable if exc.meter == "nvidia"]
    assert isinstance(failed, MeterFailed) and "failed to open (TypeError(" in failed.reason
    assert any(
        note.startswith("GPUs here are not measured: nvidia: failed") for note in meters.notes
    )
