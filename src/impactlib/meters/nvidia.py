"""NVIDIA GPU energy through NVML (the ``pynvml`` module of ``nvidia-ml-py``).

Volta and newer GPUs keep a 64-bit energy counter in millijoules since the driver was
loaded (``nvmlDeviceGetTotalEnergyConsumption``); it is read whenever it exists, because a
counter loses nothing between reads. Older GPUs only report power, which is integrated
with the trapezoid rule on the meter's clock.

The devices measured are the ones *this process may use*: those named by
``CUDA_VISIBLE_DEVICES`` (in any of the forms CUDA accepts) among those NVML lets us open.
Under Slurm ``ConstrainDevices`` or a container's device cgroup, NVML still counts every
GPU of the node but refuses handles to the others with ``NVML_ERROR_NO_PERMISSION``: that
means "not ours", never an error. Every device is keyed by its UUID, because NVML's
enumeration order is not CUDA's and "has no guarantees of consistency between reboots"
(NVML API reference, ``nvmlDeviceGetHandleByIndex``).

Inside a SLURM job with GPUs, ``SLURM_STEP_GPUS`` (else ``SLURM_JOB_GPUS``) choose them
instead: they are the node's device numbers (``/dev/nvidia<N>``, NVML's minor numbers),
while ``CUDA_VISIBLE_DEVICES`` there counts from 0 within the job's device cgroup and names
other GPUs wherever NVML sees the whole node.

A GPU in MIG mode has no power or energy reading per instance: its whole counter is read,
and :meth:`NvidiaMeter.mig_devices` says how to split it (:mod:`.mig`): each instance's SMs
(``nvmlDeviceGetAttributes``, of MIG device handles only), the SMs of the full-GPU profile
(``nvmlDeviceGetGpuInstanceProfileInfo``, 7 slices), the instance's processes
(``nvmlDeviceGetComputeRunningProcesses`` on its handle) and its activity: GPM's ``SM_UTIL``
per GPU instance (``nvmlGpmMigSampleGet``, Hopper and newer), else whether a process runs
on it, because utilisation rates and per-process samples are ``NOT_SUPPORTED`` on MIG.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any, TypeVar

from ..errors import MeterFailed, MeterUnavailable
from ..footprint import Component, Extent, Method, Quality
from ..units import MJ_PER_J
from .base import Domain, plural
from .gpu import DeviceError, GpuDevice, GpuMeter
from .mig import MigActivity, MigDevice, MigInstance

_INSTALL_FIX = "pip install 'impactlib[nvidia]'"
_DRIVER_FIX = "install or load the NVIDIA driver (`nvidia-smi` must work)"
# pynvml's values, used only when a module (a stub, an old release) lacks the constants.
_NO_PERMISSION = 4
_ARCH_VOLTA = 5
_MIG_ENABLE = 1
_PROFILE_7_SLICE = 0x4  # the full-GPU GPU-instance profile
_GPM_SM_UTIL = 2
_GPM_GET_VERSION = 1
_SUCCESS = 0
_MIG_NOTE = "NVML has no per-MIG-instance power or energy, so the whole GPU is measured"
_MIG_SPLIT_NOTE = "MIG mode: split between its instances by their SMs and activity"

T = TypeVar("T")


@dataclass
class _Device:
    """One NVML device as enumerated: what identifies it and the handle to read it with."""

    index: int
    uuid: str
    pci_bus_id: str
    name: str
    handle: Any


@dataclass
class _Gpu(GpuDevice):
    """A measured GPU: its handle and integration state (counter in mJ, or power)."""

    handle: Any = None
    use_counter: bool = True
    power_j: float = 0.0
    last_power: tuple[float, float] | None = None  # (clock s, W)
    last_seen_us: int = 0  # newest per-process sample already counted
    uuid: str = ""
    mig: bool = False  # in MIG mode: split by mig_devices(), not by process samples
    mig_ids: tuple[str, ...] = ()  # the instances given to this process (_granted_migs)
    mig_sms: int | None = None  # SMs of the full-GPU MIG profile (None: unknown)
    gpm: bool = False  # GPM samples per GPU instance are supported
    gpm_samples: dict[int, Any] = field(default_factory=dict)  # GPU instance id -> last


class NvidiaMeter(GpuMeter[_Gpu]):
    """Cumulative energy of the NVIDIA GPUs visible to this process, keyed by UUID.

    It is opened where an NVIDIA driver is loaded (``open_meters`` checks first), so
    anything that keeps it from reading a GPU raises :class:`MeterFailed`, except that no
    GPU here is this process's (plain :class:`MeterUnavailable`).

    ``nvml`` replaces the ``pynvml`` module (tests pass a fake). ``visible_devices``
    replaces ``CUDA_VISIBLE_DEVICES`` (``None`` reads the environment, ``""`` means no GPU
    is visible, as for CUDA). ``clock`` times the power integration of pre-Volta GPUs.
    """

    name = "nvidia"
    library = "NVML"

    def __init__(
        self,
        nvml: ModuleType | None = None,
        *,
        visible_devices: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._nvml = _import_pynvml() if nvml is None else nvml
        self._clock = clock
        self._no_permission = int(getattr(self._nvml, "NVML_ERROR_NO_PERMISSION", _NO_PERMISSION))
        self._granted_migs: tuple[str, ...] = ()
        try:
            self._nvml.nvmlInit()
        except Exception as exc:  # NVMLError_LibraryNotFound, _DriverNotLoaded, OSError...
            from .driver import no_nvidia_driver, nvidia_driver_present

            # pynvml is often imported by other libraries (torch) on machines with no GPU:
            # there, NVML not starting is no failure, and no record should say it is.
            if not nvidia_driver_present():
                raise no_nvidia_driver() from exc
            raise MeterFailed("nvidia", f"NVML did not start: {exc}", _DRIVER_FIX) from exc
        self._setup_or_close(lambda: self._setup(visible_devices), _DRIVER_FIX)

    def _call(self, function: Callable[..., T], *args: Any) -> T:
        """Call NVML. Its errors become :class:`DeviceError` here and nowhere else."""
        try:
            return function(*args)
        except self._nvml.NVMLError as exc:
            code = getattr(exc, "value", None)
            raise DeviceError(f"NVML: {exc}", not_ours=code == self._no_permission) from exc

    def _setup(self, visible_devices: str | None) -> None:
        self._granted_migs = _granted_migs(visible_devices, os.environ)
        devices = self._enumerate()
        job_gpus = _job_gpus(os.environ) if visible_devices is None else None
        if job_gpus is not None:
            chosen = self._by_minor(devices, job_gpus)
        else:
            if visible_devices is None:
                visible_devices = os.environ.get("CUDA_VISIBLE_DEVICES")
            chosen = self._resolve(devices, visible_devices)
        if not chosen and job_gpus is not None:
            raise MeterUnavailable(
                "nvidia",
                f"the job's GPUs (device numbers {', '.join(map(str, job_gpus))}, from "
                "SLURM_STEP_GPUS/SLURM_JOB_GPUS) are none NVML lets this process open",
                "check the job's --gres and the node's NVIDIA driver",
            )
        if not chosen:
            if devices:
                where = f"CUDA_VISIBLE_DEVICES={visible_devices!r} names no GPU we may open"
            else:
                where = "NVML lets this process open no GPU"
            detail = f" ({'; '.join(self.skipped)})" if self.skipped else ""
            raise MeterUnavailable(
                "nvidia",
                where + detail,
                "run on a node with a GPU allocated to this job, or fix CUDA_VISIBLE_DEVICES",
            )
        for device, mig_ids in chosen:
            gpu = self._open_gpu(device, mig_ids)
            if gpu is not None:
                self._open_mig(gpu, mig_ids)
                self._gpus.append(gpu)

    # --- which devices -------------------------------------------------------------------------

    def _enumerate(self) -> list[_Device]:
        nvml = self._nvml
        devices = []
        for index in range(self._call(nvml.nvmlDeviceGetCount)):
            try:
                handle = self._call(nvml.nvmlDeviceGetHandleByIndex, index)
                uuid = _text(self._call(nvml.nvmlDeviceGetUUID, handle))
                bus_id = _text(self._call(nvml.nvmlDeviceGetPciInfo, handle).busId)
                name = _text(self._call(nvml.nvmlDeviceGetName, handle))
            except DeviceError as exc:
                if not exc.not_ours:  # a GPU of another job or container is not a failure
                    self.skipped.append(f"NVIDIA GPU at NVML index {index} not measured: {exc}")
                continue
            devices.append(_Device(index, uuid, bus_id, name, handle))
        return devices

    def _by_minor(
        self, devices: list[_Device], minors: tuple[int, ...]
    ) -> list[tuple[_Device, list[str]]]:
        """The devices whose NVML minor number SLURM gave the job, in SLURM's order."""
        by_minor: dict[int, _Device] = {}
        for device in devices:
            try:
                minor = self._call(self._nvml.nvmlDeviceGetMinorNumber, device.handle)
            except DeviceError as exc:
                self.skipped.append(f"NVIDIA GPU {device.uuid}: no minor number ({exc})")
                continue
            by_minor[int(minor)] = device
        return [(by_minor[m], []) for m in minors if m in by_minor]

    def _resolve(
        self, devices: list[_Device], visible: str | None
    ) -> list[tuple[_Device, list[str]]]:
        """The devices ``CUDA_VISIBLE_DEVICES`` names, each with the MIG ids that chose it.

        CUDA reads the list left to right and stops at the first entry it cannot resolve
        (later entries are ignored, not an error); this does the same.
        """
        if visible is None:
            return [(device, []) for device in devices]
        by_uuid = {device.uuid: device for device in devices}
        # Integers index CUDA's enumeration. With CUDA_DEVICE_ORDER=PCI_BUS_ID that is PCI
        # bus order, which NVML lets us rebuild; the default FASTEST_FIRST order ranks by
        # CUDA's own speed estimate, which NVML cannot see. On a node of identical GPUs the
        # two agree (ties fall back to PCI order); on a mixed node an integer may name the
        # wrong GPU unless CUDA_DEVICE_ORDER=PCI_BUS_ID is set or UUIDs are used.
        pci_order = sorted(devices, key=lambda device: _pci_key(device.pci_bus_id))
        chosen: dict[str, tuple[_Device, list[str]]] = {}
        for entry in (part.strip() for part in visible.split(",")):
            device, mig = self._lookup(entry, pci_order, by_uuid)
            if device is None:
                if entry:
                    self.skipped.append(
                        f"CUDA_VISIBLE_DEVICES entry {entry!r} names no GPU this process may "
                        "open; CUDA ignores it and every entry after it"
                    )
                break
            chosen.setdefault(device.uuid, (device, []))
            if mig:
                chosen[device.uuid][1].append(mig)
        if (
            any(entry.strip().isdigit() for entry in visible.split(","))
            and len({device.name for device in devices}) > 1
            and os.environ.get("CUDA_DEVICE_ORDER") != "PCI_BUS_ID"
        ):
            self.warnings.append(
                "this node has GPUs of different models and CUDA_VISIBLE_DEVICES numbers them, "
                "so the GPUs measured were taken in PCI bus order, which is CUDA's order only "
                "with CUDA_DEVICE_ORDER=PCI_BUS_ID; set it, or name the GPUs by UUID, to be "
                "sure the GPU measured is the GPU used"
            )
        return list(chosen.values())

    def _lookup(
        self, entry: str, pci_order: list[_Device], by_uuid: dict[str, _Device]
    ) -> tuple[_Device | None, str | None]:
        if entry.isdigit():
            index = int(entry)
            return (pci_order[index] if index < len(pci_order) else None), None
        if entry.startswith("MIG-"):
            return self._parent_of_mig(entry, by_uuid), entry
        if entry.startswith("GPU-"):
            if entry in by_uuid:
                return by_uuid[entry], None
            # CUDA accepts any unique prefix of a UUID (`GPU-8932f937`).
            matches = [device for uuid, device in by_uuid.items() if uuid.startswith(entry)]
            return (matches[0] if len(matches) == 1 else None), None
        return None, None

    def _parent_of_mig(self, entry: str, by_uuid: dict[str, _Device]) -> _Device | None:
        # Before driver R470 MIG devices were named MIG-GPU-<parent uuid>/<gi>/<ci>;
        # since then MIG-<uuid of the instance>, whose parent only NVML can tell.
        if entry.startswith("MIG-GPU-"):
            return by_uuid.get(entry[len("MIG-") :].split("/", 1)[0])
        nvml = self._nvml
        try:
            mig_handle = self._call(nvml.nvmlDeviceGetHandleByUUID, entry)
            parent = self._call(nvml.nvmlDeviceGetDeviceHandleFromMigDeviceHandle, mig_handle)
            return by_uuid.get(_text(self._call(nvml.nvmlDeviceGetUUID, parent)))
        except DeviceError:
            return None

    # --- how each device is read ---------------------------------------------------------------

    def _open_gpu(self, device: _Device, mig_ids: list[str]) -> _Gpu | None:
        nvml = self._nvml
        handle, name = device.handle, device.name
        try:
            arch: int | None = int(self._call(nvml.nvmlDeviceGetArchitecture, handle))
        except DeviceError:
            arch = None  # unknown: try the counter and let NOT_SUPPORTED decide
        volta = int(getattr(nvml, "NVML_DEVICE_ARCH_VOLTA", _ARCH_VOLTA))
        note = f"NVML index {device.index}, PCI {device.pci_bus_id}, {name}"
        if arch is None or arch >= volta:
            try:
                baseline = self._call(nvml.nvmlDeviceGetTotalEnergyConsumption, handle)
            except DeviceError:
                pass  # NOT_SUPPORTED (some boards, vGPU): fall back to power
            else:
                domain = _domain(device, Method.NVML_ENERGY, note, mig_ids)
                gpu = _Gpu(domain, name, handle=handle, uuid=device.uuid)
                gpu.counter.update(baseline)
                return gpu
        try:
            watts = self._call(nvml.nvmlDeviceGetPowerUsage, handle) / MJ_PER_J  # mW -> W
        except DeviceError as exc:
            self.skipped.append(
                f"NVIDIA GPU {device.uuid} ({name}) not measured: it reports neither "
                f"energy nor power ({exc})"
            )
            return None
        power_note = note + "; integrated nvmlDeviceGetPowerUsage (trapezoid rule)"
        domain = _domain(device, Method.NVML_POWER, power_note, mig_ids)
        return _Gpu(
            domain,
            name,
            handle=handle,
            use_counter=False,
            last_power=(self._clock(), watts),
            uuid=device.uuid,
        )

    def _open_mig(self, gpu: _Gpu, mig_ids: list[str]) -> None:
        """Find out whether ``gpu`` is in MIG mode, and what its instances are split by."""
        nvml = self._nvml
        get_mode = getattr(nvml, "nvmlDeviceGetMigMode", None)  # nvidia-ml-py >= 11.450
        if get_mode is None:
            return
        try:
            current = self._call(get_mode, gpu.handle)[0]
        except DeviceError:  # NOT_SUPPORTED before Ampere
            return
        if int(current) != int(getattr(nvml, "NVML_DEVICE_MIG_ENABLE", _MIG_ENABLE)):
            return
        gpu.mig, gpu.mig_ids = True, self._granted_migs
        gpu.domain = _mig_domain(gpu.domain, mig_ids)
        profile = int(getattr(nvml, "NVML_GPU_INSTANCE_PROFILE_7_SLICE", _PROFILE_7_SLICE))
        try:
            info = self._call(nvml.nvmlDeviceGetGpuInstanceProfileInfo, gpu.handle, profile)
            gpu.mig_sms = int(info.multiprocessorCount)
        except DeviceError as exc:
            self.warnings.append(
                f"{gpu.label}: the SM count of the whole GPU under MIG is unknown ({exc}); its "
                "instances share its idle power by their SMs among themselves, none is left "
                "to unallocated slices"
            )
        if hasattr(nvml, "nvmlGpmMigSampleGet") and hasattr(nvml, "c_nvmlGpmMetricsGet_t"):
            with contextlib.suppress(DeviceError):
                support = self._call(nvml.nvmlGpmQueryDeviceSupport, gpu.handle)
                gpu.gpm = bool(support.isSupportedDevice)

    def _read(self, gpu: _Gpu) -> float:
        if gpu.use_counter:
            # 64-bit mJ: a decrease is a driver reload, never a wrap (CounterAccumulator
            # without wrap_range drops that interval and takes a new baseline).
            raw = self._call(self._nvml.nvmlDeviceGetTotalEnergyConsumption, gpu.handle)
            return gpu.counter.update(raw) / MJ_PER_J
        # On Ampere (except GA100) and newer this is a 1 s average, older GPUs give an
        # instantaneous value (NVML reference, nvmlDeviceGetPowerUsage); either way a
        # trapezoid over the real timestamps, taken right after the read, is the estimate.
        try:
            watts = self._call(self._nvml.nvmlDeviceGetPowerUsage, gpu.handle) / MJ_PER_J
        except DeviceError:
            gpu.last_power = None  # never integrate across a gap
            raise
        now = self._clock()
        if gpu.last_power is not None:
            then, previous = gpu.last_power
            gpu.power_j += (watts + previous) / 2 * max(0.0, now - then)
        gpu.last_power = (now, watts)
        return gpu.power_j

    def _reading_diagnostics(self, gpu: _Gpu) -> list[str]:
        if gpu.use_counter or not gpu.failed_reads:
            return super()._reading_diagnostics(gpu)
        # Power is a rate: nothing carries over a failed read, so its interval is lost.
        return [
            f"{gpu.label}: power could not be read {plural(gpu.failed_reads, 'time')}; the "
            "energy between the readings on either side of each failure was not counted"
        ]

    # --- who used the GPUs -------------------------------------------------------------------

    def process_weights(self) -> dict[str, dict[int, float]]:
        """Per GPU, host pid -> usage weight since the previous call.

        The weight is Σ ``smUtil`` of the per-process samples NVML kept since the last
        call (percent of time a kernel of that process ran; not occupancy, not power).
        Where per-process samples are unsupported or none is new, every running compute
        process weighs 1.0. ``NO_PERMISSION`` gives an empty mapping: not ours to see.
        PIDs are host PIDs even inside containers (NVIDIA/nvidia-docker#1483).
        The first call reports what the driver still buffers, a few seconds at most.
        """
        weights: dict[str, dict[int, float]] = {}
        with self._lock:
            for gpu in self._gpus:
                if not gpu.mig:  # no samples there: mig_devices() splits it
                    weights[gpu.domain.id] = self._weights(gpu)
        return weights

    def _weights(self, gpu: _Gpu) -> dict[int, float]:
        nvml = self._nvml
        try:
            samples = self._call(nvml.nvmlDeviceGetProcessUtilization, gpu.handle, gpu.last_seen_us)
        except DeviceError as exc:
            # NOT_FOUND: no sample newer than last_seen_us. nvidia-ml-py also raises
            # NVMLError(NVML_SUCCESS) when the size query finds zero samples.
            if exc.not_ours:
                return {}
            samples = None
        if samples:
            weights: dict[int, float] = {}
            for sample in samples:
                weights[int(sample.pid)] = weights.get(int(sample.pid), 0.0) + sample.smUtil
                gpu.last_seen_us = max(gpu.last_seen_us, int(sample.timeStamp))
            return weights
        try:
            processes = self._call(nvml.nvmlDeviceGetComputeRunningProcesses, gpu.handle)
        except DeviceError:
            return {}
        return {int(process.pid): 1.0 for process in processes}

    # --- MIG instances ------------------------------------------------------------------------

    def mig_devices(self) -> dict[str, MigDevice]:
        """Per GPU in MIG mode, its instances since the previous call (module docstring).

        The first call (and any call where a GPM sample fails) has no GPM interval yet:
        every instance's activity then comes from its processes, never a mix of the two.
        """
        devices: dict[str, MigDevice] = {}
        with self._lock:
            for gpu in self._gpus:
                if gpu.mig:
                    devices[gpu.domain.id] = self._mig_device(gpu)
        return devices

    def _mig_device(self, gpu: _Gpu) -> MigDevice:
        nvml = self._nvml
        try:
            slots = int(self._call(nvml.nvmlDeviceGetMaxMigDeviceCount, gpu.handle))
        except DeviceError:
            slots = 0
        found: list[tuple[MigInstance, float | None]] = []
        hidden = 0
        for index in range(slots):
            try:
                handle = self._call(nvml.nvmlDeviceGetMigDeviceHandleByIndex, gpu.handle, index)
                instance, gpu_instance = self._mig_instance(gpu, handle)
            except DeviceError as exc:  # NOT_FOUND: an empty slot
                hidden += exc.not_ours
                continue
            busy = self._gpm_activity(gpu, gpu_instance) if gpu.gpm else None
            found.append((instance, busy))
        if found and all(busy is not None for _, busy in found):
            instances = tuple(replace(i, activity=b or 0.0) for i, b in found)
            activity = MigActivity.GPM
        else:
            instances = tuple(i for i, _ in found)
            activity = MigActivity.PROCESSES
        sms = max(gpu.mig_sms or 0, sum(i.sms for i in instances))
        return MigDevice(sms, instances, activity, hidden)

    def _mig_instance(self, gpu: _Gpu, handle: Any) -> tuple[MigInstance, int]:
        """One MIG device, its activity from its processes; and its GPU instance id."""
        nvml = self._nvml
        uuid = _text(self._call(nvml.nvmlDeviceGetUUID, handle))
        gpu_instance = int(self._call(nvml.nvmlDeviceGetGpuInstanceId, handle))
        compute_instance = int(self._call(nvml.nvmlDeviceGetComputeInstanceId, handle))
        sms = int(self._call(nvml.nvmlDeviceGetAttributes, handle).multiprocessorCount)
        name = _text(self._call(nvml.nvmlDeviceGetName, handle))
        try:
            processes = self._call(nvml.nvmlDeviceGetComputeRunningProcesses, handle)
            pids = frozenset(int(process.pid) for process in processes)
        except DeviceError:
            pids = frozenset()
        legacy = f"MIG-{gpu.uuid}/{gpu_instance}/{compute_instance}"  # before driver R470
        instance = MigInstance(
            uuid=uuid,
            profile=name.rsplit("MIG ", 1)[-1] if "MIG " in name else f"{sms} SMs",
            sms=sms,
            activity=1.0 if pids else 0.0,
            pids=pids,
            assigned=uuid in gpu.mig_ids or legacy in gpu.mig_ids,
        )
        return instance, gpu_instance

    def _gpm_activity(self, gpu: _Gpu, gpu_instance: int) -> float | None:
        """Share of the GPU instance's SMs busy since its previous GPM sample (None: no
        previous sample, or GPM failed)."""
        nvml = self._nvml
        try:
            sample = self._call(nvml.nvmlGpmSampleAlloc)
        except DeviceError:
            return None
        try:
            self._call(nvml.nvmlGpmMigSampleGet, gpu.handle, gpu_instance, sample)
        except DeviceError:
            self._free_sample(sample)
            return None
        previous = gpu.gpm_samples.get(gpu_instance)
        gpu.gpm_samples[gpu_instance] = sample
        if previous is None:
            return None
        try:
            query = nvml.c_nvmlGpmMetricsGet_t()
            query.version = int(getattr(nvml, "NVML_GPM_METRICS_GET_VERSION", _GPM_GET_VERSION))
            query.numMetrics = 1
            query.sample1, query.sample2 = previous, sample
            query.metrics[0].metricId = int(getattr(nvml, "NVML_GPM_METRIC_SM_UTIL", _GPM_SM_UTIL))
            metric = self._call(nvml.nvmlGpmMetricsGet, query).metrics[0]
        except DeviceError:
            return None
        finally:
            self._free_sample(previous)
        if int(metric.nvmlReturn) != _SUCCESS:
            return None
        return min(max(float(metric.value) / 100, 0.0), 1.0)

    def _free_sample(self, sample: Any) -> None:
        with contextlib.suppress(DeviceError):
            self._call(self._nvml.nvmlGpmSampleFree, sample)

    def _shutdown(self) -> None:
        """Free the GPM samples kept, then balance the ``nvmlInit`` of this meter."""
        for gpu in self._gpus:
            for sample in gpu.gpm_samples.values():
                self._free_sample(sample)
            gpu.gpm_samples.clear()
        self._nvml.nvmlShutdown()


