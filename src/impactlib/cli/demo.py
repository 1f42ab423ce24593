"""``impactlib demo``: train two real models of different sizes and measure both end to end.

The workload is scikit-learn's bundled handwritten-digits data (no download), trained with
an MLP at two widths, one epoch at a time so the per-epoch energy is recorded too. Each
training is a tracked run in the default store, so `impactlib report` shows them afterwards.
"""

from __future__ import annotations

import time
from typing import Any

import typer

from ..errors import UsageError
from .common import config_from

MODELS = (("mlp-small", (32,)), ("mlp-large", (512, 512)))


def _train(
    name: str, hidden: tuple[int, ...], epochs: int, config_overrides: dict[str, Any]
) -> dict[str, Any]:
    import warnings

    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    from ..tracker import Tracker

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x / 16.0, y, test_size=0.25, random_state=0)
    model = MLPClassifier(hidden_layer_sizes=hidden, random_state=0, max_iter=1, warm_start=True)
    tracker = Tracker(
        config_from(experiment="digits-mlp", **config_overrides), command=f"impactlib demo ({name})"
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
        "quality": ", ".join(sorted({c.quality for c in fp.components})),
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
    except ImportError:
        raise UsageError(
            "the demo needs scikit-learn; fix: pip install 'impactlib[demo]'"
        ) from None
    from rich.console import Console
    from rich.table import Table

    from ..store import open_store
    from .common import summary_lines

    if epochs < 1:
        raise UsageError(f"--epochs must be >= 1 (got {epochs})")
    overrides = {"project": project, "country": country, "store": store}
    location = open_store(config_from(**overrides)).location
    console = Console(stderr=True)
    results = []
    for name, hidden in MODELS:
        console.print(f"training {name} {hidden} on digits for {epochs} epochs...")
        result = _train(name, hidden, epochs, overrides)
        for line in summary_lines(result["footprint"], result["run_id"], "completed", location):
            console.print(line, highlight=False)
        results.append(result)
    scores = _pepr(results)
    table = Table(title="Two models, same data: footprint and PePR-E")
    for column in (
        "model",
        "params",
        "accuracy",
        "wall s",
        "energy Wh",
        "g CO2e",
        "quality",
        "PePR-E",
    ):
        table.add_column(column)
    for r, score in zip(results, scores, strict=False):
        table.add_row(
            r["model"],
            f"{r['params']:,}",
            f"{r['accuracy']:.3f}",
            f"{r['wall_s']:.1f}",
            f"{r['energy_kwh'] * 1000:.4f}",
            f"{r['emissions_kg'] * 1000:.4f}",
            r["quality"],
            "-" if score is None else f"{score:.3f}",
        )
    out = Console()
    if not out.is_terminal:  # piped or captured: do not truncate the columns to 80
        out = Console(width=140)
    out.print(table)
    console.print(
        "PePR-E = accuracy / (1 + energy min-max normalised over these two models). "
        f"Runs saved in {location}: see `impactlib report --project {project}`."
    )


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
