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

The command's exit code, or the signal it died of, passes through. Signals are passed on to
the command; under SLURM a SIGTERM, or the death of the batch shell that started
``impactlib run``, is the job being cancelled, and the run ends ``cancelled``
(:mod:`.run_signals`). The command finds its run id in ``IMPACTLIB_RUN_ID``, so that it, or a
later ``impactlib metrics``, can attach task metrics to its own record, and ``impactlib
count`` its units of work (the summary then gives its figures per unit).

A store that is damaged or cannot be reached is no reason not to run the command: the
tracker keeps the run in a fallback store, one warning line says so when the command starts,
and the summary's "saved to" names the store that holds the run.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import typer

from ..config import ARGUMENT, KEYS, RUN_ID_VARIABLE
from ..errors import EstimateWarning, ImpactError, UsageError
from .common import config_from, summary_lines, wrap_lines
from .run_signals import RunSignals

if TYPE_CHECKING:
    from ..tracker import Tracker

COMMAND_METAVAR = "-- CMD [ARGS]..."
USAGE = f"impactlib run [OPTIONS] {COMMAND_METAVAR}"


def _allowed(key: str, what: str) -> str:
    """Help text that lists the values the configuration accepts (one source of truth)."""
    return f"{what}: {KEYS[key].allowed}."


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


def _store_for_child(tracker: Tracker) -> str | None:
    """The store the command must name to find its run: the fallback store that replaced
    the configured one, or the store given on the command line (None: its own settings
    name the configured store)."""
    from ..store import fallback_store_paths

    if tracker.store_location in {str(path) for path in fallback_store_paths()}:
        return tracker.store_location
    if tracker.config.store and tracker.config.sources.get("store") == ARGUMENT:
        return tracker.config.store
    return None


def _stored_model(tracker: Tracker) -> Mapping[str, Any] | None:
    """The run's ``model`` field as stored now: the units of work ``impactlib count`` added
    from inside the command, for the summary's figures per unit (None where the store
    cannot be read again: the summary goes on without them)."""
    from ..store import open_store

    store = _store_for_child(tracker)
    try:
        found = open_store(tracker.config if store is None else config_from(store=store))
        record = found.get_run(tracker.run_id)
    except ImpactError as exc:
        typer.echo(f"impactlib: warning: no figures per unit ({exc})", err=True)
        return None
    return None if record is None else record.model


def _spawn(cmd: list[str], tracker: Tracker) -> subprocess.Popen[bytes]:
    """Start the command with its run id in its environment (and the store, when given on
    the command line or replaced by a fallback store, so that ``impactlib metrics`` inside
    it finds the run); bad names are one line."""
    env = {**os.environ, RUN_ID_VARIABLE: tracker.run_id}
    if (store := _store_for_child(tracker)) is not None:
        env["IMPACTLIB_STORE"] = store
    try:
        return subprocess.Popen(cmd, env=env)
    except (FileNotFoundError, PermissionError) as exc:
        tracker.stop("failed")
        what = "not found" if isinstance(exc, FileNotFoundError) else "not executable"
        raise UsageError(f"command {what}: {cmd[0]}; check the name, path and permissions") from exc


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
        help=_allowed("save_interval", "Checkpoint interval (at most what a kill -9 loses)"),
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
    budget_warn_share: str | None = typer.Option(
        None,
        "--budget-warn-share",
        metavar="SHARE",
        help=_allowed("budget_warn_share", "Warn at this share of the project's budget"),
    ),
    slurm_project: str | None = typer.Option(
        None,
        "--slurm-project",
        help=_allowed("slurm_project", "Project of a run inside a SLURM job, where none is set"),
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No summary at the end."),
) -> None:
    """Run CMD and measure the energy and carbon of its process tree.

    impactlib's options go before CMD; everything from CMD on is CMD's, with or without --.
    """
    from ..slurm.job import detect
    from ..slurm.scope import place
    from ..tracker import Tracker

    parent = os.getppid()  # under SLURM, the batch shell: its death ends the job
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
        budget_warn_share=budget_warn_share,
        slurm_project=slurm_project,
    )
    # The tracker opens the store: one that is damaged or cannot be reached is replaced by a
    # fallback store, with one warning line, and the command runs all the same.
    tracker = Tracker(config, command=shlex.join(cmd), new_process=True, placer=place)
    # What the summary's notes say, where the user reads the figures (or, with --quiet,
    # chose not to); a fallback store is still said at once, in one line.
    warnings.filterwarnings("ignore", category=EstimateWarning)
    try:
        tracker.start()  # baseline first: the whole command falls inside the window
    except Exception as exc:  # measuring must never stop the command
        typer.echo(f"impactlib: warning: not measuring ({exc})", err=True)
    child = _spawn(cmd, tracker)
    tracker.attach(child.pid)
    signals = RunSignals(child.pid, tracker, slurm=detect(os.environ) is not None, parent=parent)
    signals.install()
    _, wait_status, usage = os.wait4(child.pid, 0)
    signals.reaped()
    code = os.waitstatus_to_exitcode(wait_status)
    child.returncode = code
    tracker.account_exit(usage.ru_utime + usage.ru_stime)
    status = signals.status(code)
    footprint = tracker.stop(status)
    if footprint is not None and not quiet:
        job = tracker.placement.record.get("slurm") if tracker.placement else None
        summary = summary_lines(
            footprint, tracker.run_id, status, tracker.store_location, job, _stored_model(tracker)
        )
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
