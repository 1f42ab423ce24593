"""What the GPU meters (``nvidia.py``, ``amd.py``) share: devices keyed by UUID, read under
one lock, failures counted per device, the vendor library started and shut down once.

A vendor module only says how to start its library, which devices to measure and how to
read one of them; it turns its library's exceptions into :class:`DeviceError` in one place
(its ``_call``), so nothing here or in its own logic compares vendor error codes.
"""

from __future__ import annotations

import contextlib
import threading
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ..errors import MeterFailed
from .base import CounterAccumulator, Domain, Meter, counter_diagnostics


class DeviceError(Exception):
    """A vendor library call that failed, already translated by the meter that made it.

    ``not_ours``: the device belongs to another job or container (NVML's
    ``NO_PERMISSION`` under a device cgroup), which is not a failure.
    """

    def __init__(self, detail: str, *, not_ours: bool = False) -> None:
        super().__init__(detail)
        self.not_ours = not_ours


@dataclass
class GpuDevice:
    """A measured GPU: its domain, product name, energy counter and failed reads."""

    domain: Domain
    name: str
    counter: CounterAccumulator = field(default_factory=CounterAccumulator)
    failed_reads: int = 0

    @property
    def label(self) -> str:
        """How diagnostics name it: domain and product (``gpu:GPU-8932… (NVIDIA H100)``)."""
        return f"{self.domain.id} ({self.name})"


G = TypeVar("G", bound=GpuDevice)


class GpuMeter(Meter, Generic[G]):
    """Cumulative energy of the GPUs of one vendor library.

    Subclasses set ``library`` (named in messages) and implement :meth:`_read` and
    :meth:`_shutdown`; they fill ``_gpus`` inside :meth:`_setup_or_close`. ``skipped``
    lists devices found but not measured, ``warnings`` what was assumed: both are
    plain sentences and part of :meth:`diagnostics`.
    """

    library = "the vendor library"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._gpus: list[G] = []
        self._started = False
        self.skipped: list[str] = []
        self.warnings: list[str] = []

    def _setup_or_close(self, setup: Callable[[], None], fix: str) -> None:
        """Run ``setup`` right after the library started; shut it down again if that fails
        or measures no GPU, so a meter that could not be opened holds nothing."""
        self._started = True
        try:
            setup()
        except DeviceError as exc:
            self.close()
            raise MeterFailed(self.name, f"{self.library} failed listing GPUs: {exc}", fix) from exc
        except BaseException:
            self.close()
            raise
        if not self._gpus:
            self.close()
            raise MeterFailed(
                self.name, "no GPU found here reports energy or power: " + "; ".join(self.skipped)
            )

    @abstractmethod
    def _read(self, gpu: G) -> float:
        """Joules of ``gpu`` since opening (raises :class:`DeviceError`)."""

    @abstractmethod
    def _shutdown(self) -> None:
        """Release the vendor library (called once, under the lock)."""

    def domains(self) -> Sequence[Domain]:
        """One ``gpu:<UUID>`` domain per measured GPU."""
        return [gpu.domain for gpu in self._gpus]

    def read_energy_j(self) -> Mapping[str, float]:
        """Joules per GPU since opening; a GPU whose read fails is left out this time."""
        energy: dict[str, float] = {}
        with self._lock:
            for gpu in self._gpus:
                try:
                    energy[gpu.domain.id] = self._read(gpu)
                except DeviceError:
                    gpu.failed_reads += 1
        return energy

    @property
    def gaps(self) -> int:
        """Failed reads so far, over all GPUs."""
        return sum(gpu.failed_reads for gpu in self._gpus)

    @property
    def resets(self) -> int:
        """Energy-counter resets seen (driver reloads); each lost one interval."""
        return sum(gpu.counter.resets for gpu in self._gpus)

    def device_names(self) -> Mapping[str, str]:
        """Product name per GPU domain (for reports and the embodied-carbon lookup)."""
        return {gpu.domain.id: gpu.name for gpu in self._gpus}

    def diagnostics(self) -> list[str]:
        """Devices not measured, assumptions made, then what happened to each GPU's readings."""
        lines = [*self.skipped, *self.warnings]
        with self._lock:
            for gpu in self._gpus:
                lines.extend(self._reading_diagnostics(gpu))
        return lines

    def _reading_diagnostics(self, gpu: G) -> list[str]:
        """Lines about one GPU's readings (its energy counter, by default)."""
        return counter_diagnostics(
            gpu.label, gpu.counter, gpu.failed_reads, "the driver was reloaded or the GPU reset"
        )

    def close(self) -> None:
        """Release the vendor library once, however often this is called."""
        with self._lock:
            if self._started:
                self._started = False
                with contextlib.suppress(Exception):  # closing must not fail
                    self._shutdown()
