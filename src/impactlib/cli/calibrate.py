"""``impactlib calibrate``: measure this host's power against its load, fit and save the model.

The load is stepped with burner processes (0, then more, up to one per usable CPU), a few
seconds per level, while every *measured* energy domain and the machine's busy CPUs are
read every second. Each second gives one (mean power, mean busy CPUs) point per
domain and :mod:`impactlib.attribution.power_model` fits the line. The regression is on the
machine's *total* busy CPUs, so a machine that is already busy calibrates too: background
work only moves the points along the same line; the burners run at the lowest priority
(nice 19), taking CPUs nobody else wants. What cannot be loaded (a machine busy on every
CPU) shows up as too narrow a load range, and the command says so.

Burners are killed when the command ends for any reason (Ctrl-C and SIGTERM included) and,
should the command itself be killed outright, stop on their own shortly after the last step.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any, NamedTuple

import typer

from ..errors import MeterError, UsageError
from .common import config_from

if TYPE_CHECKING:
    from ..attribution.power_model import DomainPowerModel, FitOutcome, PowerPoint
    from ..meters import MeterSet

# One point per domain every second: /proc/stat counts CPU time in 10 ms ticks, so a
# shorter interval's busy CPUs (and the power they explain) are mostly rounding.
SAMPLE_S = 1.0
MAX_DEFAULT_STEPS = 9  # 0 burners and eight loaded levels, however many CPUs
BURNER_GRACE_S = 5.0  # a burner outlives the planned calibration by this much at most

# What to do about each reason a fit is refused (power_model.Refusal).
FIXES = {
    "few-points": "give more --seconds",
    "narrow-load": "run it when some CPUs are idle, so that the burners can load them",
    "no-energy": "check that the counter advances (`impactlib hardware`)",
    "erratic": "run it when the machine is quieter, or with more --seconds",
    "negative": "run it when the machine is quieter, or with more --seconds",
}

BURNER = """
import os, sys, time
os.nice(19)  # take only CPUs nobody else wants: other users' work goes first
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    pass
"""


class Reading(NamedTuple):
    """Cumulative counters at one instant."""

    monotonic_s: float
    busy_s: float
    energy_j: Mapping[str, float]


class StepResult(NamedTuple):
    """What one load level showed, for the progress line."""

    busy_cpus: float
    power_w: Mapping[str, float]


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. a container's limit)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def load_levels(steps: int, cpus: int) -> list[int]:
    """``steps`` burner counts spread evenly from 0 to ``cpus`` (repeats dropped)."""
    return sorted({round(i * cpus / (steps - 1)) for i in range(steps)})


def calibrate_command(
    steps: int = typer.Option(
        None,
        "--steps",
        help="Load levels, from idle to one burner per CPU (default: CPUs + 1, at most 9).",
    ),
    seconds: float = typer.Option(4.0, "--seconds", help="Seconds at each load level."),
    powercap_root: str = typer.Option(None, "--powercap-root", help="Powercap sysfs root."),
    power_model: str = typer.Option(
        None, "--power-model", help="File to save the model to (default: per host)."
    ),
    wall_watts: float = typer.Option(
        None,
        "--wall-watts",
        help="Idle power at the wall (W, wattmeter or BMC): store what the meters miss.",
    ),
) -> None:
    """Measure idle power and watts per busy CPU of every measured domain; save the model.

    With --wall-watts (no wall meter): store the wall reading minus the meters."""
    from ..attribution.power_model import load_power_model, refine, table_lines
    from ..identity import host_name
    from ..meters import MeterSettings, open_meters

    if wall_watts is not None:
        from .calibrate_platform import calibrate_platform, check_wall_watts

        check_wall_watts(wall_watts)
        if steps is not None:
            raise UsageError("--steps: not used with --wall-watts (read at idle, no load)")
        if seconds < SAMPLE_S:
            raise UsageError(f"--seconds {seconds:g}: need at least {SAMPLE_S:g}")
        config = config_from(powercap_root=powercap_root, power_model=power_model)
        calibrate_platform(config, wall_watts, seconds)
        return
    cpus = usable_cpus()
    steps = min(cpus + 1, MAX_DEFAULT_STEPS) if steps is None else steps
    if steps < 2:
        raise UsageError(f"--steps {steps}: need at least 2 (idle and one loaded level)")
    if seconds < 2 * SAMPLE_S:
        raise UsageError(f"--seconds {seconds:g}: need at least {2 * SAMPLE_S:g} per level")
    config = config_from(powercap_root=powercap_root, power_model=power_model)
    meters = open_meters(MeterSettings.of(config))
    try:
        domains = _measured_domains(meters)
        levels = load_levels(steps, cpus)
        burners = ", ".join(map(str, levels))
        _say(
            f"Calibrating {host_name()}: {len(levels)} load levels ({burners} "
            f"burners) x {seconds:g} s, measuring {', '.join(domains)}. The fit is on the "
            "machine's total busy CPUs, so work already running only adds points."
        )
        points = _measure(meters, domains, levels, seconds)
    except KeyboardInterrupt:
        _say("impactlib: calibration interrupted; nothing saved")
        raise typer.Exit(130) from None
    finally:
        meters.close()
    fitted = _fit_all(points)
    _existing, problem = load_power_model(config, host_name())
    if problem:
        _say(f"note: ignored (the new model is saved anyway): {problem}")
    model, path = refine(config, host_name(), fitted)
    typer.echo(f"Host power model of {model.host}: power = idle + W/CPU x busy CPUs")
    for line in table_lines(model):
        typer.echo(line)
    typer.echo(f"saved to {path}")


def _measured_domains(meters: MeterSet) -> list[str]:
    """The domains worth calibrating; :class:`MeterError` when nothing is measured here."""
    domains = [d.id for d in meters.domains() if d.quality == "measured"]
    if domains:
        return domains
    why = [exc for exc in meters.unavailable if exc.meter == "rapl"] or meters.unavailable
    detail = "; ".join(str(exc) for exc in why) or "no RAPL or GPU energy meter found"
    raise MeterError(
        f"nothing to calibrate: no energy counter can be read here ({detail}); calibrate "
        "needs RAPL or a GPU counter: run it on the host as root, or give --powercap-root"
    )


def _measure(
    meters: MeterSet, domains: Sequence[str], levels: Sequence[int], seconds: float
) -> dict[str, list[PowerPoint]]:
    """Step through the load levels; every ``SAMPLE_S`` gives one point per domain."""
    points: dict[str, list[PowerPoint]] = {d: [] for d in domains}
    lifetime = len(levels) * seconds + BURNER_GRACE_S
    with Burners(lifetime) as burners:
        last = _read(meters, domains)
        for index, level in enumerate(levels):
            burners.grow_to(level)
            step = _run_level(meters, domains, last, seconds, points)
            last = step.last
            _say(_progress_line(index + 1, len(levels), level, step.result))
    return points


class _Level(NamedTuple):
    """The last reading of a level (where the next one starts) and what it showed."""

    last: Reading
    result: StepResult


def _run_level(
    meters: MeterSet,
    domains: Sequence[str],
    last: Reading,
    seconds: float,
    points: dict[str, list[PowerPoint]],
) -> _Level:
    """Hold the current load for ``seconds``, adding one point per domain per sample."""
    from ..attribution.power_model import PowerPoint

    first = last
    end = last.monotonic_s + seconds
    while last.monotonic_s + SAMPLE_S / 2 < end:
        time.sleep(max(0.0, min(last.monotonic_s + SAMPLE_S, end) - time.monotonic()))
        now = _read(meters, domains)
        dt = now.monotonic_s - last.monotonic_s
        if dt > 0:
            busy = (now.busy_s - last.busy_s) / dt
            for domain, joules in now.energy_j.items():
                before = last.energy_j.get(domain)
                if before is not None:
                    points[domain].append(PowerPoint((joules - before) / dt, busy))
        last = now
    span = last.monotonic_s - first.monotonic_s
    power = {
        d: (last.energy_j[d] - first.energy_j[d]) / span
        for d in domains
        if d in last.energy_j and d in first.energy_j and span > 0
    }
    busy_cpus = (last.busy_s - first.busy_s) / span if span > 0 else 0.0
    return _Level(last, StepResult(busy_cpus, power))


def _read(meters: MeterSet, domains: Sequence[str]) -> Reading:
    """Every measured domain's cumulative joules (the platform's too: the wall minus the
    others, at the same moment) and the machine's busy CPU-seconds."""
    from ..meters.base import Tick

    machine = meters.machine.read()
    now = time.monotonic()
    energy = meters.decode(meters.capture(), Tick(now, machine))
    return Reading(now, machine.busy_s, {d: j for d, j in energy.items() if d in domains})


