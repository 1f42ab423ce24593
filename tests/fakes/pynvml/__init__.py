"""A scriptable stand-in for ``pynvml`` (the module of ``nvidia-ml-py``), with no GPU.

Each test builds its own :class:`FakeNvml`: a set of :class:`FakeGpu` on a fake clock.
``nvml.module()`` returns a real ``ModuleType`` carrying the NVML functions we call, bound
to that state, to pass as ``NvidiaMeter(nvml=...)``; nothing is global, so tests cannot
leak into each other. The functions follow the real signatures and error codes:
handles are opaque, ``NVMLError.value`` holds the code, power is mW, energy mJ, and
per-process samples carry ``pid``/``timeStamp`` (µs)/``smUtil``.

Time only moves when the test says so: ``nvml.advance(seconds)`` adds ``power × dt`` to
every GPU's energy counter and records one utilisation sample per running process.

MIG is modelled as NVML shows it (NVML API reference, "Multi Instance GPU Management"): a GPU
with instances (:class:`FakeMig`) is in MIG mode; its instances are MIG device handles
(``nvmlDeviceGetMigDeviceHandleByIndex``) with their own UUID, GPU/compute instance ids,
attributes (``multiprocessorCount``, ``memorySizeMB``) and running processes, but no power,
energy, utilisation rates or per-process samples (``NOT_SUPPORTED``): only the parent GPU
has an energy counter. Their activity is read through GPM (``nvmlGpmMigSampleGet`` on
Hopper and newer), whose ``SM_UTIL`` between two samples is the share of the instance's
SMs busy: ``advance`` accumulates each instance's ``sm_util`` for it.
"""

from __future__ import annotations

import types
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_UNKNOWN = 999

NVML_DEVICE_ARCH_KEPLER = 2
NVML_DEVICE_ARCH_MAXWELL = 3
NVML_DEVICE_ARCH_PASCAL = 4
NVML_DEVICE_ARCH_VOLTA = 5
NVML_DEVICE_ARCH_TURING = 6
NVML_DEVICE_ARCH_AMPERE = 7
NVML_DEVICE_ARCH_ADA = 8
NVML_DEVICE_ARCH_HOPPER = 9
NVML_DEVICE_ARCH_BLACKWELL = 10

NVML_DEVICE_MIG_DISABLE = 0
NVML_DEVICE_MIG_ENABLE = 1
NVML_GPU_INSTANCE_PROFILE_7_SLICE = 0x4
NVML_GPM_METRIC_SM_UTIL = 2
NVML_GPM_METRICS_GET_VERSION = 1

_CONSTANTS = {name: value for name, value in dict(globals()).items() if name.startswith("NVML_")}


class NVMLError(Exception):
    """Same shape as pynvml's: the code in ``value``."""

    def __init__(self, value: int) -> None:
        self.value = value
        super().__init__(f"NVML error {value}")


@dataclass
class FakeMig:
    """One MIG instance of a GPU (a compute instance filling its GPU instance)."""

    uuid: str  # "MIG-<uuid>" (R470+ form)
    gpu_instance: int
    compute_instance: int
    profile: str = "3g.40gb"  # what NVML's device name ends with
    sms: int = 42  # multiprocessorCount (A100: 14 per slice)
    memory_mb: int = 40_192
    processes: set[int] = field(default_factory=set)  # host PIDs holding a context on it
    sm_util: float = 0.0  # percent of its SMs busy while time passes (GPM SM_UTIL)
    permitted: bool = True  # False: another container's instance (NO_PERMISSION)
    sm_busy_s: float = 0.0  # accumulated by advance(): what GPM samples read


