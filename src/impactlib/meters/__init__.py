"""Meters: where energy numbers come from. One module per source, one interface (``base.Meter``)."""

from __future__ import annotations

import os
import sys

from ..errors import MeterUnavailable

# Device nodes (or the driver's proc folder) without which NVML cannot reach a GPU:
# /dev/nvidiactl on Linux, also inside GPU containers; /dev/dxg under WSL 2.
NVIDIA_DRIVER_PATHS = ("/dev/nvidiactl", "/dev/dxg", "/proc/driver/nvidia")


def require_nvidia_driver() -> None:
    """Raise :class:`MeterUnavailable` where no NVIDIA driver is loaded: checked before
    importing ``pynvml`` (tens of milliseconds) on the many machines without a GPU. A
    ``pynvml`` already imported (or injected by a test) is asked instead."""
    if "pynvml" in sys.modules or any(os.path.exists(p) for p in NVIDIA_DRIVER_PATHS):
        return
    raise MeterUnavailable(
        "nvidia",
        f"no NVIDIA driver here (none of {', '.join(NVIDIA_DRIVER_PATHS)})",
        "run on a node with an NVIDIA GPU and its driver loaded (`nvidia-smi` must work)",
    )
