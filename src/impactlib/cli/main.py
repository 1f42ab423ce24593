"""Entry point: builds the typer app from the command modules and turns errors into one line.

Any :class:`~impactlib.errors.ImpactError` (bad input, unknown zone, unwritable store...)
ends the command with its one-line message on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import NoReturn

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
    "slurm",
    "serve",
    "sync",
    "db",
    "imports",
    "dashboard",
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
    """Run the CLI. Bad input of any kind (an :class:`ImpactError`, an unknown option, a
    missing value) becomes one line on stderr and exit code 2, never a box or a traceback."""
    from typer.exceptions import TyperException

    app = build_app()
    try:
        code = app(args=argv, prog_name="impactlib", standalone_mode=False)
    except ImpactError as exc:
        _fail(str(exc))
    except typer.Abort:
        sys.exit(130)
    except TyperException as exc:  # click's usage errors, as typer vendors them
        context = getattr(exc, "ctx", None)
        where = context.command_path if context is not None else "impactlib"
        _fail(f"{exc.format_message()} (see `{where} --help`)", getattr(exc, "exit_code", 2))
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"impactlib: error: {message}", err=True)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
