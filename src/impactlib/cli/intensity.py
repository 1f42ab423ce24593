"""``impactlib intensity``: the grid's carbon intensity now, over the last day, and ahead.

Shown as a table with a bar per hour (the terminal chart), or as JSON/CSV for scripts. The
live provider is chosen as for pricing a run; when it fails, the static value is shown and
stderr says why, exactly as a run record would.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from typing import Any

import typer

from .._time import iso_z, now_utc, parse_user_time
from ..carbon.base import IntensityPoint, IntensitySeries
from ..errors import ProviderError, UsageError
from .common import config_from

BARS = " ▁▂▃▄▅▆▇█"
FORMATS = ("table", "json", "csv")


def _parse_at(text: str | None) -> datetime:
    return parse_user_time(text) if text else now_utc()


def hourly(
    points: tuple[IntensityPoint, ...], start: datetime, end: datetime
) -> list[IntensityPoint]:
    """Time-weighted hourly means of ``points`` within ``[start, end)``: readable rows."""
    out: list[IntensityPoint] = []
    hour = start.replace(minute=0, second=0, microsecond=0)
    while hour < end:
        nxt = hour + timedelta(hours=1)
        weight = total = 0.0
        kinds: set[str] = set()
        for p in points:
            lo, hi = max(p.start, hour, start), min(p.end, nxt, end)
            if hi > lo:
                seconds = (hi - lo).total_seconds()
                weight += seconds
                total += p.g_per_kwh * seconds
                kinds.add(p.kind)
        if weight > 0:
            kind = kinds.pop() if len(kinds) == 1 else "estimated"
            out.append(IntensityPoint(hour, nxt, total / weight, kind))  # type: ignore[arg-type]
        hour = nxt
    return out


def sparkline(values: list[float], low: float, high: float) -> str:
    """One block character per value, scaled between ``low`` and ``high``."""
    span = high - low
    chars = []
    for v in values:
        level = 4 if span <= 0 else round((v - low) / span * (len(BARS) - 2)) + 1
        chars.append(BARS[max(1, min(level, len(BARS) - 1))])
    return "".join(chars)


def _series_dict(series: IntensitySeries) -> dict[str, Any]:
    return {
        "source": series.source,
        "zone": series.zone,
        "basis": series.basis,
        "detail": series.detail,
        "resolution_s": series.resolution_s,
        "fallback": series.fallback,
        "points": [
            {"start": iso_z(p.start), "end": iso_z(p.end), "g_per_kwh": p.g_per_kwh, "kind": p.kind}
            for p in series.points
        ],
    }


def _print_table(
    zone: str,
    located_by: str,
    now_point: IntensityPoint | None,
    history: IntensitySeries,
    past: list[IntensityPoint],
    forecast: IntensitySeries | None,
    future: list[IntensityPoint],
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    values = [p.g_per_kwh for p in past + future] or [0.0]
    low, high = min(values), max(values)
    console.print(f"[bold]Carbon intensity, zone {zone}[/bold]  ({located_by})")
    console.print(f"source {history.source}: {history.basis}; {history.detail}")
    if now_point is not None:
        console.print(
            f"now: [bold]{now_point.g_per_kwh:.0f} gCO2e/kWh[/bold] ({now_point.kind}, "
            f"from {now_point.start:%H:%M} UTC)"
            if now_point.kind != "annual"
            else f"now: [bold]{now_point.g_per_kwh:.0f} gCO2e/kWh[/bold] (annual average)"
        )
    if past:
        line = sparkline([p.g_per_kwh for p in past], low, high)
        console.print(
            f"last {len(past)} h  {line}  {min(p.g_per_kwh for p in past):.0f}-"
            f"{max(p.g_per_kwh for p in past):.0f}"
        )
    if future:
        line = sparkline([p.g_per_kwh for p in future], low, high)
        best = min(future, key=lambda p: p.g_per_kwh)
        console.print(
            f"next {len(future)} h  {line}  lowest {best.g_per_kwh:.0f} at "
            f"{best.start:%a %H:%M} UTC ({forecast.source if forecast else ''})"
        )
    rows = [("past", p) for p in past] + [("forecast", p) for p in future]
    if not rows:
        return
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("hour (UTC)")
    table.add_column("g/kWh", justify="right")
    table.add_column("kind")
    table.add_column("")
    width = 30
    for _, p in rows:
        frac = 0.0 if high <= 0 else p.g_per_kwh / high
        table.add_row(
            f"{p.start:%a %d %H:%M}",
            f"{p.g_per_kwh:.0f}",
            p.kind,
            "█" * max(1, round(frac * width)),
        )
    console.print(table)


def intensity_command(
    zone: str = typer.Option(None, "--zone", "-z", help="Zone (FR, GB, GB-13, DE...)."),
    country: str = typer.Option(None, "--country", help="ISO country code."),
    forecast: bool = typer.Option(False, "--forecast", "-f", help="Also show the forecast."),
    hours: float = typer.Option(24.0, "--hours", help="Hours of history to show."),
    fmt: str = typer.Option("table", "--format", help="table, json or csv."),
    source: str = typer.Option(None, "--source", help="auto, static, rte, gb, electricitymaps."),
    list_zones: bool = typer.Option(False, "--list", help="List the zones of the static tables."),
    at: str = typer.Option(None, "--at", help="Pretend it is this UTC time (ISO 8601)."),
) -> None:
    """Carbon intensity now, over the last hours and (with --forecast) ahead."""
    from ..carbon.location import locate
    from ..carbon.select import forecast_for, intensity_for
    from ..carbon.static import known_zones

    if fmt not in FORMATS:
        raise UsageError(f"bad --format {fmt!r}: use table, json or csv")
    if hours <= 0:
        raise UsageError(f"bad --hours {hours:g}: must be > 0")
    if list_zones:
        _print_zones(known_zones(), fmt)
        return
    config = config_from(zone=zone, country=country, intensity_source=source)
    zone_name, _, located_by = locate(config)
    now = _parse_at(at)
    start = now - timedelta(hours=hours)
    history = intensity_for(config, zone_name, start, now)
    if history.fallback:
        typer.echo(f"impactlib: warning: {history.fallback}", err=True)
    now_point = history.at(now) if history.source == "static" else history.near(now)
    fc: IntensitySeries | None = None
    forecast_error: str | None = None
    if forecast:
        try:
            fc = forecast_for(config, zone_name, now, now + timedelta(hours=48))
        except ProviderError as exc:
            forecast_error = str(exc)
            typer.echo(f"impactlib: warning: no forecast: {exc}", err=True)
    live = history.source != "static"
    past = hourly(history.points, start, now) if live else []
    future = hourly(fc.points, now, now + timedelta(hours=48)) if fc is not None else []
    if fmt == "json":
        out: dict[str, Any] = {
            "zone": zone_name,
            "located_by": located_by,
            "at": iso_z(now),
            "unit": "gCO2e/kWh",
            "now": None
            if now_point is None
            else {
                "g_per_kwh": now_point.g_per_kwh,
                "kind": now_point.kind,
                "start": iso_z(now_point.start) if live else None,
                "source": history.source,
            },
            "history": _series_dict(history),
            "forecast": _series_dict(fc) if fc is not None else None,
        }
        if forecast_error:
            out["forecast_error"] = forecast_error
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["series", "start", "end", "g_per_kwh", "kind", "source", "zone"])
        for name, series in (("history", history), ("forecast", fc)):
            if series is None:
                continue
            for p in series.points if series.source != "static" else series.points[:1]:
                writer.writerow(
                    [
                        name,
                        iso_z(p.start),
                        iso_z(p.end),
                        p.g_per_kwh,
                        p.kind,
                        series.source,
                        series.zone,
                    ]
                )
        typer.echo(buf.getvalue(), nl=False)
    else:
        _print_table(zone_name, located_by, now_point, history, past, fc, future)


def _print_zones(zones: list[Any], fmt: str) -> None:
    rows = [(z.zone, z.name, z.g_per_kwh, z.year, z.table) for z in zones]
    if fmt == "json":
        keys = ("zone", "name", "g_per_kwh", "year", "table")
        typer.echo(
            json.dumps(
                [dict(zip(keys, r, strict=True)) for r in rows], indent=2, ensure_ascii=False
            )
        )
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["zone", "name", "g_per_kwh", "year", "table"])
        writer.writerows(rows)
        typer.echo(buf.getvalue(), nl=False)
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table("zone", "name", "g/kWh", "year", show_edge=False)
        for zone, name, value, year, _ in rows:
            table.add_row(zone, name, f"{value:.0f}", year)
        Console().print(table)


def register(app: typer.Typer) -> None:
    """Add ``intensity`` to the app."""
    app.command("intensity")(intensity_command)