@dataclass
class FakeGpu:
    """One GPU: identity, architecture and the state its counters are read from."""

    uuid: str
    name: str = "NVIDIA H100 80GB HBM3"
    pci_bus_id: str = "00000000:01:00.0"
    arch: int = NVML_DEVICE_ARCH_HOPPER
    power_w: float = 100.0
    energy_mj: float = 0.0
    permitted: bool = True
    energy_supported: bool = True  # False: GetTotalEnergyConsumption -> NOT_SUPPORTED
    process_util_supported: bool = True
    processes: dict[int, float] = field(default_factory=dict)  # pid -> smUtil while running
    samples: list[tuple[int, int, int]] = field(default_factory=list)  # (pid, t_us, smUtil)
    migs: list[FakeMig] = field(default_factory=list)  # any: MIG mode is on
    mig_sms: int = 98  # SMs of the full-GPU MIG profile (7g; A100 40GB: 98 of its 108)
    gpm_supported: bool = True  # GPM (Hopper and newer): per-instance SM utilisation
    max_mig_devices: int = 7
    minor: int | None = None  # /dev/nvidia<minor>; None: its NVML index

    def reset_energy(self) -> None:
        """What a driver reload does to the 64-bit counter."""
        self.energy_mj = 0.0


@dataclass(frozen=True)
class _Handle:
    gpu: FakeGpu
    mig: FakeMig | None = None


@dataclass
class _Pci:
    busId: str  # noqa: N815 - NVML's field name
    busIdLegacy: str  # noqa: N815


@dataclass
class _Process:
    pid: int
    usedGpuMemory: int | None  # noqa: N815


@dataclass
class _Attributes:
    multiprocessorCount: int  # noqa: N815 - NVML's field names
    gpuInstanceSliceCount: int  # noqa: N815
    computeInstanceSliceCount: int  # noqa: N815
    memorySizeMB: int  # noqa: N815
    sharedCopyEngineCount: int = 0  # noqa: N815
    sharedDecoderCount: int = 0  # noqa: N815
    sharedEncoderCount: int = 0  # noqa: N815
    sharedJpegCount: int = 0  # noqa: N815
    sharedOfaCount: int = 0  # noqa: N815


@dataclass
class _ProfileInfo:
    id: int
    sliceCount: int  # noqa: N815
    multiprocessorCount: int  # noqa: N815
    memorySizeMB: int  # noqa: N815


@dataclass
class _GpmSupport:
    version: int
    isSupportedDevice: int  # noqa: N815


@dataclass
class _GpmSample:
    """What a GPM sample holds here: when, and the instance's accumulated SM-busy time."""

    taken_s: float | None = None
    sm_busy_s: float = 0.0
    freed: bool = False


@dataclass
class _GpmMetric:
    metricId: int = 0  # noqa: N815
    nvmlReturn: int = NVML_SUCCESS  # noqa: N815
    value: float = 0.0


class _GpmMetricsGet:
    """pynvml's ``c_nvmlGpmMetricsGet_t``: filled in by the caller, values by NVML."""

    def __init__(self) -> None:
        self.version = 0
        self.numMetrics = 0  # noqa: N815
        self.sample1: _GpmSample | None = None
        self.sample2: _GpmSample | None = None
        self.metrics = [_GpmMetric() for _ in range(8)]


@dataclass
class _Sample:
    pid: int
    timeStamp: int  # noqa: N815
    smUtil: int  # noqa: N815
    memUtil: int = 0  # noqa: N815
    encUtil: int = 0  # noqa: N815
    decUtil: int = 0  # noqa: N815


