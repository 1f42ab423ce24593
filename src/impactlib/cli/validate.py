"""``impactlib validate``: a run's machine energy against a reference power series.

The series, the rules and the figures are :mod:`impactlib.report.reference`'s; this module
reads the options, prints the comparison and, with ``--save``, stores the host factor in the
run's host power model (:func:`impactlib.attribution.power_model.save_host_factor`). The
procedure for a lab is in docs/validation.md.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..errors import UsageError
from ..report import reference as ref
from ..units import J_PER_KWH
from .common import config_from

if TYPE_CHECKING:
    from ..config import Config


def validate_command(
    reference: Path = typer.Option(
        ..., "--reference", help="CSV of timestamp,watts: a wattmeter's or the BMC's readings."
    ),
    run: str = typer.Option(..., "--run", help="The run to compare (id or unique prefix)."),
    save: bool = typer.Option(
        False, "--save", help="Store the host factor in the host's power model."
    ),
    store: str = typer.Option(None, "--store", help="SQLite path or SQLAlchemy URL."),
    power_model: str = typer.Option(
        None, "--power-model", help="With --save: the model file (default: per host)."
    ),
) -> None:
    """Compare a run's machine energy with a reference meter; print the host factor."""
    from .._time import parse_utc
    from ..store import open_store, with_liveness

    series = ref.read_series(reference)
    config = config_from(store=store, power_model=power_model)
    found = open_store(config).get_run(run)
    if found is None:
        raise UsageError(f"no run '{run}' in the store; `impactlib report` lists the runs")
    record = with_liveness(found)
    fp = record.footprint
    if fp is None or fp.ended_at is None or record.status == "running":
        raise UsageError(f"run {record.id} has not finished; validate it once it has ended")
    start_s = parse_utc(fp.started_at).timestamp()
    end_s = parse_utc(fp.ended_at).timestamp()
    energy = ref.energy_over(series, start_s, end_s)
    machine = ref.machine_energy(fp)
    if energy.coverage < ref.MIN_COVERAGE and series.local_time:
        typer.echo(f"impactlib: note: {_local_time_note()}", err=True)
    comparison = ref.compare(energy, machine)
    _show(record.id, record.host, series, energy, machine, comparison)
    if save:
        _save(config, record.id, record.host, series.name, comparison)


def _wrapped(head: str, items: list[str], width: int = 76) -> list[str]:
    """``head`` and the comma-separated ``items`` in lines of ``width``, no item cut."""
    lines = [head]
    for i, item in enumerate(items):
        text = item + ("," if i < len(items) - 1 else "")
        if len(lines[-1]) + 1 + len(text) > width:
            lines.append(text)
        else:
            lines[-1] += " " + text
    return lines


def _local_time_note() -> str:
    offset = time.strftime("%z")
    return f"timestamps without an offset were read as this machine's local time (UTC{offset})"


def _show(
    run_id: str,
    host: str,
    series: ref.ReferenceSeries,
    energy: ref.ReferenceEnergy,
    machine: ref.MachineEnergy,
    comparison: ref.Comparison,
) -> None:
    """The comparison, one figure a line."""
    typer.echo(f"Run {run_id} on {host}, {energy.duration_s:.0f} s")
    typer.echo(
        f"  reference    {comparison.reference_j / J_PER_KWH:.6g} kWh  {series.name}, "
        f"{energy.readings} readings over {energy.coverage:.1%} of the run"
    )
    typer.echo(f"  measured     {comparison.measured_j / J_PER_KWH:.6g} kWh  the machine's meters")
    typer.echo(f"  error        {comparison.error:+.1%}  (measured - reference) / reference")
    typer.echo(f"  host factor  {comparison.host_factor:.3f}  reference / measured")
    for line in _wrapped("machine energy, without PUE:", ref.domains_texts(machine.domains)):
        typer.echo(f"  {line}")
    if energy.coverage < 1.0:
        typer.echo(
            f"  note: the series covers {energy.coverage:.1%} of the run; the rest is taken "
            "at its mean power"
        )
    if series.local_time:
        typer.echo(f"  note: {_local_time_note()}")
    if machine.estimated:
        typer.echo(f"  note: estimated by a model, not metered: {', '.join(machine.estimated)}")


def _save(config: Config, run_id: str, host: str, name: str, comparison: ref.Comparison) -> None:
    """Store the factor with its provenance in the host's model (its fits are kept)."""
    from .._time import iso_utc, now_utc
    from ..attribution.power_model import HostFactor, save_host_factor
    from ..errors import ImpactError

    factor = HostFactor(
        factor=comparison.host_factor,
        reference_kwh=comparison.reference_j / J_PER_KWH,
        measured_kwh=comparison.measured_j / J_PER_KWH,
        reference=name,
        run_id=run_id,
        validated_at=iso_utc(now_utc(), timespec="seconds"),
    )
    try:
        path = save_host_factor(config, host, factor)
    except OSError as exc:
        raise ImpactError(f"the host factor was not saved: {exc}") from exc
    typer.echo(f"saved the host factor of {host} to {path}")


def register(app: typer.Typer) -> None:
    """Add ``validate`` to the app."""
    app.command("validate")(validate_command)
