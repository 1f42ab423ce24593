"""``impactlib hardware``: what can be measured here, what cannot, and the exact fix."""

from __future__ import annotations

import typer

from .common import config_from


def hardware_command(
    powercap_root: str = typer.Option(None, "--powercap-root", help="Powercap sysfs root."),
) -> None:
    """Show every meter found, its method and quality, and how to enable the missing ones."""
    from rich.console import Console
    from rich.table import Table

    from ..meters import open_meters
    from ..planning.hardware import local_cpu_model

    config = config_from(powercap_root=powercap_root)
    meters = open_meters(config)
    console = Console()
    table = Table(title="What impactlib measures on this machine")
    for column in ("domain", "component", "method", "scope", "quality", "provenance"):
        table.add_column(column)
    for d in meters.domains():
        table.add_row(d.id, d.component, d.method, d.scope, d.quality, d.note)
    console.print(table)
    console.print(f"CPU model: {local_cpu_model(config.procfs_root) or 'unknown'}")
    if meters.unavailable:
        console.print("[bold]Not measured here:[/bold]")
        for exc in meters.unavailable:
            fix = f"\n    fix: {exc.fix}" if exc.fix else ""
            console.print(f"  - {exc.meter}: {exc.reason}{fix}", highlight=False)
    meters.close()


def register(app: typer.Typer) -> None:
    """Add ``hardware`` to the app."""
    app.command("hardware")(hardware_command)
