"""Wall power from the BMC through IPMI DCMI: ``Get Power Reading`` (DCMI 1.5, section 6.6.1).

The BMC measures the power supplies' input and answers the DCMI command with the current
reading in watts. It is asked through the tools an admin already has, in band (the local
BMC through ``/dev/ipmi0``, root only) unless ``ipmi_command`` says otherwise:

* ``ipmitool dcmi power reading`` (``lib/ipmi_dcmi.c``, ``ipmi_dcmi_pwr_rd``) prints
  ``Instantaneous power reading:  231 Watts`` and ``Power reading state is: activated``;
* FreeIPMI's ``ipmi-dcmi --get-system-power-statistics`` (``ipmi-dcmi/ipmi-dcmi.c``)
  prints ``Current Power : 231 Watts`` and ``Power Measurement : Active``.

Either output is understood whatever the command (``ipmi_command`` may add ``-I lanplus -H
bmc -U user -E``, the password in ``IPMI_PASSWORD``: never on the command line, which is
stored in records). A reading whose state is not active (``deactivated``, ``Not
Available``) is no reading: the DCMI specification says the BMC then measures nothing, and
some BMCs print a stale or made-up number with it (OpenBMC prints a fixed value with
``deactivated``: openbmc/phosphor-host-ipmid issue 167), so it is never used, as the
Prometheus ipmi_exporter does not (its PR 160).

Each reading starts the tool once (23 ms of CPU for ipmitool 1.8.19 on a test VM), so the
BMC is read every :data:`PERIOD_S` seconds: 0.5 % of a core, under the daemon's 2 %, and no
slower than most BMCs refresh the reading.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from typing import NamedTuple

from ..errors import MeterUnavailable
from ..footprint import Method
from .wallmeter import WALL, FailedReadings, ReadFailed, WallMeter, WallReading, timed_reading

DEFAULT_COMMANDS = (
    ("ipmitool", "dcmi", "power", "reading"),
    ("ipmi-dcmi", "--get-system-power-statistics"),
)
PERIOD_S = 5.0
TIMEOUT_S = 10.0  # a BMC over the network may take seconds; more is a failed reading
# The in-band BMC device, where ipmitool looks for it (its "Could not open device" line).
IPMI_DEVICES = ("/dev/ipmi0", "/dev/ipmi/0", "/dev/ipmidev/0")
# Where FreeIPMI's tools live, on no user's PATH on Debian and RHEL.
_SBIN = ("/usr/sbin", "/sbin", "/usr/local/sbin")
# Options whose value is a secret: a password (ipmitool -P; FreeIPMI --password, and -p,
# which is ipmitool's port) or a K_g key (-k, -y; FreeIPMI --k-g).
_SECRET_OPTIONS = ("-P", "-k", "-y", "--password", "--k-g")

_IPMITOOL_W = re.compile(r"Instantaneous power reading\s*:\s*(\d+)\s*Watts", re.IGNORECASE)
_IPMITOOL_STATE = re.compile(r"Power reading state is\s*:\s*(\w+)", re.IGNORECASE)
_FREEIPMI_W = re.compile(r"^\s*Current Power\s*:\s*(\d+)\s*Watts", re.IGNORECASE | re.MULTILINE)
_FREEIPMI_STATE = re.compile(r"^\s*Power Measurement\s*:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)


class DcmiReading(NamedTuple):
    """A DCMI power reading as a tool printed it."""

    watts: float
    active: bool  # the BMC says it measures (ipmitool "activated", FreeIPMI "Active")
    state: str  # the state as printed ("" where the tool printed none)


class _Failed(ReadFailed):
    """One failed reading of the DCMI power, with its cause in a few words."""


def parse_dcmi_power(text: str) -> DcmiReading:
    """The reading in ipmitool's or FreeIPMI's output; ValueError where there is none."""
    shapes = ((_IPMITOOL_W, _IPMITOOL_STATE, "activated"), (_FREEIPMI_W, _FREEIPMI_STATE, "active"))
    for watts, state, active in shapes:
        found = watts.search(text)
        if found is None:
            continue
        said = state.search(text)
        word = said.group(1) if said else ""
        return DcmiReading(float(found.group(1)), word.lower() in ("", active), word)
    raise ValueError("no DCMI power reading in the output")


def in_band_problem(devices: Sequence[str] = IPMI_DEVICES) -> str | None:
    """Why the local BMC cannot be asked in band by this user (None: it may be)."""
    if not any(find_program(argv[0]) for argv in DEFAULT_COMMANDS):
        return "neither ipmitool nor FreeIPMI's ipmi-dcmi is installed"
    present = [device for device in devices if os.path.exists(device)]
    if not present:
        return f"no BMC device ({devices[0]}: the ipmi_si and ipmi_devintf modules)"
    if not any(os.access(device, os.R_OK | os.W_OK) for device in present):
        return f"{present[0]} may be opened by root only"
    return None


def find_program(name: str) -> str | None:
    """``name`` on PATH or in the sbin directories (FreeIPMI's are there)."""
    path = os.pathsep.join([os.environ.get("PATH", os.defpath), *_SBIN])
    return shutil.which(name, path=path)


def shown(argv: Sequence[str]) -> str:
    """A command line fit for a record: the value of any option that holds a secret masked
    (the configuration refuses them; this is the second lock)."""
    secret = _SECRET_OPTIONS + (("-p",) if argv and _is_freeipmi(argv[0]) else ())
    out: list[str] = []
    masked = False
    for arg in argv:
        if masked:
            out.append("***")
            masked = False
        elif arg in secret:
            out.append(arg)
            masked = True
        elif arg.startswith("--") and arg.split("=", 1)[0] in secret:
            out.append(arg.split("=", 1)[0] + "=***")
        elif not arg.startswith("--") and arg[:2] in secret:
            out.append(arg[:2] + "***")
        else:
            out.append(arg)
    return shlex.join(out)


def _is_freeipmi(program: str) -> bool:
    return os.path.basename(program).startswith(("ipmi-", "ipmimonitoring"))


class IpmiWallMeter(WallMeter):
    """The BMC's DCMI power reading, by running ``command`` (default: ipmitool, else
    FreeIPMI) every :data:`PERIOD_S` seconds."""

    method = Method.IPMI_DCMI
    period_s = PERIOD_S

    def __init__(self, command: str | None = None, *, timeout_s: float = TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self.failures = FailedReadings("IPMI DCMI")
        candidates = [tuple(shlex.split(command))] if command else list(DEFAULT_COMMANDS)
        reasons = []
        for argv in candidates:
            program = find_program(argv[0]) if argv else None
            if program is None:
                reasons.append(f"{argv[0] if argv else 'ipmi_command'} is not installed")
                continue
            self.argv = (program, *argv[1:])
            try:
                self._read()
            except _Failed as exc:
                reasons.append(f"{shown(argv)}: {exc}")
                continue
            self.note = f"BMC power reading (DCMI) by `{shown(argv)}`"
            return
        raise MeterUnavailable(
            WALL,
            "no DCMI power reading: " + "; ".join(reasons),
            "run as root (in band, /dev/ipmi0 is root's), or let impactlib serve read it; "
            "a BMC without DCMI power readings may still answer Redfish (wall_power = redfish)",
        )

    def read_power(self) -> WallReading | None:
        """The BMC's reading now; None (counted by cause) when the tool fails."""
        return timed_reading(lambda: self._read().watts, self.failures)

    def diagnostics(self) -> list[str]:
        """One line per cause of failed readings."""
        return self.failures.lines()

    def _read(self) -> DcmiReading:
        try:
            done = subprocess.run(
                self.argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=self.timeout_s,
                env={**os.environ, "LC_ALL": "C"},
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise _Failed(f"no answer within {self.timeout_s:g} s") from exc
        except OSError as exc:
            raise _Failed(f"cannot be run ({exc.strerror})") from exc
        if done.returncode != 0:
            said = [line.strip() for line in done.stderr.splitlines() if line.strip()] or [
                line.strip() for line in done.stdout.splitlines() if line.strip()
            ]
            raise _Failed(said[-1] if said else f"exit status {done.returncode}")
        try:
            reading = parse_dcmi_power(done.stdout)
        except ValueError as exc:
            raise _Failed(str(exc)) from exc
        if not reading.active:
            raise _Failed(f"the BMC's power measurement is not active ('{reading.state}')")
        return reading
