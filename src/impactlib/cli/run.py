"""``impactlib run [OPTIONS] -- CMD [ARGS]...``: measure a command's process tree.

impactlib's own options come before the command, and only there: from the command's first
word on, every argument belongs to the command, with or without ``--``. Otherwise
``impactlib run python train.py -e 50 -q`` would take ``-e 50 -q`` for itself and run the
script without them. The parser stops at the first positional word because the command's
context forbids interspersed arguments. Unknown options are let through the parser only so
that they reach :func:`_command` and are reported there in one line, not as a usage box.

The options are the configuration keys a run needs; each is also settable as
``IMPACTLIB_<KEY>`` or in ``impactlib.toml``, and the configuration layer validates all three
forms alike (numbers are therefore taken as text here, so a bad one gets the same one-line
message whichever way it was given).

The command's exit code, or the signal it died of, passes through. The command finds its run
id in ``IMPACTLIB_RUN_ID``, so that it, or a later ``impactlib metrics``, can attach task
metrics to its own record.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
from typing import TYPE_CHECKING

import typer

from ..config import ARGUMENT, KEYS
from ..errors import UsageError
from .common import config_from, summary_lines, wrap_lines

if TYPE_CHECKING:
    from ..tracker import Tracker

FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
INTERRUPTS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT}
# Not a configuration key: it names one run, and must never become a setting for the next.
RUN_ID_VARIABLE = "IMPACTLIB_RUN_ID"
COMMAND_METAVAR = "-- CMD [ARGS]..."
USAGE = f"impactlib run [OPTIONS] {COMMAND_METAVAR}"


def _allowed(key: str, what: str) -> str:
    """Help text that lists the values the configuration accepts (one source of truth)."""
    return f"{what}: {KEYS[key].allowed}."


def _status(code: int) -> str:
    if code == 0:
        return "completed"
    if code < 0:
        sig = -code
        if sig == signal.SIGKILL:
            return "killed"
        return "interrupted" if sig in INTERRUPTS else "failed"
    return "failed"


def _terminal_sent_sigint() -> bool:
    """True when we are the terminal's foreground group: Ctrl-C reached the child too."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError):
        return False


def _command(args: list[str]) -> list[str]:
    """The command to run. A leading dash can only be an option of ours that we do not know:
    after ``--`` or after the first word, the parser hands everything over unread (and it
    drops the ``--``, so a command whose name starts with a dash is given by its path)."""
    if not args:
        raise UsageError(f"nothing to run; usage: {USAGE}")
    if args[0].startswith("-"):
        raise UsageError(
            f"unknown option '{args[0]}' for impactlib run; its options go before the "
            "command (see `impactlib run --help`); a command whose name starts with '-' "
            "is given by its path (./NAME)"
        )
    return args


def _spawn(cmd: list[str], tracker: Tracker) -> subprocess.Popen[bytes]:
    """Start the command with its run id in its environment (and the store, when given on
    the command line, so that ``impactlib metrics`` inside it finds the run); bad names are
    one line."""
    env = {**os.environ, RUN_ID_VARIABLE: tracker.run_id}
    if tracker.config.store and tracker.config.sources.get("store") == ARGUMENT:
        env["IMPACTLIB_STORE"] = tracker.config.store
    try:
        return subprocess.Popen(cmd, env=env)
    except (FileNotFoundError, PermissionError) as exc:
        tracker.stop("failed")
        what = "not found" if isinstance(exc, FileNotFoundError) else "not executable"
        raise UsageError(f"command {what}: {cmd[0]}; check the name, path and permissions") from exc


def _forward_signals(child: subprocess.Popen[bytes]) -> None:
    """Pass signals on to the command, so it decides how to end and we record what it did."""

    def forward(signum: int, frame: object) -> None:
        if signum == signal.SIGINT and _terminal_sent_sigint():
            return
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    for sig in (*FORWARDED, signal.SIGINT):
        signal.signal(sig, forward)


def run_command(
    ctx: typer.Context,
    project: str | None = typer.Option(None, "--project", "-p", help="Project the run belongs to."),
    experiment: str | None = typer.Option(None, "--experiment", "-e", help="Experiment name."),
    scope: str | None = typer.Option(
        None, "--scope", help=_allowed("scope", "What is measured (tree: the command's processes)")
    ),
    idle_policy: str | None = typer.Option(
        None, "--idle-policy", help=_allowed("idle_policy", "How idle power is shared")
    ),
    country: str | None = typer.Option(
        None, "--country", help=_allowed("country", "Country, for carbon intensity")
    ),
    region: str | None = typer.Option(None, "--region", help=_allowed("region", "Region")),
    zone: str | None = typer.Option(
        None, "--zone", help=_allowed("zone", "Zone (overrides --region and --country)")
    ),
    pue: str | None = typer.Option(
        None, "--pue", metavar="NUMBER", help=_allowed("pue", "Power usage effectiveness")
    ),
    interval: str | None = typer.Option(
        None, "--interval", metavar="SECONDS", help=_allowed("interval", "Sampling interval")
    ),
    save_interval: str | None = typer.Option(
        None,
        "--save-interval",
        metavar="SECONDS",
        help=_allowed("save_interval", "Checkpoint interval (what a kill -9 can lose)"),
    ),
    store: str | None = typer.Option(
        None, "--store", help=_allowed("store", "Where the run is saved")
    ),
    powercap_root: str | None = typer.Option(
        None, "--powercap-root", help=_allowed("powercap_root", "RAPL powercap root")
    ),
    intensity_source: str | None = typer.Option(
        None,
        "--intensity-source",
        help=_allowed("intensity_source", "Carbon-intensity source"),
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No summary at the end."),
) -> None:
    """Run CMD and measure the energy and carbon of its process tree.

    impactlib's options go before CMD; everything from CMD on is CMD's, with or without --.
    """
    from ..store import open_store
    from ..tracker import Tracker

    cmd = _command(list(ctx.args))
    config = config_from(
        project=project,
        experiment=experiment,
        scope=scope,
        idle_policy=idle_policy,
        country=country,
        region=region,
        zone=zone,
        pue=pue,
        interval=interval,
        save_interval=save_interval,
        store=store,
        powercap_root=powercap_root,
        intensity_source=intensity_source,
    )
    store_obj = open_store(config)  # fail on an unwritable store before starting the command
    tracker = Tracker(config, command=shlex.join(cmd), store=store_obj, new_process=True)
    try:
        tracker.start()  # baseline first: the whole command falls inside the window
    except Exception as exc:  # measuring must never stop the command
        typer.echo(f"impactlib: warning: not measuring ({exc})", err=True)
    child = _spawn(cmd, tracker)
    tracker.attach(child.pid)
    _forward_signals(child)
    _, wait_status, usage = os.wait4(child.pid, 0)
    code = os.waitstatus_to_exitcode(wait_status)
    child.returncode = code
    tracker.account_exit(usage.ru_utime + usage.ru_stime)
    footprint = tracker.stop(_status(code))
    if footprint is not None and not quiet:
        summary = summary_lines(footprint, tracker.run_id, _status(code), store_obj.location)
        for line in wrap_lines(summary):
            typer.echo(line, err=True)
    if code < 0:  # die of the same signal, so callers see what the command saw
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add ``run`` to the app; its options stop at the command's first word."""
    app.command(
        "run",
        options_metavar=f"[OPTIONS] {COMMAND_METAVAR}",
        context_settings={
            "allow_interspersed_args": False,
            "allow_extra_args": True,
            "ignore_unknown_options": True,
        },
    )(run_command)