def _fit_all(points: Mapping[str, Sequence[PowerPoint]]) -> dict[str, DomainPowerModel]:
    """Fit every domain; :class:`MeterError` naming the reason and its fix when none could
    be fitted (a domain that could not, beside others that could, is only noted)."""
    from ..attribution.power_model import try_fit

    fitted: dict[str, DomainPowerModel] = {}
    refused: list[FitOutcome] = []
    for domain, series in points.items():
        outcome = try_fit(series, domain, "calibrated")
        if outcome.model is not None:
            fitted[domain] = outcome.model
        else:
            refused.append(outcome)
    if not fitted:
        fixes = dict.fromkeys(FIXES[o.refusal] for o in refused if o.refusal in FIXES)
        raise MeterError(
            f"calibration failed, nothing saved: {'; '.join(str(o.problem) for o in refused)}; "
            f"{'; '.join(fixes)}"
        )
    for outcome in refused:
        _say(f"not fitted: {outcome.problem}")
    return fitted


class Burners:
    """The burner processes, every one killed and reaped when the block ends, however.

    Ctrl-C and SIGTERM both end the command as ``KeyboardInterrupt`` (SIGTERM would
    otherwise kill the command and leave its burners running), except while a burner is
    being started or the burners are being killed: a signal landing between the fork and
    the list append would orphan that burner, so it is held back until the burner is on
    the list (and until every burner is gone).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, lifetime_s: float) -> None:
        self.lifetime_s = lifetime_s
        self.processes: list[subprocess.Popen[bytes]] = []
        self._holding = False
        self._held_back = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Burners:
        for signum in self.SIGNALS:
            self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        self._holding = True  # a second Ctrl-C must not stop the killing half-way
        for process in self.processes:
            process.kill()
        for process in self.processes:
            process.wait()
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        if self._held_back and exc[0] is None:
            raise KeyboardInterrupt

    def grow_to(self, count: int) -> None:
        """Start burners until ``count`` run."""
        while len(self.processes) < count:
            self._holding = True
            try:
                self.processes.append(
                    subprocess.Popen(
                        [sys.executable, "-c", BURNER, f"{self.lifetime_s:.1f}"],
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            finally:
                self._holding = False
            if self._held_back:
                raise KeyboardInterrupt

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._holding:
            self._held_back = True
        else:
            raise KeyboardInterrupt


def _progress_line(index: int, count: int, burners: int, step: StepResult) -> str:
    powers = ", ".join(f"{d} {w:.1f} W" for d, w in step.power_w.items())
    return (
        f"  level {index}/{count}: {burners} burner{'s' if burners != 1 else ''}, "
        f"{step.busy_cpus:.2f} busy CPUs; {powers}"
    )


def _say(line: str) -> None:
    """Progress and notes go to stderr, so stdout holds only the model."""
    typer.echo(line, err=True)


def register(app: typer.Typer) -> None:
    """Add ``calibrate`` to the app."""
    app.command("calibrate")(calibrate_command)
