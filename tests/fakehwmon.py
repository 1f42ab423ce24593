"""Fake hwmon trees in ``tmp_path``, laid out the way the kernel lays them out.

``class/hwmon/hwmonN`` is a symlink to the device's directory under ``devices/``, as in
``/sys/class/hwmon``. An ACPI power meter comes in the two layouts of
``drivers/hwmon/acpi_power_meter.c``: ``new`` (``hwmon_device_register_with_info``: every
file in ``hwmonN/``) and ``old`` (``hwmon_device_register``: the files on the ACPI device,
``hwmonN/device/``, and no ``name`` in ``hwmonN/``). Other drivers (a GPU's, a CPU's) put
theirs in ``hwmonN/``. Point a meter at :attr:`FakeHwmon.root`.

Power files are rewritten in place (same inode): the meter keeps ``power1_average`` open
and re-reads it with ``pread``, as on sysfs.
"""

from __future__ import annotations

import os
from pathlib import Path

from inplace import rewrite


class FakeHwmon:
    """A writable hwmon tree; :meth:`set_watts` moves a sensor's reading."""

    def __init__(self, tmp_path: Path) -> None:
        self.base = Path(tmp_path)
        self.root = self.base / "class" / "hwmon"
        self.root.mkdir(parents=True, exist_ok=True)
        self.files: dict[str, Path] = {}  # hwmonN -> the directory holding its files

    def add_power_meter(
        self,
        watts: float = 250.0,
        *,
        layout: str = "new",
        interval_ms: int | None = 1000,
        accuracy: str | None = "95.0%",
        oem_info: str = "",
        is_battery: bool = False,
    ) -> str:
        """An ACPI power meter (``ACPI000D``) reading ``watts``; returns its ``hwmonN``."""
        hwmon = f"hwmon{len(self.files)}"
        acpi = self.base / "devices" / "LNXSYSTM:00" / f"ACPI000D:{len(self.files):02d}"
        device = acpi / "hwmon" / hwmon
        device.mkdir(parents=True)
        files = device if layout == "new" else acpi
        if layout == "old":
            (device / "device").symlink_to(os.path.relpath(acpi, device))
        (files / "name").write_text("power_meter\n")
        values = {
            "power1_average_interval": f"{interval_ms}" if interval_ms is not None else None,
            "power1_accuracy": accuracy,
            "power1_oem_info": oem_info,
            "power1_model_number": "",
            "power1_is_battery": "1" if is_battery else "0",
        }
        for name, value in values.items():
            if value is not None:
                (files / name).write_text(f"{value}\n")
        self._link(hwmon, device, files)
        self.set_watts(hwmon, watts)
        return hwmon

    def add_driver(self, driver: str, watts: float, attribute: str = "power1_average") -> str:
        """Another driver's hwmon device (a GPU's, a CPU's) with one power file."""
        hwmon = f"hwmon{len(self.files)}"
        device = self.base / "devices" / "pci0000:00" / driver / "hwmon" / hwmon
        device.mkdir(parents=True)
        (device / "name").write_text(f"{driver}\n")
        self._link(hwmon, device, device)
        rewrite(device / attribute, f"{round(watts * 1e6)}\n")
        return hwmon

    def set_watts(self, hwmon: str, watts: float) -> None:
        """Move a power meter's ``power1_average`` (microwatts, as the driver prints)."""
        rewrite(self.files[hwmon] / "power1_average", f"{round(watts * 1e6)}\n")

    def set_raw(self, hwmon: str, text: str) -> None:
        """Write anything to ``power1_average`` (a firmware's 'unknown', garbage)."""
        rewrite(self.files[hwmon] / "power1_average", text)

    def _link(self, hwmon: str, device: Path, files: Path) -> None:
        (self.root / hwmon).symlink_to(os.path.relpath(device, self.root))
        self.files[hwmon] = files