class FakeNvml:
    """The state behind one fake ``pynvml`` module.

    ``gpus`` are in NVML enumeration order (which need not be PCI order). ``fail(name,
    code, uuid=None, times=1)`` makes the next calls of one function raise ``NVMLError``;
    ``calls`` counts every call, so tests can check how much a meter asks of the driver.
    """

    def __init__(self, gpus: list[FakeGpu] | None = None, *, start_s: float = 1000.0) -> None:
        self.gpus: list[FakeGpu] = list(gpus or [])
        self.now_s = start_s
        self.init_error: int | None = None
        self.initialized = 0
        self.calls: Counter[str] = Counter()
        self._failures: list[list[Any]] = []  # [function, code, uuid or None, times left]

    # --- scripting -------------------------------------------------------------------------

    def add_gpu(self, uuid: str, **kwargs: Any) -> FakeGpu:
        """Append a GPU (the next NVML index)."""
        gpu = FakeGpu(uuid=uuid, **kwargs)
        self.gpus.append(gpu)
        return gpu

    def clock(self) -> float:
        """The fake monotonic clock, for ``NvidiaMeter(clock=...)``."""
        return self.now_s

    def advance(self, seconds: float) -> None:
        """Let time pass at each GPU's current power; running processes leave samples."""
        self.now_s += seconds
        stamp = round(self.now_s * 1e6)
        for gpu in self.gpus:
            gpu.energy_mj += gpu.power_w * seconds * 1e3
            for pid, sm_util in gpu.processes.items():
                gpu.samples.append((pid, stamp, round(sm_util)))
            for mig in gpu.migs:
                mig.sm_busy_s += mig.sm_util / 100 * seconds

    def fail(self, function: str, code: int, *, uuid: str | None = None, times: int = 1) -> None:
        """Make ``function`` raise ``NVMLError(code)`` the next ``times`` calls (on ``uuid``)."""
        self._failures.append([function, code, uuid, times])

    def gpu(self, uuid: str) -> FakeGpu:
        """The GPU with this UUID."""
        return next(g for g in self.gpus if g.uuid == uuid)

    # --- the module ------------------------------------------------------------------------

    def module(self, name: str = "pynvml") -> types.ModuleType:
        """A module object exposing the NVML API bound to this state."""
        module = types.ModuleType(name, "fake pynvml (tests/fakes/pynvml)")
        for const, value in _CONSTANTS.items():
            setattr(module, const, value)
        module.NVMLError = NVMLError  # type: ignore[attr-defined]
        module.c_nvmlGpmMetricsGet_t = _GpmMetricsGet  # type: ignore[attr-defined]
        module.fake = self  # type: ignore[attr-defined]
        for attr in dir(self):
            if attr.startswith("nvml"):
                setattr(module, attr, self._wrap(attr, getattr(self, attr)))
        # nvidia-ml-py names the _v2 C call without the suffix; offer both spellings.
        module.nvmlDeviceGetHandleByPciBusId_v2 = module.nvmlDeviceGetHandleByPciBusId  # type: ignore[attr-defined]
        module.nvmlDeviceGetCount_v2 = module.nvmlDeviceGetCount  # type: ignore[attr-defined]
        return module

    def _wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            self.calls[name] += 1
            if name not in ("nvmlInit", "nvmlInitWithFlags") and not self.initialized:
                raise NVMLError(NVML_ERROR_UNINITIALIZED)
            handle = args[0] if args and isinstance(args[0], _Handle) else None
            for failure in self._failures:
                target, code, uuid, times = failure
                if target != name or times <= 0:
                    continue
                if uuid is not None and (
                    handle is None or uuid not in (handle.gpu.uuid, handle.mig and handle.mig.uuid)
                ):
                    continue
                failure[3] -= 1
                raise NVMLError(code)
            return function(*args)

        call.__name__ = name
        return call

    # --- NVML API (names as in pynvml) -----------------------------------------------------

    def nvmlInit(self) -> None:  # noqa: N802
        if self.init_error is not None:
            raise NVMLError(self.init_error)
        self.initialized += 1

    def nvmlShutdown(self) -> None:  # noqa: N802
        self.initialized = max(0, self.initialized - 1)

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        # Under device cgroups the count includes GPUs the caller may not open.
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> _Handle:  # noqa: N802
        if not 0 <= index < len(self.gpus):
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return self._permitted(self.gpus[index])

    def nvmlDeviceGetHandleByUUID(self, uuid: str | bytes) -> _Handle:  # noqa: N802
        text = uuid.decode() if isinstance(uuid, bytes) else uuid
        for gpu in self.gpus:
            if gpu.uuid == text:
                return self._permitted(gpu)
            for mig in gpu.migs:
                if mig.uuid == text:
                    return _Handle(self._permitted(gpu).gpu, mig)
        raise NVMLError(NVML_ERROR_NOT_FOUND)

    def nvmlDeviceGetHandleByPciBusId(self, bus_id: str | bytes) -> _Handle:  # noqa: N802
        text = (bus_id.decode() if isinstance(bus_id, bytes) else bus_id).upper()
        for gpu in self.gpus:
            if gpu.pci_bus_id.upper() == text:
                return self._permitted(gpu)
        raise NVMLError(NVML_ERROR_NOT_FOUND)

    def nvmlDeviceGetDeviceHandleFromMigDeviceHandle(self, handle: _Handle) -> _Handle:  # noqa: N802
        if handle.mig is None:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return _Handle(handle.gpu)

    def nvmlDeviceGetMigMode(self, handle: _Handle) -> list[int]:  # noqa: N802
        if handle.mig is not None or handle.gpu.arch < NVML_DEVICE_ARCH_AMPERE:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        mode = NVML_DEVICE_MIG_ENABLE if handle.gpu.migs else NVML_DEVICE_MIG_DISABLE
        return [mode, mode]  # [current, pending]

    def nvmlDeviceIsMigDeviceHandle(self, handle: _Handle) -> int:  # noqa: N802
        return int(handle.mig is not None)

    def nvmlDeviceGetMaxMigDeviceCount(self, handle: _Handle) -> int:  # noqa: N802
        gpu = handle.gpu
        return gpu.max_mig_devices if gpu.migs and handle.mig is None else 0

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle: _Handle, index: int) -> _Handle:  # noqa: N802
        if handle.mig is not None or not handle.gpu.migs:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        if not 0 <= index < len(handle.gpu.migs):
            raise NVMLError(NVML_ERROR_NOT_FOUND)  # no compute instance in that slot
        mig = handle.gpu.migs[index]
        if not mig.permitted:
            raise NVMLError(NVML_ERROR_NO_PERMISSION)
        return _Handle(handle.gpu, mig)

    def nvmlDeviceGetGpuInstanceId(self, handle: _Handle) -> int:  # noqa: N802
        if handle.mig is None:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return handle.mig.gpu_instance

    def nvmlDeviceGetComputeInstanceId(self, handle: _Handle) -> int:  # noqa: N802
        if handle.mig is None:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return handle.mig.compute_instance

    def nvmlDeviceGetAttributes(self, handle: _Handle) -> _Attributes:  # noqa: N802
        mig = handle.mig
        if mig is None:  # "This API currently only supports MIG device handles."
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        slices = int(mig.profile.split("g.", 1)[0])
        return _Attributes(mig.sms, slices, slices, mig.memory_mb)

    def nvmlDeviceGetGpuInstanceProfileInfo(  # noqa: N802
        self, handle: _Handle, profile: int, version: int = 2
    ) -> _ProfileInfo:
        if handle.mig is not None or handle.gpu.arch < NVML_DEVICE_ARCH_AMPERE:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        if profile != NVML_GPU_INSTANCE_PROFILE_7_SLICE:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)  # only the full-GPU profile is modelled
        return _ProfileInfo(profile, 7, handle.gpu.mig_sms, 81_920)

    # --- GPM (Hopper and newer) ------------------------------------------------------------

    def nvmlGpmQueryDeviceSupport(self, handle: _Handle) -> _GpmSupport:  # noqa: N802
        gpu = handle.gpu
        return _GpmSupport(1, int(gpu.gpm_supported and gpu.arch >= NVML_DEVICE_ARCH_HOPPER))

    def nvmlGpmSampleAlloc(self) -> _GpmSample:  # noqa: N802
        return _GpmSample()

    def nvmlGpmSampleFree(self, sample: _GpmSample) -> None:  # noqa: N802
        sample.freed = True

    def nvmlGpmMigSampleGet(  # noqa: N802
        self, handle: _Handle, gpu_instance: int, sample: _GpmSample
    ) -> _GpmSample:
        gpu = handle.gpu
        if not (gpu.gpm_supported and gpu.arch >= NVML_DEVICE_ARCH_HOPPER):
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        mig = next((m for m in gpu.migs if m.gpu_instance == gpu_instance), None)
        if mig is None or sample.freed:
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        if not mig.permitted:
            raise NVMLError(NVML_ERROR_NO_PERMISSION)
        sample.taken_s, sample.sm_busy_s = self.now_s, mig.sm_busy_s
        return sample

    def nvmlGpmMetricsGet(self, get: _GpmMetricsGet) -> _GpmMetricsGet:  # noqa: N802
        first, second = get.sample1, get.sample2
        if (
            get.version != NVML_GPM_METRICS_GET_VERSION
            or first is None
            or second is None
            or first.taken_s is None
            or second.taken_s is None
        ):
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        span = second.taken_s - first.taken_s
        for metric in get.metrics[: get.numMetrics]:
            if metric.metricId != NVML_GPM_METRIC_SM_UTIL or span <= 0:
                metric.nvmlReturn, metric.value = NVML_ERROR_NOT_SUPPORTED, 0.0
                continue
            metric.nvmlReturn = NVML_SUCCESS
            metric.value = 100 * (second.sm_busy_s - first.sm_busy_s) / span
        return get

    def nvmlDeviceGetUUID(self, handle: _Handle) -> str:  # noqa: N802
        return handle.mig.uuid if handle.mig else handle.gpu.uuid

    def nvmlDeviceGetMinorNumber(self, handle: _Handle) -> int:  # noqa: N802
        gpu = handle.gpu
        return self.gpus.index(gpu) if gpu.minor is None else gpu.minor

    def nvmlDeviceGetName(self, handle: _Handle) -> str:  # noqa: N802
        if handle.mig is not None:
            return f"{handle.gpu.name} MIG {handle.mig.profile}"
        return handle.gpu.name

    def nvmlDeviceGetPciInfo(self, handle: _Handle) -> _Pci:  # noqa: N802
        bus = handle.gpu.pci_bus_id
        return _Pci(busId=bus, busIdLegacy=bus[4:])

    def nvmlDeviceGetArchitecture(self, handle: _Handle) -> int:  # noqa: N802
        return handle.gpu.arch

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: _Handle) -> int:  # noqa: N802
        gpu = handle.gpu
        if handle.mig is not None or gpu.arch < NVML_DEVICE_ARCH_VOLTA:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        if not gpu.energy_supported:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return int(gpu.energy_mj)

    def nvmlDeviceGetPowerUsage(self, handle: _Handle) -> int:  # noqa: N802
        if handle.mig is not None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)  # "NVML returns N/A for MIG power"
        return round(handle.gpu.power_w * 1e3)

    def nvmlDeviceGetComputeRunningProcesses(self, handle: _Handle) -> list[_Process]:  # noqa: N802
        if handle.mig is not None:
            return [_Process(pid, 1 << 30) for pid in sorted(handle.mig.processes)]
        if handle.gpu.migs:  # the parent of MIG instances lists those of every instance
            return [_Process(pid, 1 << 30) for m in handle.gpu.migs for pid in sorted(m.processes)]
        return [_Process(pid, 1 << 30) for pid in handle.gpu.processes]

    def nvmlDeviceGetProcessUtilization(  # noqa: N802
        self, handle: _Handle, last_seen_us: int
    ) -> list[_Sample]:
        gpu = handle.gpu
        if not gpu.process_util_supported or gpu.migs:  # none on MIG devices or their parent
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        fresh = [_Sample(pid, t, sm) for pid, t, sm in gpu.samples if t > last_seen_us]
        if not fresh:
            raise NVMLError(NVML_ERROR_NOT_FOUND)
        return fresh

    def _permitted(self, gpu: FakeGpu) -> _Handle:
        if not gpu.permitted:
            raise NVMLError(NVML_ERROR_NO_PERMISSION)
        return _Handle(gpu)


@pytest.fixture
def fake_nvml() -> FakeNvml:
    """A fresh fake with no GPU; add them with ``fake_nvml.add_gpu(...)``.

    Other test modules get it with ``from fakes.pynvml import fake_nvml  # noqa: F401``
    and pass ``fake_nvml.module()`` as ``NvidiaMeter(nvml=..., clock=fake_nvml.clock)``.
    """
    return FakeNvml()
