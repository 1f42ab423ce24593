"""AMD GPU energy through ``amdsmi`` (ROCm), an optional dependency.

``amdsmi_get_energy_count`` returns an accumulator of counts and the energy of one count
(``counter_resolution``, in µJ; 15.3 on MI200/MI300). The accumulator was called ``power``
before amdsmi 6.2.1 and ``energy_accumulator`` since; both are accepted. It is 64-bit, so
a decrease is a driver reset, not a wrap. It is not supported on VM guests.

On MI250/MI250X only the even-numbered GCD of each package reports, and its figure covers
both dies; the odd one reads zero, so the sum over devices is still right.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from ..errors import MeterUnavailable
from ..units import UJ_PER_J
from .base import CounterAccumulator, Domain, Meter


@dataclass
class _Gpu:
    domain: Domain
    handle: Any
    name: str
    resolution_uj: float
    counter: CounterAccumulator = field(default_factory=CounterAccumulator)


class AmdMeter(Meter):
    """Cumulative energy of every AMD GPU amdsmi reports, keyed by UUID.

    ``amdsmi`` replaces the real module (tests pass a fake).
    """

    name = "amd"

    def __init__(self, amdsmi: ModuleType | None = None) -> None:
        self._smi = _import_amdsmi() if amdsmi is None else amdsmi
        self._error: type[BaseException] = getattr(self._smi, "AmdSmiException", Exception)
        self._lock = threading.Lock()
        self._gpus: list[_Gpu] = []
        self.gaps = 0
        self.skipped: list[str] = []
        try:
            self._smi.amdsmi_init()
        except Exception as exc:
            raise MeterUnavailable(
                "amd", f"amdsmi did not start: {exc}", "load the amdgpu driver (ROCm)"
            ) from exc
        self._open = True
        try:
            for handle in self._smi.amdsmi_get_processor_handles():
                gpu = self._open_gpu(handle)
                if gpu is not None:
                    self._gpus.append(gpu)
        except self._error as exc:
            self.close()
            raise MeterUnavailable("amd", f"amdsmi failed listing GPUs: {exc}") from exc
        except BaseException:
            self.close()
            raise
        if not self._gpus:
            detail = "; ".join(self.skipped) or "no AMD GPU found"
            self.close()
            raise MeterUnavailable("amd", f"no AMD GPU energy counter ({detail})")

    def _open_gpu(self, handle: Any) -> _Gpu | None:
        smi = self._smi
        try:
            uuid = str(smi.amdsmi_get_gpu_device_uuid(handle))
            count, resolution = _energy(smi.amdsmi_get_energy_count(handle))
        except (self._error, KeyError, TypeError, ValueError) as exc:
            self.skipped.append(f"{handle}: {exc}")
            return None
        try:
            name = str(smi.amdsmi_get_gpu_asic_info(handle).get("market_name", "AMD GPU"))
        except self._error:
            name = "AMD GPU"
        domain = Domain(
            id=f"gpu:{uuid}",
            component="gpu",
            method="amdsmi-energy",
            scope="device",
            quality="measured",
            note=f"amdsmi_get_energy_count, {resolution} µJ per count, {name}",
        )
        gpu = _Gpu(domain, handle, name, resolution)
        gpu.counter.update(count)
        return gpu

    def domains(self) -> Sequence[Domain]:
        """One ``gpu:<UUID>`` domain per AMD GPU with an energy counter."""
        return [gpu.domain for gpu in self._gpus]

    def read_energy_j(self) -> Mapping[str, float]:
        """Joules per GPU since opening; a GPU whose read fails is left out this time."""
        energy: dict[str, float] = {}
        with self._lock:
            for gpu in self._gpus:
                try:
                    count, _ = _energy(self._smi.amdsmi_get_energy_count(gpu.handle))
                except (self._error, KeyError, TypeError, ValueError):
                    self.gaps += 1
                    continue
                energy[gpu.domain.id] = gpu.counter.update(count) * gpu.resolution_uj / UJ_PER_J
        return energy

    def device_names(self) -> dict[str, str]:
        """Product name per GPU domain."""
        return {gpu.domain.id: gpu.name for gpu in self._gpus}

    def close(self) -> None:
        """Release amdsmi."""
        with self._lock:
            if getattr(self, "_open", False):
                self._open = False
                with contextlib.suppress(Exception):
                    self._smi.amdsmi_shut_down()


def _energy(answer: Mapping[str, Any]) -> tuple[int, float]:
    """(accumulator counts, µJ per count) from either generation of the answer."""
    key = "energy_accumulator" if "energy_accumulator" in answer else "power"
    return int(answer[key]), float(answer["counter_resolution"])


def _import_amdsmi() -> ModuleType:
    try:
        return importlib.import_module("amdsmi")
    except ImportError as exc:
        raise MeterUnavailable(
            "amd", "the amdsmi module is not installed", "pip install 'impactlib[amd]' (ROCm)"
        ) from exc
