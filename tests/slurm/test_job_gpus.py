"""The GPUs a SLURM job was given are the ones measured: ``SLURM_STEP_GPUS`` (else
``SLURM_JOB_GPUS``) are the node's device numbers, NVML's minor numbers, mapped to UUIDs.

``CUDA_VISIBLE_DEVICES`` cannot say it: inside a job it counts from 0 within the job's
device cgroup, so where NVML sees the whole node (no ``ConstrainDevices``), "0" is the
node's first GPU, another job's.
"""

from __future__ import annotations

import pytest
from fakes.pynvml import FakeNvml

from impactlib.errors import MeterUnavailable
from impactlib.meters.nvidia import NvidiaMeter

# A node whose NVML order is not its device numbering (NVML enumerates in PCI order).
NODE = {"GPU-aaaa": 2, "GPU-bbbb": 0, "GPU-cccc": 3, "GPU-dddd": 1}


@pytest.fixture
def node() -> FakeNvml:
    nvml = FakeNvml()
    for at, (uuid, minor) in enumerate(NODE.items()):
        nvml.add_gpu(uuid, minor=minor, pci_bus_id=f"00000000:{at + 1:02x}:00.0")
    return nvml


def _measured(nvml: FakeNvml) -> list[str]:
    meter = NvidiaMeter(nvml.module(), clock=nvml.clock)
    return [domain.id.removeprefix("gpu:") for domain in meter.domains()]


def test_the_job_s_gpus_are_chosen_by_device_number(
    node: FakeNvml, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLURM_JOB_GPUS", "1,3")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")  # the job's own numbering
    assert _measured(node) == ["GPU-dddd", "GPU-cccc"]


def test_a_step_s_gpus_win_over_the_job_s(node: FakeNvml, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_JOB_GPUS", "0,1,2,3")
    monkeypatch.setenv("SLURM_STEP_GPUS", "2")
    assert _measured(node) == ["GPU-aaaa"]


def test_outside_a_job_cuda_visible_devices_chooses(
    node: FakeNvml, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SLURM_JOB_GPUS", "SLURM_STEP_GPUS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-cccc")
    assert _measured(node) == ["GPU-cccc"]


def test_job_gpus_nvml_cannot_open_are_said(
    node: FakeNvml, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLURM_JOB_GPUS", "7")
    with pytest.raises(MeterUnavailable, match="device numbers 7.*SLURM_JOB_GPUS"):
        _measured(node)
