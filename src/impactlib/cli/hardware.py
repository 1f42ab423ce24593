"""``impactlib hardware``: what can be measured here, what cannot, and the exact fix.

Printed as plain text wrapped to the terminal (``COLUMNS``), never through rich markup:
fixes hold square brackets (``pip install 'impactlib[amd]'``) that markup would eat, and
paths and UUIDs must come out whole. Sections, each left out when it has nothing to say:
the CPU, the measured and the estimated domains, the RAPL zone plan, the host power model,
what the meters reported (diagnostics), and the meters not available with their fix.
"""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import typer

from .common import config_from

if TYPE_CHECKING:
    from ..config import Config
    from ..meters import MeterSet

INDENT = "  "
BULLET_INDENT = "    "  # continuation of a "  - " line
DETAIL_INDENT = "      "


def hardware_command(
    powercap_root: str = typer.Option(None, "--powercap-root", help="Powercap sysfs root."),
    wall_power: str = typer.Option(
        None, "--wall-power", help="Wall sensor: auto, hwmon, ipmi, redfish or none."
    ),
    hwmon_root: str = typer.Option(None, "--hwmon-root", help="hwmon sysfs root."),
    redfish_url: str = typer.Option(None, "--redfish-url", help="The BMC's Redfish URL."),
    redfish_credentials: str = typer.Option(
        None, "--redfish-credentials", help="Root-only TOML file: username, password."
    ),
    ipmi_command: str = typer.Option(
        None, "--ipmi-command", help="Command printing a DCMI power reading."
    ),
) -> None:
    """Show every meter found, its method and quality, and how to enable the missing ones."""
    from ..meters import MeterSettings, open_meters

    config = config_from(
        powercap_root=powercap_root,
        wall_power=wall_power,
        hwmon_root=hwmon_root,
        redfish_url=redfish_url,
        redfish_credentials=redfish_credentials,
        ipmi_command=ipmi_command,
    )
    meters = open_meters(MeterSettings.of(config))
    try:
        text = "\n".join(hardware_report(config, meters, _width()))
    finally:
        meters.close()
    typer.echo(text)


def hardware_report(config: Config, meters: MeterSet, width: int) -> list[str]:
    """The lines of the report, wrapped to ``width`` columns."""
    sections = [
        ("What impactlib measures on this machine", [_cpu_line(config)]),
        ("Measured", _domain_lines(meters, "measured", width)),
        (
            "Measured by impactlib serve (your processes' share)",
            _domain_lines(meters, "attributed", width),
        ),
        ("Estimated (no meter could be read)", _domain_lines(meters, "estimated", width)),
        *_rapl_plans(meters, width),
        (
            "Wall power (the whole server, read by the BMC or the firmware)",
            wall_lines(config, width),
        ),
        ("Host power model", power_model_lines(config)),
        ("Reported by the meters", _bullets(meters.diagnostics(), width)),
        ("Not measured here", _unavailable_lines(meters, width)),
        ("How to get measured CPU energy here", _bullets(_measured_options(meters), width)),
    ]
    lines: list[str] = []
    for title, body in sections:
        if body:
            lines += [*([""] if lines else []), title, *body]
    return lines


def power_model_lines(config: Config) -> list[str]:
    """The host power model: idle watts and watts per busy CPU, when and how it was made,
    and its age; or, where there is none, what that costs and how to make one."""
    from ..attribution.power_model import hardware_lines
    from ..identity import host_name

    return hardware_lines(config, host_name())


def wall_lines(config: Config, width: int) -> list[str]:
    """The wall sensor ``wall_power`` chooses, read once now; or why none, and the fix."""
    from ..errors import MeterUnavailable
    from ..meters import MeterSettings
    from ..meters.wall import open_wall_meter

    try:
        meter = open_wall_meter(MeterSettings.of(config))
    except MeterUnavailable as exc:
        return [
            *_wrap(f"not read: {exc.reason}", width, INDENT + "- ", BULLET_INDENT),
            *(_wrap(f"fix: {exc.fix}", width, DETAIL_INDENT, DETAIL_INDENT) if exc.fix else []),
        ]
    try:
        reading = meter.read_power()
    finally:
        meter.close()
    now = f"{reading.watts:.1f} W now" if reading else "no reading now"
    stated = f", stated accuracy {meter.accuracy_percent:g} %" if meter.accuracy_percent else ""
    what = f"{meter.method.label}: {now}, read every {meter.period_s:g} s{stated}"
    return [
        *_wrap(what, width, INDENT, DETAIL_INDENT),
        *_wrap(meter.note, width, DETAIL_INDENT, DETAIL_INDENT),
    ]


