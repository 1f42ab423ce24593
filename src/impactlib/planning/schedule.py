"""Carbon-aware scheduling: when to start a job so its mean forecast intensity is lowest.

The forecast is a step function (one value per half hour or hour). The mean intensity of a
job of length ``d`` started at ``s`` is the integral of that step function over
``[s, s + d]`` divided by ``d``. As ``s`` moves, the integral is piecewise linear, with
corners only where ``s`` or ``s + d`` crosses a step boundary; a minimum of a piecewise
linear function lies at a corner or an end of the range. So the exact best start is found
by evaluating only: now, every step start, every step end minus ``d``, and the latest
allowed start. (``tests/test_schedule.py`` checks this against a minute-by-minute brute
force.)

Public API: :func:`parse_duration`, :func:`best_window`, :func:`find_window`,
:func:`scheduler_commands`, :func:`run_at`, :class:`Window`.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .._time import UTC, iso_z, utc
from ..carbon.base import IntensitySeries
from ..errors import ProviderError, UsageError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")


def parse_duration(text: str | timedelta, *, allow_zero: bool = False) -> timedelta:
    """``90m``, ``6h``, ``1h30m``, ``2d``, ``45s`` (or a timedelta) -> timedelta > 0.

    A bare number is refused rather than guessed (minutes? hours?). ``allow_zero`` accepts
    ``0m`` (a ``within`` of zero means "now or not at all").
    """
    floor = timedelta(0)
    if isinstance(text, timedelta):
        if text < floor or (text == floor and not allow_zero):
            raise UsageError(f"bad duration {text}: must be positive")
        return text
    raw = str(text).strip().lower().replace(" ", "")
    pos = 0
    seconds = 0.0
    for match in _DURATION.finditer(raw):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not raw or pos != len(raw) or seconds < 0 or (seconds == 0 and not allow_zero):
        raise UsageError(
            f"bad duration {text!r}: use a number with a unit, such as 90m, 6h, 1h30m or 2d"
        )
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """``timedelta(hours=1, minutes=30)`` -> ``1h30m`` (whole minutes)."""
    minutes = int(round(delta.total_seconds() / 60))
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{mins}m" if mins else ""]
    return "".join(parts) or "0m"


@dataclass(frozen=True)
class Window:
    """The chosen start and what it saves.

    ``now_intensity`` is the mean forecast intensity over the job if it started now, so
    ``saving_pct = 100 * (1 - mean_intensity / now_intensity)``.
    """

    start: datetime
    end: datetime
    mean_intensity: float
    now_intensity: float
    saving_pct: float
    zone: str
    source: str
    basis: str
    forecast_end: datetime

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``impactlib schedule --format json``."""
        return {
            "start": iso_z(self.start),
            "end": iso_z(self.end),
            "duration_s": (self.end - self.start).total_seconds(),
            "mean_intensity": round(self.mean_intensity, 3),
            "now_intensity": round(self.now_intensity, 3),
            "saving_pct": round(self.saving_pct, 3),
            "zone": self.zone,
            "source": self.source,
            "basis": self.basis,
            "forecast_end": iso_z(self.forecast_end),
            "unit": "gCO2e/kWh",
        }


def _covered_until(series: IntensitySeries, start: datetime) -> datetime | None:
    """End of the gap-free run of points that covers ``start``; None if ``start`` is not
    covered."""
    covered: datetime | None = None
    for point in series.points:
        if covered is None:
            if point.start <= start < point.end:
                covered = point.end
        elif point.start <= covered:
            covered = max(covered, point.end)
        else:
            break
    return covered


def _integral(series: IntensitySeries, start: datetime, end: datetime) -> float:
    """The integral of the step function over ``[start, end]`` (g/kWh x seconds)."""
    total = 0.0
    for point in series.points:
        lo, hi = max(point.start, start), min(point.end, end)
        if hi > lo:
            total += point.g_per_kwh * (hi - lo).total_seconds()
    return total


