"""What a GPU in MIG mode says about its instances: the facts its energy is split by.

NVML has no power or energy of a MIG instance ("NVML returns N/A for MIG power", Kepler's
``gpu-power-monitoring.md``): only the parent GPU's counter exists. So the meter measures the
whole GPU and reports, every few seconds, each instance's size (SMs), how busy it was and
which processes run on it; :func:`impactlib.attribution.shares.mig_shares` turns those into
shares (docs/attribution.md, "Shared GPUs: time-slicing and MIG").
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class MigActivity(enum.Enum):
    """Where an instance's activity came from, best first."""

    # NVML GPM ``SM_UTIL`` of the GPU instance between two samples (Hopper and newer):
    # the share of its SMs that were busy.
    GPM = "GPM SM utilisation"
    # No GPM (A100, or the first query): an instance with a compute process is busy, one
    # without is idle. Coarse: NVML has no utilisation of a MIG device (utilisation rates
    # and per-process samples are NOT_SUPPORTED there).
    PROCESSES = "running processes"


@dataclass(frozen=True)
class MigInstance:
    """One MIG device (a compute instance) over the last query interval."""

    uuid: str  # MIG-<uuid>, what CUDA_VISIBLE_DEVICES names
    profile: str  # "3g.40gb", from its NVML name
    sms: int  # its streaming multiprocessors (nvmlDeviceGetAttributes)
    activity: float  # 0..1: share of its SMs busy (see ``MigDevice.activity``)
    pids: frozenset[int]  # host PIDs with a compute context on it
    assigned: bool  # named by this process's CUDA_VISIBLE_DEVICES: given to us

    def describe(self, device_sms: int) -> str:
        """``MIG 3g.40gb instance MIG-… (42 of 98 SMs)``: how a record names it."""
        return f"MIG {self.profile} instance {self.uuid} ({self.sms} of {device_sms} SMs)"


@dataclass(frozen=True)
class MigDevice:
    """A GPU in MIG mode: the SMs MIG allocates, the instances we may see, and how many
    we may not (another container's, ``NO_PERMISSION``)."""

    sms: int  # of the full-GPU profile (A100 40GB: 98 of its 108)
    instances: tuple[MigInstance, ...]
    activity: MigActivity
    hidden: int = 0  # instances NVML would not show us