def _import_pynvml() -> ModuleType:
    try:
        module = importlib.import_module("pynvml")
    except ImportError as exc:
        raise MeterFailed(
            "nvidia", "the pynvml module (package nvidia-ml-py) is not installed", _INSTALL_FIX
        ) from exc
    return module


def _granted_migs(visible: str | None, environ: Mapping[str, str]) -> tuple[str, ...]:
    """The MIG instances this process was given: those ``CUDA_VISIBLE_DEVICES`` names (or
    ``visible``, where given), and inside a container those the NVIDIA Container Toolkit
    was told to expose (``NVIDIA_VISIBLE_DEVICES``), which need not be in CUDA's list."""
    sources = (
        [visible]
        if visible is not None
        else [environ.get("CUDA_VISIBLE_DEVICES"), environ.get("NVIDIA_VISIBLE_DEVICES")]
    )
    entries = (entry.strip() for text in sources if text for entry in text.split(","))
    return tuple(entry for entry in entries if entry.startswith("MIG-"))


def _job_gpus(environ: Mapping[str, str]) -> tuple[int, ...] | None:
    """The node's GPU device numbers a SLURM job (step) was given, or None outside a job
    with GPUs (or where SLURM wrote something else than numbers)."""
    text = environ.get("SLURM_STEP_GPUS") or environ.get("SLURM_JOB_GPUS") or ""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


def _mig_domain(domain: Domain, mig_ids: list[str]) -> Domain:
    note = domain.note if mig_ids else f"{domain.note}; {_MIG_NOTE}"
    return replace(domain, note=f"{note}; {_MIG_SPLIT_NOTE}")


def _domain(device: _Device, method: Method, note: str, mig_ids: list[str]) -> Domain:
    if mig_ids:
        note += f"; {_MIG_NOTE} (instances visible here: {', '.join(mig_ids)})"
    return Domain(
        id=f"gpu:{device.uuid}",
        component=Component.GPU,
        method=method,
        extent=Extent.DEVICE,
        quality=Quality.MEASURED,
        note=note,
    )


def _text(value: str | bytes) -> str:
    """Older nvidia-ml-py releases return bytes where newer ones return str."""
    return value.decode() if isinstance(value, bytes) else value


def _pci_key(bus_id: str) -> tuple[int, ...] | tuple[str]:
    """Sort key for ``00000000:3B:00.0`` (or the legacy ``0000:3b:00.0``) by number."""
    try:
        domain, bus, rest = bus_id.split(":")
        device, function = rest.split(".")
        return (int(domain, 16), int(bus, 16), int(device, 16), int(function, 16))
    except ValueError:
        return (bus_id.upper(),)
