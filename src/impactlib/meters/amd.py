"""AMD GPU energy through ``amdsmi`` (ROCm), an optional dependency.

``amdsmi_get_energy_count`` returns an accumulator of counts and the energy of one count
(``counter_resolution``, in µJ; 15.3 on MI200/MI300). The accumulator was called ``power``
before amdsmi 6.2.1 and ``energy_accumulator`` since; both are accepted. It is 64-bit, so
a decrease is a driver reset, not a wrap. It is not supported on VM guests.

On MI250/MI250X only the even-numbered GCD of each package reports, and its figure covers
both dies; the odd one reads zero, so the sum over devices is still right.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar

from ..errors import MeterUnavailable
from ..footprint import Component, Extent, Method, Quality
from ..units import UJ_PER_J
from .base import Domain
from .gpu import DeviceError, GpuDevice, GpuMeter

_DRIVER_FIX = "load the amdgpu driver (ROCm)"

T = TypeVar("T")


@dataclass
class _Gpu(GpuDevice):
    """A measured GPU: its handle and the energy of one accumulator count."""

    handle: Any = None
    resolution_uj: float = 0.0


class AmdMeter(GpuMeter[_Gpu]):
    """Cumulative energy of every AMD GPU amdsmi reports, keyed by UUID.

    ``amdsmi`` replaces the real module (tests pass a fake).
    """

    name = "amd"
    library = "amdsmi"

    def __init__(self, amdsmi: ModuleType | None = None) -> None:
        super().__init__()
        self._smi = _import_amdsmi() if amdsmi is None else amdsmi
        self._error: type[BaseException] = getattr(self._smi, "AmdSmiException", Exception)
        try:
            self._smi.amdsmi_init()
        except Exception as exc:  # no amdgpu driver: most machines, not a failure
            raise MeterUnavailable("amd", f"amdsmi did not start: {exc}", _DRIVER_FIX) from exc
        self._setup_or_close(self._setup, _DRIVER_FIX)

    def _call(self, function: Callable[..., T], *args: Any) -> T:
        """Call amdsmi. Its errors become :class:`DeviceError` here and nowhere else."""
        try:
            return function(*args)
        except self._error as exc:
            raise DeviceError(f"amdsmi: {exc}") from exc

    def _setup(self) -> None:
        handles = self._call(self._smi.amdsmi_get_processor_handles)
        if not handles:
            raise MeterUnavailable("amd", "amdsmi started but found no AMD GPU")
        for index, handle in enumerate(handles):
            try:
                self._gpus.append(self._open_gpu(handle))
            except DeviceError as exc:
                self.skipped.append(f"AMD GPU {index} not measured: {exc}")

    def _open_gpu(self, handle: Any) -> _Gpu:
        smi = self._smi
        uuid = str(self._call(smi.amdsmi_get_gpu_device_uuid, handle))
        count, resolution = self._energy(handle)
        try:
            asic = self._call(smi.amdsmi_get_gpu_asic_info, handle)
            name = str(asic.get("market_name", "AMD GPU"))
        except DeviceError:
            name = "AMD GPU"
        domain = Domain(
            id=f"gpu:{uuid}",
            component=Component.GPU,
            method=Method.AMDSMI_ENERGY,
            extent=Extent.DEVICE,
            quality=Quality.MEASURED,
            note=f"amdsmi_get_energy_count, {resolution} µJ per count, {name}",
        )
        gpu = _Gpu(domain, name, handle=handle, resolution_uj=resolution)
        gpu.counter.update(count)
        return gpu

    def _energy(self, handle: Any) -> tuple[int, float]:
        """(accumulator counts, µJ per count) from either generation of the answer.

        The accumulator was called ``power`` before amdsmi 6.2.1 and
        ``energy_accumulator`` since; an answer with neither is a failed read.
        """
        answer: Mapping[str, Any] = self._call(self._smi.amdsmi_get_energy_count, handle)
        try:
            key = "energy_accumulator" if "energy_accumulator" in answer else "power"
            return int(answer[key]), float(answer["counter_resolution"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DeviceError(f"amdsmi: unexpected energy answer {answer!r}") from exc

    def _read(self, gpu: _Gpu) -> float:
        count, _ = self._energy(gpu.handle)
        return gpu.counter.update(count) * gpu.resolution_uj / UJ_PER_J

    def _shutdown(self) -> None:
        """Release amdsmi."""
        self._smi.amdsmi_shut_down()


def _import_amdsmi() -> ModuleType:
    try:
        return importlib.import_module("amdsmi")
    except ImportError as exc:
        raise MeterUnavailable(
            "amd", "the amdsmi module is not installed", "pip install 'impactlib[amd]' (ROCm)"
        ) from exc