def _width() -> int:
    # COLUMNS first (shutil reads it), then the terminal; 80 when neither is known.
    return max(shutil.get_terminal_size((80, 24)).columns, 40)


def _wrap(text: str, width: int, first: str, rest: str) -> list[str]:
    """Wrapped at word boundaries only: a path or UUID longer than a line stays whole."""
    return textwrap.wrap(
        text,
        width,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _bullets(items: Iterable[str], width: int) -> list[str]:
    return [line for item in items for line in _wrap(item, width, INDENT + "- ", BULLET_INDENT)]


def _cpu_line(config: Config) -> str:
    from ..procfs import read_cpuinfo

    cpu = read_cpuinfo(config.procfs_root)
    sockets = f", {cpu.sockets} sockets" if cpu.sockets > 1 else ""
    return f"{INDENT}CPU: {cpu.model or 'unknown'} ({os.cpu_count() or 1} logical CPUs{sockets})"


def _domain_lines(meters: MeterSet, quality: str, width: int) -> list[str]:
    """One line per domain (id, method, scope), then its provenance note (which names the
    device, or the model and its constants) indented below it."""
    lines: list[str] = []
    for domain in meters.domains():
        if domain.quality == quality:
            what = f"{domain.id}  {domain.method}, {domain.extent} scope"
            lines += _wrap(what, width, INDENT, DETAIL_INDENT)
            lines += _wrap(domain.note, width, DETAIL_INDENT, DETAIL_INDENT)
    return lines


def _rapl_plans(meters: MeterSet, width: int) -> list[tuple[str, Sequence[str]]]:
    """Which powercap zones are added up and why the others are not."""
    from ..meters.rapl import RaplMeter

    return [
        (
            "RAPL zones (powercap)",
            [
                f"{INDENT}{meter.root}",  # a path: never wrapped
                *(
                    line
                    for zone in meter.zones_summary()
                    for line in _wrap(zone, width, INDENT, DETAIL_INDENT)
                ),
            ],
        )
        for meter in meters.meters
        if isinstance(meter, RaplMeter)
    ]


def _measured_options(meters: MeterSet) -> list[str]:
    """Where RAPL is root-only and no daemon answers: the admin's options, with their risk."""
    if not any(exc.meter == "daemon" for exc in meters.unavailable):
        return []
    return [
        "best: an admin runs `impactlib serve` (docs/daemon.md). One root daemon reads RAPL "
        "and gives each user the measured energy of their own processes only; no counter is "
        "opened to anyone, and trackers use it by themselves",
        "or: an admin gives a group read access to energy_uj (udev rule). Simple, but it "
        "re-opens the PLATYPUS side channel (CVE-2020-8694) to that whole group, and each "
        "member then measures the whole machine, not their own share",
        "or: run the tracker as root. It measures the whole machine, with the risk of running "
        "your code as root",
    ]


def _unavailable_lines(meters: MeterSet, width: int) -> list[str]:
    from ..meters.wall import WALL

    lines: list[str] = []
    for exc in meters.unavailable:
        if exc.meter == WALL:  # said in its own section, with the sensor tried
            continue
        lines += _wrap(f"{exc.meter}: {exc.reason}", width, INDENT + "- ", BULLET_INDENT)
        if exc.fix:
            lines += _wrap(f"fix: {exc.fix}", width, DETAIL_INDENT, DETAIL_INDENT)
    return lines


def register(app: typer.Typer) -> None:
    """Add ``hardware`` to the app."""
    app.command("hardware")(hardware_command)
