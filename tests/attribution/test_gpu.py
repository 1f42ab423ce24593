"""GPU energy through the whole tracker: a device used only by us, and a shared device."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from fakes.pynvml import FakeNvml
from gpurun import tracked_on

import impactlib

OTHER_USER_PID = 999_999  # a process of someone else's, not in our tree


@pytest.fixture
def gpus(monkeypatch: pytest.MonkeyPatch) -> FakeNvml:
    nvml = FakeNvml()
    nvml.add_gpu(
        "GPU-aaaaaaaa-0000-0000-0000-000000000001", pci_bus_id="00000000:01:00.0", power_w=200.0
    )
    nvml.add_gpu(
        "GPU-bbbbbbbb-0000-0000-0000-000000000002", pci_bus_id="00000000:02:00.0", power_w=60.0
    )
    monkeypatch.setitem(sys.modules, "pynvml", nvml.module())
    return nvml


def _gpu_components(fp: impactlib.Footprint) -> dict[str, impactlib.ComponentEnergy]:
    return {c.domain.split(":", 1)[1][:12]: c for c in fp.components if c.component == "gpu"}


def test_exclusive_gpu_is_ours_idle_gpu_is_not(gpus: FakeNvml, tmp_path: Path) -> None:
    gpus.gpu("GPU-aaaaaaaa-0000-0000-0000-000000000001").processes = {os.getpid(): 80}
    fp = tracked_on(gpus, tmp_path, 1.2)
    comps = _gpu_components(fp)
    ours, idle = comps["GPU-aaaaaaaa"], comps["GPU-bbbbbbbb"]
    assert ours.method == "nvml-energy" and ours.quality == "measured"
    assert ours.energy_j == pytest.approx(ours.domain_j, rel=1e-6) and ours.domain_j > 150
    assert idle.energy_j == 0.0 and idle.unattributed_j == pytest.approx(idle.domain_j)
    assert fp.gpu_hours * 3600 == pytest.approx(fp.duration_s, rel=0.2)


def test_shared_gpu_is_split_by_sm_samples(gpus: FakeNvml, tmp_path: Path) -> None:
    gpus.gpu("GPU-aaaaaaaa-0000-0000-0000-000000000001").processes = {
        os.getpid(): 60,
        OTHER_USER_PID: 30,
    }
    fp = tracked_on(gpus, tmp_path, 1.2)
    shared = _gpu_components(fp)["GPU-aaaaaaaa"]
    assert shared.quality == "attributed"
    assert shared.energy_j == pytest.approx(shared.domain_j * 60 / 90, rel=0.05)
    assert shared.energy_j + shared.unattributed_j == pytest.approx(shared.domain_j, rel=1e-6)


def test_cuda_visible_devices_limits_what_is_measured(
    gpus: FakeNvml, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-bbbbbbbb")
    fp = tracked_on(gpus, tmp_path, 0.3)
    assert list(_gpu_components(fp)) == ["GPU-bbbbbbbb"]
