"""Entry point: builds the typer app from the command modules and turns errors into one line.

Any :class:`~impactlib.errors.ImpactError` (bad input, unknown zone, unwritable store...)
ends the command with its one-line message on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer

from ..errors import ImpactError

COMMAND_MODULES = (
    "run",
    "hardware",
    "report",
    "demo",
    "intensity",
    "schedule",
    "estimate",
    "pepr",
    "calibrate",
    "metrics",
)


def build_app() -> typer.Typer:
    """Assemble the app; each command lives in ``impactlib.cli.<name>``."""
    app = typer.Typer(
        name="impactlib",
        help="Energy and carbon of computations: measured, attributed, explained.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__package__}.{name}").register(app)
    return app


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; ImpactError becomes one line and exit 2."""
    app = build_app()
    try:
        app(args=argv, prog_name="impactlib", standalone_mode=True)
    except ImpactError as exc:
        typer.echo(f"impactlib: error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
