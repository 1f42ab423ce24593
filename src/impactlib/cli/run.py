"""``impactlib run -- CMD``: measure a command's process tree; its exit code passes through."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys

import typer

from ..errors import UsageError
from .common import config_from, summary_lines

FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
INTERRUPTS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT}


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


def run_command(
    ctx: typer.Context,
    project: str = typer.Option(None, "--project", "-p", help="Project the run belongs to."),
    experiment: str = typer.Option(None, "--experiment", "-e", help="Experiment name."),
    scope: str = typer.Option(None, "--scope", help="tree (the command's processes) or machine."),
    country: str = typer.Option(None, "--country", help="ISO country code for carbon intensity."),
    zone: str = typer.Option(None, "--zone", help="Carbon-intensity zone (overrides --country)."),
    pue: float = typer.Option(None, "--pue", help="Power usage effectiveness (>= 1)."),
    interval: float = typer.Option(None, "--interval", help="Sampling interval in seconds."),
    store: str = typer.Option(None, "--store", help="SQLite path or SQLAlchemy URL."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No summary at the end."),
) -> None:
    """Run CMD (after --) and measure the energy and carbon of its process tree."""
    from ..tracker import Tracker

    cmd = list(ctx.args)
    if not cmd:
        raise UsageError(
            "nothing to run after `--`; usage: impactlib run [OPTIONS] -- CMD [ARGS...]"
        )
    config = config_from(
        project=project,
        experiment=experiment,
        scope=scope,
        country=country,
        zone=zone,
        pue=pue,
        interval=interval,
        store=store,
    )
    from ..store import open_store

    store_obj = open_store(config)  # fail on an unwritable store before starting the command
    tracker = Tracker(config, command=shlex.join(cmd), store=store_obj, new_process=True)
    try:
        tracker.start()  # baseline first: the whole command falls inside the window
    except Exception as exc:  # measuring must never stop the command
        typer.echo(f"impactlib: warning: not measuring ({exc})", err=True)
    try:
        child = subprocess.Popen(cmd)
    except (FileNotFoundError, PermissionError) as exc:
        tracker.stop("failed")
        what = "not found" if isinstance(exc, FileNotFoundError) else "not executable"
        raise UsageError(
            f"command {what}: {cmd[0]}; check the name, path and permissions"
        ) from None
    tracker.attach(child.pid)

    def forward(signum: int, frame: object) -> None:
        if signum == signal.SIGINT and _terminal_sent_sigint():
            return
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    for sig in (*FORWARDED, signal.SIGINT):
        signal.signal(sig, forward)
    _, wait_status, usage = os.wait4(child.pid, 0)
    code = os.waitstatus_to_exitcode(wait_status)
    child.returncode = code
    tracker.account_exit(usage.ru_utime + usage.ru_stime)
    footprint = tracker.stop(_status(code))
    if footprint is not None and not quiet:
        for line in summary_lines(footprint, tracker.run_id, _status(code), store_obj.location):
            typer.echo(line, err=True)
    if code < 0:  # die of the same signal, so callers see what the command saw
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add ``run`` to the app."""
    app.command(
        "run",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(run_command)
