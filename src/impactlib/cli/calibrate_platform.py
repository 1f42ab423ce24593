"""``impactlib calibrate --wall-watts W``: the platform power of a host without a wall meter.

A wattmeter or the BMC shows what the whole server draws; RAPL, the GPUs and the modelled
lines (memory, a CPU model) account for part of it. Given the wall reading taken while the
machine is idle, this reads every domain here for ``--seconds`` at that moment and stores
``W - (their power)`` in the host power model, with every number it was made from
(:mod:`impactlib.attribution.platform_power`). Trackers then count a ``platform`` domain at
that constant power, labelled estimated, all of it idle power split by the idle policy.
No burner runs: the figure is the idle platform, as the wall reading is.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import typer

from ..errors import UsageError

if TYPE_CHECKING:
    from ..config import Config
    from ..meters import MeterSet

SOURCE = "wattmeter or BMC reading given to `impactlib calibrate --wall-watts`"


def check_wall_watts(wall_w: float) -> None:
    """A usable wall reading, or the one-line reason."""
    if not math.isfinite(wall_w) or wall_w <= 0:
        raise UsageError(
            f"--wall-watts {wall_w:g}: give the power a wattmeter or the BMC shows at the "
            "server's input while it is idle, in watts (a positive number)"
        )


def calibrate_platform(config: Config, wall_w: float, seconds: float) -> None:
    """Measure every domain for ``seconds``, store ``wall_w`` minus them, print the result."""
    from .._time import iso_utc, now_utc
    from ..attribution.platform_power import PlatformPower
    from ..attribution.power_model import save_platform
    from ..identity import host_name
    from ..meters import MeterSettings, open_meters

    meters = open_meters(MeterSettings.of(config, via_daemon=False))
    try:
        if meters.platform is not None:
            raise UsageError(
                f"--wall-watts: this host has a wall meter ({meters.platform.domain.method}), "
                "so its platform domain is measured; --wall-watts is for hosts without one"
            )
        parts_w = _power_now(meters, seconds)
    finally:
        meters.close()
    metered = sum(parts_w.values())
    listed = ", ".join(f"{d} {w:.1f} W" for d, w in parts_w.items())
    if wall_w <= metered:
        raise UsageError(
            f"--wall-watts {wall_w:g}: the meters and models here already read "
            f"{metered:.1f} W ({listed}); take the wall reading again while the machine is idle"
        )
    platform = PlatformPower(
        watts=wall_w - metered,
        wall_w=wall_w,
        parts_w=parts_w,
        source=SOURCE,
        set_at=iso_utc(now_utc(), timespec="seconds"),
    )
    path = save_platform(config, host_name(), platform)
    typer.echo(
        f"Platform power of {host_name()}: {platform.watts:.1f} W = {wall_w:g} W at the wall "
        f"- {metered:.1f} W read here over {seconds:g} s ({listed})"
    )
    typer.echo(f"saved to {path}")


def _power_now(meters: MeterSet, seconds: float) -> dict[str, float]:
    """Each domain's mean power over ``seconds`` (measured, or its model's)."""
    from ..meters.base import Tick

    def reading() -> tuple[float, dict[str, float]]:
        try:
            machine = meters.machine.read()
        except (OSError, ValueError):
            machine = None
        now = time.monotonic()
        return now, meters.decode(meters.capture(), Tick(now, machine))

    start, first = reading()
    time.sleep(seconds)
    end, last = reading()
    span = end - start
    return {d: max(last[d] - first[d], 0.0) / span for d in last if d in first and span > 0}
