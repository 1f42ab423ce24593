"""What the meter layer reads from the configuration, as one frozen value.

:func:`~impactlib.meters.open_meters` and the sampler's tick depend on these settings and on
nothing else of :class:`~impactlib.config.Config`. The value is therefore also the key of the
process's shared sampler (:func:`impactlib.sampling.shared_sampler`): two trackers share a
sampler, and with it one set of opened meters, exactly when every setting that shaped those
meters is the same. A key made of fewer fields once handed a tracker with ``cpu_tdp_w=300``
the CPU model of an earlier one with 100 W, and could hand a ``scope = "machine"`` tracker
the daemon-backed meters of a process-tree one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config import Config


@dataclass(frozen=True)
class MeterSettings:
    """Every setting that decides which meters are opened and how often they are read.

    ``daemon_socket`` is None where ``impactlib serve`` must not stand in for RAPL: for the
    whole machine (the daemon gives the machine's energy to nobody) and for the daemon itself.
    """

    powercap_root: str
    procfs_root: str
    cpu_tdp_w: float | None
    memory_w_per_gb: float
    daemon_socket: str | None
    interval_s: float
    save_interval_s: float
    # The wall sensor (meters.wall.open_wall_meter): which, and where each kind is found.
    wall_power: str = "auto"
    hwmon_root: str = "/sys/class/hwmon"
    redfish_url: str | None = None
    redfish_credentials: str | None = None
    ipmi_command: str | None = None

    @classmethod
    def of(cls, config: Config, *, via_daemon: bool = True) -> MeterSettings:
        """The meter settings of ``config``; ``via_daemon=False``: never ask the daemon."""
        served = via_daemon and config.scope != "machine"
        return cls(
            powercap_root=config.powercap_root,
            procfs_root=config.procfs_root,
            cpu_tdp_w=config.cpu_tdp_w,
            memory_w_per_gb=config.memory_w_per_gb,
            daemon_socket=config.daemon_socket if served else None,
            interval_s=config.interval,
            save_interval_s=config.save_interval,
            wall_power=config.wall_power,
            hwmon_root=config.hwmon_root,
            redfish_url=config.redfish_url,
            redfish_credentials=config.redfish_credentials,
            ipmi_command=config.ipmi_command,
        )
