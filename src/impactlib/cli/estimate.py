"""``impactlib estimate``: energy and CO2e before running (Green Algorithms), or the rest of a
training from its first epochs (``--from-run``)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import UsageError
from ..units import G_PER_KG

if TYPE_CHECKING:
    from ..config import Config
    from ..planning.estimate import Estimate


def _location(
    country: str | None, zone: str | None, settings: Callable[[], Config]
) -> tuple[str | None, str]:
    """The zone to price with and where it came from (flags first, then configuration)."""
    if country and zone:
        raise UsageError("give --country or --zone, not both")
    if zone or country:
        return zone or country, "given"
    config = settings()
    for key in ("zone", "region", "country"):
        value = getattr(config, key)
        if value:
            return value, f"configuration ({key} from {config.sources.get(key, 'default')})"
    return None, "none"


def _pue(pue: float | None, settings: Callable[[], Config]) -> tuple[float | None, str | None]:
    """The PUE to apply and where it came from: the flag, else a configured ``pue`` (the
    tracker's setting: a lab that set its data centre's PUE expects estimates to use it),
    else none (the estimate's own default, which it states)."""
    if pue is not None:
        return pue, "given"
    config = settings()
    source = config.sources.get("pue", "default")
    if source == "default":
        return None, None
    return config.pue, f"pue setting from {source}"


def _print_estimate(result: Estimate, located: str) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ..units import J_PER_KWH, format_energy_j, format_mass_kg, format_number, format_power_w

    console = Console(highlight=False)
    table = Table(title="Green Algorithms estimate", title_justify="left")
    for name, justify in (
        ("component", "left"),
        ("count", "right"),
        ("power each", "right"),
        ("usage", "right"),
        ("power", "right"),
        ("energy", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for t in result.terms:
        plural = "s" if t.count != 1 and t.component != "memory" else ""
        cells = (
            t.component,
            f"{format_number(t.count, 4)} {t.unit}{plural}",
            f"{format_number(t.power_w, 4)} W",
            format_number(t.usage),
            format_power_w(t.watts),
            format_energy_j(t.energy_kwh * J_PER_KWH),
        )
        table.add_row(*(Text(c) for c in cells))
    console.print(table)
    for t in result.terms:  # below the table: sources are long and would squeeze the numbers
        console.print(Text(f"{t.component} power from {t.source}"))
    console.print(f"PUE {format_number(result.pue)} ({result.pue_source}); runs {result.runs}")
    console.print(Text(result.formula(), style="bold"))
    total = format_energy_j(result.energy_kwh * J_PER_KWH)
    if result.emissions_kg is None or result.intensity_g_per_kwh is None:
        console.print(f"{total}. CO2e: no location; give --country C or --zone Z to price it.")
        return
    from ..report import equivalents

    console.print(
        Text(
            f"Intensity {format_number(result.intensity_g_per_kwh)} gCO2e/kWh for {result.zone} "
            f"({located}): {result.intensity_source}"
        )
    )
    console.print(
        Text(f"{total}, {format_mass_kg(result.emissions_kg)} CO2e. ", style="bold")
        + Text(equivalents.sentence(result.emissions_kg))
    )


def _print_models(kind: str, query: str, fmt: str) -> None:
    """The bundled table rows of ``kind`` matching ``query`` (every row without one)."""
    from dataclasses import asdict

    from ..meters.tdp import models
    from ..units import format_power_w

    found = models(kind, query)
    if not found:
        what = f" matching '{query}'" if query else ""
        raise UsageError(f"no {kind} model{what} in the bundled tables; try fewer words")
    if fmt == "json":
        typer.echo(json.dumps([asdict(entry) for entry in found], indent=2))
        return
    width = min(max(len(e.name) for e in found), 40)  # a few names are far longer
    for e in found:
        power = format_power_w(e.tdp_w) if e.tdp_w else "-"
        per_core = (
            f"  {format_power_w(e.w_per_core)}/core x {e.n_cores}"
            if e.w_per_core and e.n_cores
            else ""
        )
        typer.echo(f"{e.name:<{width}}  {power:>7}{per_core}  ({e.table})")
    typer.echo(f"{len(found)} {kind} model{'s' if len(found) != 1 else ''}", err=True)


def _from_run(run_id: str, epochs: int | None, fmt: str) -> None:
    from ..config import load_config
    from ..planning.estimate import load_run, predict_from_run

    if epochs is None:
        raise UsageError("--from-run needs --epochs N (how many epochs the full training has)")
    record = load_run(run_id, load_config())
    prediction = predict_from_run(record, epochs)
    fp = record.footprint
    pue = fp.pue if fp else 1.0
    intensity = fp.carbon.mean_g_per_kwh if fp and fp.carbon else None
    out = prediction.to_dict(pue)
    out["run_id"] = run_id
    out["emissions_kg"] = (
        out["energy_kwh"] * intensity / G_PER_KG if intensity is not None else None
    )
    out["intensity_g_per_kwh"] = intensity
    if fmt == "json":
        typer.echo(json.dumps(out, indent=2))
        return
    typer.echo(f"run {run_id}: {prediction.describe(pue)}")
    if intensity is not None:
        from ..units import format_mass_kg, format_number

        def co2(kwh: float) -> str:
            return format_mass_kg(kwh * intensity / G_PER_KG)

        typer.echo(
            f"at {format_number(intensity)} gCO2e/kWh (the run's mean): "
            f"{co2(out['energy_kwh'])} CO2e "
            f"(range {co2(out['energy_kwh_low'])} to {co2(out['energy_kwh_high'])})"
        )


def register(app: typer.Typer) -> None:
    """Add the ``estimate`` command."""

    @app.command()
    def estimate(
        cpu: str | None = typer.Option(None, "--cpu", help="CPU model (bundled TDP tables)."),
        cores: float | None = typer.Option(None, "--cores", help="CPU cores used."),
        cpu_w_per_core: float | None = typer.Option(
            None, "--cpu-w-per-core", help="Power per core in W (instead of a model)."
        ),
        usage: float = typer.Option(1.0, "--usage", help="CPU core usage factor, 0-1."),
        gpu: str | None = typer.Option(None, "--gpu", help="GPU model (bundled TDP tables)."),
        gpus: float | None = typer.Option(None, "--gpus", help="Number of GPUs."),
        gpu_w: float | None = typer.Option(None, "--gpu-w", help="Power per GPU in W."),
        gpu_usage: float = typer.Option(1.0, "--gpu-usage", help="GPU usage factor, 0-1."),
        memory_gb: float = typer.Option(0.0, "--memory-gb", help="Memory requested, GB."),
        hours: float | None = typer.Option(None, "--hours", help="Run time in hours."),
        country: str | None = typer.Option(None, "--country", help="Country (FR, FRA...)."),
        zone: str | None = typer.Option(None, "--zone", help="Zone (US-CA, SE3, gcp:...)."),
        pue: float | None = typer.Option(
            None, "--pue", help="PUE (default: the pue setting, else 1.0)."
        ),
        runs: int = typer.Option(1, "--runs", help="Number of runs (e.g. HP trials)."),
        from_run: str | None = typer.Option(
            None, "--from-run", help="Predict a whole training from a stored run's epochs."
        ),
        epochs: int | None = typer.Option(None, "--epochs", help="Total epochs (--from-run)."),
        fmt: str = typer.Option("text", "--format", help="text or json."),
        list_cpus: bool = typer.Option(
            False, "--list-cpus", help="List the bundled CPU models (filtered by FILTER)."
        ),
        list_gpus: bool = typer.Option(
            False, "--list-gpus", help="List the bundled GPU models (filtered by FILTER)."
        ),
        words: Annotated[
            list[str] | None,
            typer.Argument(
                help="With --list-cpus/--list-gpus: words the model name must hold.",
                metavar="FILTER",
                show_default=False,
            ),
        ] = None,
    ) -> None:
        """Estimate energy and CO2e with the Green Algorithms formula, before running."""
        if fmt not in ("text", "json"):
            raise UsageError(f"--format must be text or json, got '{fmt}'")
        if list_cpus and list_gpus:
            raise UsageError("give --list-cpus or --list-gpus, not both")
        if list_cpus or list_gpus:
            _print_models("CPU" if list_cpus else "GPU", " ".join(words or []), fmt)
            return
        if words:
            raise UsageError(
                f"unexpected '{' '.join(words)}': a FILTER goes with --list-cpus or --list-gpus"
            )
        if from_run is not None:
            _from_run(from_run, epochs, fmt)
            return
        if hours is None:
            raise UsageError("give --hours H (the expected run time)")
        from ..config import load_config
        from ..planning.estimate import estimate as compute

        settings = functools.cache(load_config)  # read once, and only where a flag is missing
        where, located = _location(country, zone, settings)
        pue, pue_source = _pue(pue, settings)
        result = compute(
            hours=hours,
            cpu=cpu,
            cores=cores,
            cpu_w_per_core=cpu_w_per_core,
            usage=usage,
            gpu=gpu,
            gpus=gpus,
            gpu_w=gpu_w,
            gpu_usage=gpu_usage,
            memory_gb=memory_gb,
            zone=where,
            pue=pue,
            pue_source=pue_source,
            runs=runs,
        )
        if fmt == "json":
            out = result.to_dict()
            out["located_by"] = located
            typer.echo(json.dumps(out, indent=2))
        else:
            _print_estimate(result, located)
