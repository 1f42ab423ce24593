"""The GPU meters' shared base, on a scripted vendor: opening releases the library on every
failure, reads leave a failing GPU out and count it on that GPU, closing happens once.

The real vendors (``test_nvidia.py``, ``test_amd.py``) check the same through their fakes.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from impactlib.errors import MeterFailed, MeterUnavailable
from impactlib.meters.base import Domain
from impactlib.meters.gpu import DeviceError, GpuDevice, GpuMeter


def device(uuid: str, name: str = "Scripted GPU") -> GpuDevice:
    return GpuDevice(Domain(f"gpu:{uuid}", "gpu", "nvml-energy", "device", "measured"), name)


class ScriptedMeter(GpuMeter[GpuDevice]):
    """A vendor whose devices, readings and failures the test sets."""

    name = "scripted"
    library = "scriptlib"

    def __init__(self, setup: Callable[[ScriptedMeter], None]) -> None:
        super().__init__()
        self.raw: dict[str, float] = {}  # domain id -> raw counter; absent: the read fails
        self.shutdowns = 0
        self._setup_or_close(lambda: setup(self), "reload scriptlib")

    def _read(self, gpu: GpuDevice) -> float:
        if gpu.domain.id not in self.raw:
            raise DeviceError("scriptlib: device lost")
        return gpu.counter.update(self.raw[gpu.domain.id])

    def _shutdown(self) -> None:
        self.shutdowns += 1
        raise RuntimeError("a library that fails while shutting down")


def two_gpus(meter: ScriptedMeter) -> None:
    meter._gpus += [device("A", "Alpha"), device("B", "Beta")]
    meter.warnings.append("an assumption was made")


def test_reads_leave_a_failing_gpu_out_and_count_it_there() -> None:
    meter = ScriptedMeter(two_gpus)
    meter.raw = {"gpu:A": 10.0, "gpu:B": 5.0}
    assert meter.read_energy_j() == {"gpu:A": 0.0, "gpu:B": 0.0}
    meter.raw = {"gpu:A": 12.0}
    assert meter.read_energy_j() == {"gpu:A": 2.0}
    meter.raw = {"gpu:A": 1.0, "gpu:B": 9.0}  # A went back: a reset
    assert meter.read_energy_j() == {"gpu:A": 2.0, "gpu:B": 4.0}
    assert (meter.gaps, meter.resets) == (1, 1)
    assert meter.device_names() == {"gpu:A": "Alpha", "gpu:B": "Beta"}
    lines = meter.diagnostics()
    assert lines[0] == "an assumption was made"
    assert lines[1].startswith("gpu:A (Alpha): the energy counter went backwards once")
    assert lines[2].startswith("gpu:B (Beta): 1 reading failed")
    assert len(lines) == 3


def test_close_releases_the_library_once_and_never_raises() -> None:
    meter = ScriptedMeter(two_gpus)
    meter.close()
    meter.close()
    assert meter.shutdowns == 1


def test_a_library_error_while_listing_is_a_failure_and_releases_it() -> None:
    opened: list[ScriptedMeter] = []

    def broken(meter: ScriptedMeter) -> None:
        opened.append(meter)
        raise DeviceError("scriptlib: bus error")

    with pytest.raises(MeterFailed) as caught:
        ScriptedMeter(broken)
    assert caught.value.reason == "scriptlib failed listing GPUs: scriptlib: bus error"
    assert caught.value.fix == "reload scriptlib"
    assert opened[0].shutdowns == 1


def test_gpus_found_but_none_measurable_is_a_failure() -> None:
    opened: list[ScriptedMeter] = []

    def unreadable(meter: ScriptedMeter) -> None:
        opened.append(meter)
        meter.skipped.append("GPU 0 not measured: no counter")

    with pytest.raises(MeterFailed, match="GPU 0 not measured: no counter"):
        ScriptedMeter(unreadable)
    assert opened[0].shutdowns == 1


def test_a_setup_that_finds_nothing_of_ours_keeps_its_reason() -> None:
    opened: list[ScriptedMeter] = []

    def not_ours(meter: ScriptedMeter) -> None:
        opened.append(meter)
        raise MeterUnavailable("scripted", "no GPU is allocated to this job")

    with pytest.raises(MeterUnavailable) as caught:
        ScriptedMeter(not_ours)
    assert not isinstance(caught.value, MeterFailed)
    assert opened[0].shutdowns == 1
