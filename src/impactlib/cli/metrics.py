"""``impactlib metrics [RUN] KEY=VALUE...``: attach task metrics to a stored run.

A command measured with ``impactlib run`` has no tracker object to call
``Tracker.log_metrics`` on, yet PePR and the reports need its performance (accuracy, Dice,
BLEU...). This command attaches them afterwards, or from inside the measured command itself:
``impactlib run`` exports ``IMPACTLIB_RUN_ID`` to its child, so a training script can end with
``impactlib metrics accuracy=0.91`` and the figure lands on its own run. Metrics are stored
where ``Tracker.log_metrics`` puts them (``model["metrics"]``), merged with those already
there, so every reader finds them the same way whichever face logged them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, NamedTuple

import typer

from ..errors import UsageError
from ..store import RunRecord, Store, open_store
from ..units import format_number
from .common import config_from
from .run import RUN_ID_VARIABLE

# Columns PePR reads from the measured footprint: a metric of the same name would shadow the
# measurement, so such names are refused.
MEASURED_COLUMNS = frozenset(
    {
        "id",
        "label",
        "project",
        "experiment",
        "energy_kwh",
        "emissions_kg",
        "duration_s",
        "peak_memory_gb",
        "cpu_hours",
        "gpu_hours",
    }
)


class Metric(NamedTuple):
    """One ``KEY=VALUE`` from the command line."""

    key: str
    value: float


def parse_metric(text: str) -> Metric:
    """``accuracy=0.91`` -> Metric; one-line UsageError for anything else."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    example = "e.g. accuracy=0.91"
    if not sep or not key or any(c.isspace() for c in key):
        raise UsageError(f"'{text}' is not KEY=VALUE ({example})")
    if key in MEASURED_COLUMNS:
        raise UsageError(
            f"'{key}' is a measured figure of every run, not a metric; give the metric "
            f"another name (e.g. test_{key})"
        )
    try:
        value = float(raw)
    except ValueError as exc:
        raise UsageError(
            f"metric '{key}' = '{raw}' is not a number; give KEY=NUMBER ({example})"
        ) from exc
    if not math.isfinite(value):
        raise UsageError(f"metric '{key}' = '{raw}' is not a finite number")
    # Whole numbers stay integers, as the Python API stores log_metrics(params=1200).
    return Metric(key, int(value) if value.is_integer() and "." not in raw else value)


def _split(items: Sequence[str]) -> tuple[str | None, list[Metric]]:
    """The optional leading RUN and the metrics that follow it."""
    run = items[0] if items and "=" not in items[0] else None
    return run, [parse_metric(item) for item in items[1 if run is not None else 0 :]]


def target_run(store: Store, run: str | None, environ: Mapping[str, str]) -> RunRecord:
    """The run named on the command line, else by ``IMPACTLIB_RUN_ID``, else the latest."""
    wanted, named_by = run, "given"
    if wanted is None and environ.get(RUN_ID_VARIABLE):
        wanted, named_by = environ[RUN_ID_VARIABLE], f"from {RUN_ID_VARIABLE}"
    if wanted is None:
        runs = store.list_runs()
        if not runs:
            raise UsageError(f"no runs in {store.location} yet; measure one with `impactlib run`")
        return max(runs, key=lambda r: r.started_at)
    record = store.get_run(wanted)
    if record is None:
        raise UsageError(
            f"no run '{wanted}' ({named_by}) in {store.location}, or the prefix is ambiguous; "
            "`impactlib report` lists the runs"
        )
    return record


def attach(store: Store, record: RunRecord, metrics: Sequence[Metric]) -> dict[str, Any]:
    """Merge ``metrics`` into the run's stored ones (later values win); return them all."""
    model = dict(record.model or {})
    merged = {**model.get("metrics", {}), **{m.key: m.value for m in metrics}}
    store.set_model(record.id, {**model, "metrics": merged})
    return merged


def metrics_command(
    items: Annotated[
        list[str] | None,
        typer.Argument(
            help="[RUN] KEY=VALUE... RUN is a run id or unique prefix (default: the run in "
            f"${RUN_ID_VARIABLE}, else the latest run). Without KEY=VALUE, show the metrics.",
            metavar="RUN KEY=VALUE",
        ),
    ] = None,
    store: str = typer.Option(None, "--store", help="SQLite path or SQLAlchemy URL."),
) -> None:
    """Attach task metrics (accuracy, F1...) to a run, e.g. for `impactlib pepr`."""
    run, metrics = _split(items or [])
    store_obj = open_store(config_from(store=store))
    record = target_run(store_obj, run, os.environ)
    shown = (
        attach(store_obj, record, metrics)
        if metrics
        else dict((record.model or {}).get("metrics") or {})
    )
    label = record.id[:12] + (f" ({record.experiment})" if record.experiment else "")
    typer.echo(f"run {label}: {_listing(shown)}")


def _listing(metrics: Mapping[str, Any]) -> str:
    """``accuracy=0.91, params=1200``: floats to six significant digits, never as 1e-05."""
    if not metrics:
        return "no metrics attached"
    return ", ".join(
        f"{k}={format_number(v, 6) if isinstance(v, float) else v}" for k, v in metrics.items()
    )


def register(app: typer.Typer) -> None:
    """Add ``metrics`` to the app."""
    app.command("metrics")(metrics_command)
