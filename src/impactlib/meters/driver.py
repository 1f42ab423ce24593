"""Whether this machine has an NVIDIA driver, asked before anything imports ``pynvml``.

Discovery (:func:`impactlib.meters.open_meters`) asks it before importing ``pynvml`` (tens of
milliseconds) on the many machines without a GPU, and the NVML meter asks it again when NVML
does not start, to tell "no GPU here" (nothing to say) from "a GPU NVML cannot reach" (a
failure with its fix). Its own module, so that neither of those imports the other.
"""

from __future__ import annotations

import os
import sys

from ..errors import MeterUnavailable

# Device nodes (or the driver's proc folder) without which NVML cannot reach a GPU:
# /dev/nvidiactl on Linux, also inside GPU containers; /dev/dxg under WSL 2.
NVIDIA_DRIVER_PATHS = ("/dev/nvidiactl", "/dev/dxg", "/proc/driver/nvidia")


def nvidia_driver_present() -> bool:
    """Whether this machine has an NVIDIA driver's device nodes (or its proc folder)."""
    return any(os.path.exists(p) for p in NVIDIA_DRIVER_PATHS)


def no_nvidia_driver() -> MeterUnavailable:
    """What to say where there is no NVIDIA driver: nothing failed, there is no GPU to read."""
    return MeterUnavailable(
        "nvidia",
        f"no NVIDIA driver here (none of {', '.join(NVIDIA_DRIVER_PATHS)})",
        "run on a node with an NVIDIA GPU and its driver loaded (`nvidia-smi` must work)",
    )


def require_nvidia_driver() -> None:
    """Raise :class:`MeterUnavailable` where no NVIDIA driver is loaded. A ``pynvml``
    already imported (or injected by a test) is asked instead."""
    if "pynvml" in sys.modules or nvidia_driver_present():
        return
    raise no_nvidia_driver()
