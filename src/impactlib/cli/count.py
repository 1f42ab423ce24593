"""``impactlib count N --unit volumes``: units of work done, counted on a measured run.

A command measured with ``impactlib run`` has no tracker to call ``Tracker.count`` on, yet
its figures per unit (energy, CO2e and SCI per segmented volume, per request) need the
count. ``impactlib run`` exports ``IMPACTLIB_RUN_ID`` to its child, so a script can say
``impactlib count 1 --unit volumes`` after each subject, or ``impactlib count 10000 --unit
volumes`` once at its end; each call adds to the run's count, stored where the tracker keeps
its own (``model["units"]``, :mod:`impactlib.attribution.work`). Outside a measured command
the run is named with ``--run``: a count is never added to a run guessed for you (a count
on the wrong run would make two runs' figures per unit wrong without a word).
"""

from __future__ import annotations

import math
import os
from typing import Annotated

import typer

from ..attribution.work import DEFAULT_UNIT, UNITS_KEY, check_unit, merged_units
from ..config import RUN_ID_VARIABLE
from ..errors import UsageError
from ..store import open_store
from ..units import format_number
from .common import config_from


def parse_count(text: str) -> float:
    """``32`` or ``1.5e3`` -> a count (whole numbers stay integers); one line otherwise."""
    try:
        value = float(text)
    except ValueError as exc:
        raise UsageError(f"count '{text}' is not a number; give how many units, e.g. 32") from exc
    if not math.isfinite(value) or value < 0:
        raise UsageError(f"count '{text}': give a finite number of units done, 0 or more")
    return int(value) if value.is_integer() else value


def count_command(
    n: Annotated[
        str | None,
        typer.Argument(
            help="How many units were done (added to the run's count). Without N, show the counts.",
            metavar="N",
            show_default=False,
        ),
    ] = None,
    unit: str = typer.Option(
        DEFAULT_UNIT, "--unit", "-u", help="What was counted: volumes, requests, tokens..."
    ),
    run: str = typer.Option(
        None,
        "--run",
        help=f"Run id or unique prefix (default: the run in ${RUN_ID_VARIABLE}).",
    ),
    store: str = typer.Option(None, "--store", help="SQLite path or SQLAlchemy URL."),
) -> None:
    """Count units of work done by a run: reports give energy, CO2e and SCI per unit."""
    amount = None if n is None else parse_count(n)
    unit = check_unit(unit)
    wanted = run or os.environ.get(RUN_ID_VARIABLE)
    if not wanted:
        raise UsageError(
            "no run to count for: call this inside `impactlib run` (it sets "
            f"{RUN_ID_VARIABLE}), or name the run with --run"
        )
    store_obj = open_store(config_from(store=store))
    record = store_obj.get_run(wanted)
    if record is None:
        named_by = "given" if run else f"from {RUN_ID_VARIABLE}"
        raise UsageError(
            f"no run '{wanted}' ({named_by}) in {store_obj.location}, or the prefix is "
            "ambiguous; `impactlib report` lists the runs"
        )
    model = record.model or {}
    if amount is not None:
        model = merged_units(model, unit, amount)
        store_obj.set_model(record.id, model)
    counts = model.get(UNITS_KEY) or {}
    label = record.id[:12] + (f" ({record.experiment})" if record.experiment else "")
    shown = ", ".join(f"{format_number(v, 6)} {k}" for k, v in counts.items())
    typer.echo(f"run {label}: {shown or 'no units counted'}")


def register(app: typer.Typer) -> None:
    """Add ``count`` to the app."""
    app.command("count")(count_command)
