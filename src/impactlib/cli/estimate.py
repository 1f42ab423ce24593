"""``impactlib estimate``: energy and CO2e before running (Green Algorithms), or the rest of a
training from its first epochs (``--from-run``)."""

from __future__ import annotations

import json

import typer

from ..errors import UsageError


def _location(country: str | None, zone: str | None) -> tuple[str | None, str]:
    """The zone to price with and where it came from (flags first, then configuration)."""
    if country and zone:
        raise UsageError("give --country or --zone, not both")
    if zone or country:
        return zone or country, "given"
    from ..config import load_config

    config = load_config()
    for key in ("zone", "region", "country"):
        value = getattr(config, key)
        if value:
            return value, f"configuration ({key} from {config.sources.get(key, 'default')})"
    return None, "none"


def _print_estimate(result: object, located: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from ..planning.estimate import Estimate

    assert isinstance(result, Estimate)
    console = Console(highlight=False)
    table = Table(title="Green Algorithms estimate", title_justify="left")
    for name, justify in (
        ("component", "left"),
        ("count", "right"),
        ("W each", "right"),
        ("usage", "right"),
        ("W", "right"),
        ("kWh", "right"),
        ("power from", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for t in result.terms:
        table.add_row(
            t.component,
            f"{t.count:g} {t.unit}",
            f"{t.power_w:g}",
            f"{t.usage:g}",
            f"{t.watts:.4g}",
            f"{t.energy_kwh:.4g}",
            t.source,
        )
    console.print(table)
    console.print(f"PUE {result.pue:g} ({result.pue_source}); runs {result.runs}")
    console.print(f"[bold]{result.formula()}[/bold]")
    if result.emissions_kg is None:
        console.print("CO2e: no location; give --country C or --zone Z to price the energy.")
    else:
        from ..report import equivalents

        console.print(
            f"Intensity {result.intensity_g_per_kwh:g} gCO2e/kWh for {result.zone} "
            f"({located}): {result.intensity_source}"
        )
        console.print(
            f"[bold]{result.energy_kwh:.4g} kWh, {result.emissions_kg:.4g} kg CO2e[/bold]. "
            + equivalents.sentence(result.emissions_kg)
        )


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
    out["emissions_kg"] = out["energy_kwh"] * intensity / 1000.0 if intensity is not None else None
    out["intensity_g_per_kwh"] = intensity
    if fmt == "json":
        typer.echo(json.dumps(out, indent=2))
        return
    typer.echo(f"run {run_id}: {prediction.describe(pue)}")
    if out["emissions_kg"] is not None:
        typer.echo(
            f"at {intensity:g} gCO2e/kWh (the run's mean): {out['emissions_kg']:.4g} kg CO2e "
            f"(range {out['energy_kwh_low'] * intensity / 1000:.4g}-"
            f"{out['energy_kwh_high'] * intensity / 1000:.4g})"
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
        pue: float | None = typer.Option(None, "--pue", help="PUE (default 1.0)."),
        runs: int = typer.Option(1, "--runs", help="Number of runs (e.g. HP trials)."),
        from_run: str | None = typer.Option(
            None, "--from-run", help="Predict a whole training from a stored run's epochs."
        ),
        epochs: int | None = typer.Option(None, "--epochs", help="Total epochs (--from-run)."),
        fmt: str = typer.Option("text", "--format", help="text or json."),
    ) -> None:
        """Estimate energy and CO2e with the Green Algorithms formula, before running."""
        if fmt not in ("text", "json"):
            raise UsageError(f"--format must be text or json, got '{fmt}'")
        if from_run is not None:
            _from_run(from_run, epochs, fmt)
            return
        if hours is None:
            raise UsageError("give --hours H (the expected run time)")
        from ..planning.estimate import estimate as compute

        where, located = _location(country, zone)
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
            runs=runs,
        )
        if fmt == "json":
            out = result.to_dict()
            out["located_by"] = located
            typer.echo(json.dumps(out, indent=2))
        else:
            _print_estimate(result, located)
