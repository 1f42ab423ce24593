"""A tiny scriptable stand-in for ROCm's ``amdsmi`` module.

``FakeAmdSmi().module()`` returns a module with the calls :class:`AmdMeter` makes. Each GPU
holds an accumulator of counts; ``legacy=True`` answers with the pre-6.2.1 ``power`` key.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any


class AmdSmiException(Exception):
    """Base class, as in amdsmi."""


class AmdSmiLibraryException(AmdSmiException):
    """Carries ``err_code`` like the real one."""

    def __init__(self, err_code: int) -> None:
        self.err_code = err_code
        super().__init__(f"amdsmi error {err_code}")


@dataclass
class FakeAmdGpu:
    """One GPU: identity and its raw energy accumulator."""

    uuid: str
    market_name: str = "AMD Instinct MI300X"
    accumulator: int = 0
    resolution_uj: float = 15.3
    legacy: bool = False  # answer with "power" instead of "energy_accumulator"
    supported: bool = True  # False: energy count raises (e.g. on a VM guest)
    fail_reads: int = 0  # the next N energy reads raise
    malformed_reads: int = 0  # the next N energy reads answer without the accumulator


class FakeAmdSmi:
    """State behind one fake module; ``module()`` exposes it."""

    def __init__(self, gpus: list[FakeAmdGpu] | None = None) -> None:
        self.gpus = list(gpus or [])
        self.init_error: Exception | None = None
        self.initialized = False

    def module(self) -> types.ModuleType:
        """A module object with the amdsmi functions bound to this state."""
        module = types.ModuleType("amdsmi", "fake amdsmi (tests/fakes/amdsmi)")
        module.AmdSmiException = AmdSmiException  # type: ignore[attr-defined]
        module.AmdSmiLibraryException = AmdSmiLibraryException  # type: ignore[attr-defined]
        for attr in dir(self):
            if attr.startswith("amdsmi_"):
                setattr(module, attr, getattr(self, attr))
        return module

    def amdsmi_init(self, *flags: Any) -> None:
        if self.init_error is not None:
            raise self.init_error
        self.initialized = True

    def amdsmi_shut_down(self) -> None:
        self.initialized = False

    def amdsmi_get_processor_handles(self) -> list[FakeAmdGpu]:
        return list(self.gpus)

    def amdsmi_get_gpu_device_uuid(self, handle: FakeAmdGpu) -> str:
        return handle.uuid

    def amdsmi_get_gpu_asic_info(self, handle: FakeAmdGpu) -> dict[str, Any]:
        return {"market_name": handle.market_name, "vendor_id": "0x1002"}

    def amdsmi_get_energy_count(self, handle: FakeAmdGpu) -> dict[str, Any]:
        if not handle.supported:
            raise AmdSmiLibraryException(2)  # AMDSMI_STATUS_NOT_SUPPORTED
        if handle.fail_reads:
            handle.fail_reads -= 1
            raise AmdSmiLibraryException(10)
        if handle.malformed_reads:
            handle.malformed_reads -= 1
            return {"counter_resolution": handle.resolution_uj, "timestamp": 0}
        key = "power" if handle.legacy else "energy_accumulator"
        return {key: handle.accumulator, "counter_resolution": handle.resolution_uj, "timestamp": 0}
