"""``impactlib demo``: train two real models of different sizes and measure both end to end.

The workload is scikit-learn's bundled handwritten-digits data (no download), trained with
an MLP at two widths, one epoch at a time so the per-epoch energy is recorded too. Each
training is a tracked run in the default store, so `impactlib report` shows them afterwards.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import typer

from ..errors import UsageError
from .common import config_from

if TYPE_CHECKING:
    from rich.table import Table

MODELS = (("mlp-small", (32,)), ("mlp-large", (512, 512)))


def _train(
    name: str, hidden: tuple[int, ...], epochs: int, config_overrides: dict[str, Any]
) -> dict[str, Any]:
    import warnings

    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    from ..report.figures import quality_label
    from ..tracker import Tracker

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x / 16.0, y, test_size=0.25, random_state=0)
    model = MLPClassifier(hidden_layer_sizes=hidden, random_state=0, max_iter=1, warm_start=True)
    tracker = Tracker(
        config_from(experiment=f"digits-{name}", **config_overrides),
        command=f"impactlib demo ({name})",
    )
    started = time.perf_counter()
    with tracker, warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(epochs):
            model.fit(x_train, y_train)
            tracker.epoch_end()
        accuracy = float(model.score(x_test, y_test))
        params = sum(w.size for w in model.coefs_) + sum(b.size for b in model.intercepts_)
        tracker.log_metrics(accuracy=accuracy, params=int(params))
    fp = tracker.footprint
    assert fp is not None
    return {
        "model": name,
        "params": int(params),
        "accuracy": accuracy,
        "wall_s": time.perf_counter() - started,
        "energy_kwh": fp.energy_kwh,
        "emissions_kg": fp.emissions_kg,
        "quality": quality_label(c.quality for c in fp.components),
        "run_id": tracker.run_id,
        "footprint": fp,
    }


def demo_command(
    epochs: int = typer.Option(60, "--epochs", help="Training epochs per model."),
    project: str = typer.Option("impactlib-demo", "--project", "-p"),
    country: str = typer.Option(None, "--country", help="ISO country code for carbon intensity."),
    store: str = typer.Option(None, "--store", help="SQLite path or SQLAlchemy URL."),
) -> None:
    """Train two MLPs on scikit-learn's digits and compare their footprints and PePR."""
    try:
        import sklearn  # noqa: F401
    except ImportError as exc:
        raise UsageError("the demo needs scikit-learn; fix: pip install 'impactlib[demo]'") from exc
    from rich.console import Console

    from ..store import open_store
    from .common import summary_lines, wrap_lines

    if epochs < 1:
        raise UsageError(f"--epochs must be >= 1 (got {epochs})")
    overrides = {"project": project, "country": country, "store": store}
    location = open_store(config_from(**overrides)).location
    # Plain text: the summary's "[model-tdp, estimated]" and any path are not rich markup.
    console = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)
    results = []
    for name, hidden in MODELS:
        console.print(f"training {name} {hidden} on digits for {epochs} epochs...")
        result = _train(name, hidden, epochs, overrides)
        summary = summary_lines(result["footprint"], result["run_id"], "completed", location)
        for line in wrap_lines(summary):
            console.print(line)
        results.append(result)
    Console(markup=False).print(_table(results, _pepr(results)))
    closing = [
        "PePR-E = accuracy / (1 + energy min-max normalised over these two models).",
        f"Runs saved in {location}: see `impactlib report --project {project}`.",
    ]
    for line in wrap_lines(closing):
        console.print(line)


def _table(results: list[dict[str, Any]], scores: list[float | None]) -> Table:
    """The two models side by side, in the units ``impactlib report`` uses (80 columns).

    Quality is a column only when the models differ in it; otherwise the title says it.
    """
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from ..units import J_PER_KWH, format_duration_s, format_energy_j, format_mass_kg

    qualities = sorted({r["quality"] for r in results})
    title = "Two models, same data: footprint and PePR-E"
    if len(qualities) == 1:
        title += f" ({qualities[0]})"
    table = Table(
        title=Text(title),
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
    )
    table.add_column("model", no_wrap=True)
    for column in ("params", "accuracy", "wall time", "energy", "CO2e"):
        table.add_column(column, justify="right", no_wrap=True)
    if len(qualities) > 1:
        table.add_column("quality", overflow="fold")
    table.add_column("PePR-E", justify="right", no_wrap=True)
    for r, score in zip(results, scores, strict=True):
        cells = (
            r["model"],
            f"{r['params']:,}",
            f"{r['accuracy']:.3f}",
            format_duration_s(r["wall_s"]),
            format_energy_j(r["energy_kwh"] * J_PER_KWH),
            format_mass_kg(r["emissions_kg"]),
            *([r["quality"]] if len(qualities) > 1 else []),
            "-" if score is None else f"{score:.3f}",
        )
        table.add_row(*(Text(c) for c in cells))
    return table


def _pepr(results: list[dict[str, Any]]) -> list[float | None]:
    """PePR-E of each model, or None where it is undefined (equal energies)."""
    from ..errors import ImpactError
    from ..planning.pepr import pepr_scores

    try:
        return list(
            pepr_scores([r["accuracy"] for r in results], [r["energy_kwh"] for r in results])
        )
    except ImpactError:
        return [None] * len(results)


def register(app: typer.Typer) -> None:
    """Add ``demo`` to the app."""
    app.command("demo")(demo_command)