def best_window(
    series: IntensitySeries,
    duration: timedelta | str,
    *,
    within: timedelta | str | None = None,
    now: datetime | None = None,
) -> Window:
    """The start in ``[now, now + within]`` minimising mean forecast intensity over the job.

    The job must fit inside the forecast: a forecast that ends before ``now + duration``
    raises :class:`UsageError` saying how far it reaches. Ties go to the earliest start.
    """
    length = parse_duration(duration)
    now = utc(now or datetime.now(UTC)).replace(microsecond=0)
    horizon = _covered_until(series, now)
    first = series.points[0].start if series.points else None
    if horizon is None and first is not None and now < first <= now + _step(series):
        # Hourly forecasts may begin at the next hour: "now" is then the first value.
        now = first
        horizon = _covered_until(series, now)
    if horizon is None:
        raise ProviderError(
            f"the {series.source} forecast for {series.zone} does not cover now "
            f"({iso_z(now)}); it spans {_span(series)}"
        )
    if now + length > horizon:
        raise UsageError(
            f"the {series.source} forecast for {series.zone} reaches only "
            f"{format_duration(horizon - now)} ahead (to {iso_z(horizon)}), shorter than the "
            f"{format_duration(length)} job; shorten --duration or schedule a later part"
        )
    latest = horizon - length
    if within is not None:
        latest = min(latest, now + parse_duration(within, allow_zero=True))
    candidates = {now, latest}
    for point in series.points:
        for edge in (point.start, point.end - length):
            if now <= edge <= latest:
                candidates.add(edge)
    seconds = length.total_seconds()
    scored = sorted((_integral(series, s, s + length) / seconds, s) for s in candidates)
    best_mean, best_start = scored[0]
    now_mean = _integral(series, now, now + length) / seconds
    # Float noise must not make "now" lose to an equal later window.
    if now_mean - best_mean <= 1e-9 * max(1.0, abs(now_mean)):
        best_mean, best_start = now_mean, now
    saving = 100.0 * (1.0 - best_mean / now_mean) if now_mean > 0 else 0.0
    return Window(
        start=best_start,
        end=best_start + length,
        mean_intensity=best_mean,
        now_intensity=now_mean,
        saving_pct=saving,
        zone=series.zone,
        source=series.source,
        basis=series.basis,
        forecast_end=horizon,
    )


def _step(series: IntensitySeries) -> timedelta:
    return timedelta(seconds=max(series.resolution_s, 0.0))


def _span(series: IntensitySeries) -> str:
    if not series.points:
        return "nothing"
    return f"{iso_z(series.points[0].start)} to {iso_z(series.points[-1].end)}"


def find_window(
    duration: timedelta | str,
    *,
    within: timedelta | str = "24h",
    zone: str | None = None,
    now: datetime | None = None,
    **config: Any,
) -> Window:
    """Fetch the forecast for the configured (or given) zone and return the best window.

    ``config`` takes the same keys as :func:`impactlib.config.load_config`. Raises
    :class:`ProviderError` when no provider forecasts the zone or the provider fails.
    """
    from ..carbon.location import locate
    from ..carbon.select import forecast_for
    from ..config import load_config

    length = parse_duration(duration)
    span = parse_duration(within, allow_zero=True)
    settings = load_config({**config, "zone": zone} if zone else config)
    zone_name = locate(settings).zone
    start = utc(now or datetime.now(UTC))
    series = forecast_for(settings, zone_name, start, start + span + length)
    return best_window(series, length, within=span, now=start)


def scheduler_commands(window: Window, argv: Sequence[str]) -> dict[str, str]:
    """Shell lines that start ``argv`` at ``window.start`` with ``at``, systemd or SLURM.

    Every argument is quoted with :func:`shlex.quote`; nothing from the input reaches a shell
    unquoted. ``at`` and ``sbatch --begin`` read local time, so the local time is given;
    ``systemd-run --on-calendar`` gets an explicit UTC stamp.
    """
    if not argv:
        raise UsageError("no command given: put it after --, e.g. impactlib schedule -- make")
    local = window.start.astimezone()
    command = shlex.join(argv)
    calendar = window.start.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return {
        "at": f"echo {shlex.quote(command)} | at -t {local:%Y%m%d%H%M.%S}",
        "systemd-run": (
            f"systemd-run --user --on-calendar={shlex.quote(calendar)} "
            f"--timer-property=AccuracySec=1s -- {command}"
        ),
        "sbatch": (
            f"sbatch --begin={local:%Y-%m-%dT%H:%M:%S} "
            f"--time={_slurm_time(window.end - window.start)} --wrap={shlex.quote(command)}"
        ),
    }


def _slurm_time(delta: timedelta) -> str:
    minutes = max(1, int(-(-delta.total_seconds() // 60)))
    days, rest = divmod(minutes, 1440)
    return f"{days}-{rest // 60:02d}:{rest % 60:02d}:00"


def run_at(
    window: Window,
    argv: Sequence[str],
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Wait until ``window.start``, run ``argv`` (no shell) and return its exit code.

    Sleeps in steps of at most a minute so a suspended laptop or a changed clock does not
    oversleep by hours.
    """
    if not argv:
        raise UsageError("no command given: put it after --, e.g. impactlib schedule -- make")
    while True:
        left = (window.start - clock()).total_seconds()
        if left <= 0:
            break
        sleep(min(left, 60.0))
    try:
        return subprocess.call(list(argv))
    except FileNotFoundError as exc:
        raise UsageError(f"command not found: {argv[0]}") from exc
    except PermissionError as exc:
        raise UsageError(f"command not executable: {argv[0]}") from exc
