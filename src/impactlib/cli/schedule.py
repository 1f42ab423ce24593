"""``impactlib schedule --duration 6h [-- CMD ...]``: start when the grid is cleanest.

Without CMD it prints the best window. With CMD it waits for the window and runs CMD (its
exit code passes through), or with ``--print`` prints the ``at``, ``systemd-run`` and
``sbatch`` lines that would do the same, so a cluster user can hand the wait to the
scheduler instead of holding a terminal open.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime

import typer

from .._time import now_utc, parse_user_time
from ..errors import UsageError
from .common import config_from


def _parse_now(text: str | None) -> datetime | None:
    return parse_user_time(text) if text else None


def schedule_command(
    ctx: typer.Context,
    duration: str = typer.Option(..., "--duration", "-d", help="Job length: 90m, 6h, 1h30m, 2d."),
    within: str = typer.Option("24h", "--within", "-w", help="Latest start, from now."),
    zone: str = typer.Option(None, "--zone", "-z", help="Zone (GB, GB-13, DE with a key...)."),
    country: str = typer.Option(None, "--country", help="ISO country code."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
    print_only: bool = typer.Option(
        False, "--print", help="Print at / systemd-run / sbatch lines instead of waiting."
    ),
    now: str = typer.Option(None, "--now", hidden=True, help="Pretend it is this UTC time."),
) -> None:
    """Find the start that minimises the job's mean forecast carbon intensity."""
    from ..carbon.location import locate
    from ..carbon.select import forecast_for
    from ..planning.schedule import (
        best_window,
        format_duration,
        parse_duration,
        run_at,
        scheduler_commands,
    )

    if fmt not in ("table", "json"):
        raise UsageError(f"bad --format {fmt!r}: use table or json")
    length = parse_duration(duration)
    span = parse_duration(within, allow_zero=True)
    cmd = list(ctx.args)
    config = config_from(zone=zone, country=country)
    zone_name, _, located_by = locate(config)
    start = _parse_now(now) or now_utc()
    series = forecast_for(config, zone_name, start, start + span + length)
    window = best_window(series, length, within=span, now=start)
    lines = scheduler_commands(window, cmd) if cmd and print_only else {}
    if fmt == "json":
        out = window.to_dict()
        out["located_by"] = located_by
        if lines:
            out["commands"] = lines
        typer.echo(json.dumps(out, indent=2))
    else:
        wait = max(window.start - start, start - start)
        typer.echo(
            f"zone {window.zone} ({window.source}): start {window.start:%Y-%m-%d %H:%M} UTC "
            f"(in {format_duration(wait)}), end {window.end:%Y-%m-%d %H:%M} UTC"
        )
        typer.echo(
            f"mean {window.mean_intensity:.0f} gCO2e/kWh vs {window.now_intensity:.0f} if started "
            f"now: {window.saving_pct:.1f}% less"
        )
        for name, line in lines.items():
            typer.echo(f"{name + ':':<13}{line}")
    if cmd and not print_only:
        if fmt == "table":
            typer.echo(f"impactlib: waiting until {window.start:%Y-%m-%d %H:%M:%S} UTC", err=True)
        sys.stdout.flush()
        code = run_at(window, cmd)
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add ``schedule`` to the app."""
    app.command(
        "schedule",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(schedule_command)
