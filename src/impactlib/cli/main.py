"""Entry point: builds the typer app from the command modules and turns errors into one line.

Any :class:`~impactlib.errors.ImpactError` (bad input, unknown zone, unwritable store...)
ends the command with its one-line message on stderr and exit code 2, never a traceback; an
:class:`~impactlib.errors.ImpactWarning` (a store replaced by a fallback...) is one
``impactlib: warning:`` line, not Python's two-line warning format.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from typing import Any, NoReturn, TextIO

import typer

from .. import __version__
from ..errors import ImpactError, ImpactWarning

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
    "count",
    "slurm",
    "serve",
    "sync",
    "db",
    "imports",
    "dashboard",
    "validate",
    "budget",
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"impactlib {__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_show_version,
        is_eager=True,
        help="Show the version and exit.",
    ),
) -> None:
    """Energy and carbon of computations: measured, attributed, explained."""


def build_app() -> typer.Typer:
    """Assemble the app; each command lives in ``impactlib.cli.<name>``."""
    app = typer.Typer(
        name="impactlib",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.callback()(_root)
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__package__}.{name}").register(app)
    return app


def build_command() -> Any:
    """The click command tree of the app, with every flag's help row cleaned up."""
    command = typer.main.get_command(build_app())
    _untype_flags(command, "impactlib")
    return command


def _untype_flags(command: Any, name: str) -> None:
    """A flag takes no value, but typer's help gives it one (``--quiet  <bool>``): an empty
    metavar leaves its type column blank. ``--help`` is made per command on first use, so it
    is made here, for every command, and cleaned like the others."""
    context = command.context_class(command, info_name=name)
    for param in [*command.params, command.get_help_option(context)]:
        if param is not None and getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    for sub_name, sub in getattr(command, "commands", {}).items():
        _untype_flags(sub, sub_name)


def _one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Python's warning display, except for impactlib's own: one ``impactlib: warning:``
    line on stderr, like every other message of the CLI."""
    if not issubclass(category, ImpactWarning):
        _python_showwarning(message, category, filename, lineno, file, line)
        return
    text = str(message).removeprefix("impactlib: ")
    typer.echo(f"impactlib: warning: {text}", err=True)


_python_showwarning = warnings.showwarning


def main(argv: list[str] | None = None) -> None:
    """Run the CLI. Bad input of any kind (an :class:`ImpactError`, an unknown option, a
    missing value) becomes one line on stderr and exit code 2, never a box or a traceback."""
    from typer.exceptions import TyperException

    warnings.showwarning = _one_line_warning
    command = build_command()
    try:
        code = command(args=argv, prog_name="impactlib", standalone_mode=False)
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
