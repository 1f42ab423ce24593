"""MLflow: energy and CO2e as run metrics, the full footprint as a JSON artifact.

::

    import mlflow
    from impactlib.integrations import mlflow as impact_mlflow

    with mlflow.start_run(), impact_mlflow.track(total_epochs=10, project="unet") as energy:
        for epoch in range(10):
            train_one_epoch()
            energy.epoch_end()       # impact/energy_kwh_epoch... at step = epoch number

MLflow's own system metrics record GPU power, not energy; these are the run's energy
(PUE included) and CO2e with their provenance. :func:`track` measures its block as one
impactlib run: each ``epoch_end()`` logs that epoch's figures (and the prediction, also
printed once), and the end logs the totals, per component kind too, and the footprint as
``impactlib/footprint.json``, also when the block raises. :func:`log_footprint` does the
last part for a run measured otherwise (``ImpactCallback(...).footprint``). Both log into
the active MLflow run (MLflow starts one where none is, as for any of its log calls), on a
tracking server or a local file store alike. Needs ``pip install 'impactlib[mlflow]'``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..footprint import Footprint
from ..tracker import Tracker
from . import missing_extra
from .epochs import PREFIX, EpochEnergy, EpochFigures, footprint_metrics, measured_epochs

try:
    import mlflow
except ImportError as exc:
    raise missing_extra("MLflow", "mlflow") from exc

ARTIFACT = "impactlib/footprint.json"


def log_footprint(footprint: Footprint, *, prefix: str = PREFIX, step: int = 0) -> None:
    """Log a run's totals as metrics (at ``step``) and its footprint as a JSON artifact."""
    mlflow.log_metrics(footprint_metrics(footprint, prefix), step=step)
    mlflow.log_dict(footprint.to_dict(), ARTIFACT)


@contextmanager
def track(
    total_epochs: int | None = None,
    *,
    tracker: Tracker | None = None,
    predict_after: int = 1,
    prefix: str = PREFIX,
    **config: Any,
) -> Iterator[EpochEnergy]:
    """Measure the block; call ``epoch_end()`` on what it yields at the end of each epoch."""

    def log_epoch(figures: EpochFigures) -> None:
        mlflow.log_metrics(figures.metrics(prefix), step=figures.epoch)

    def log_end(footprint: Footprint, epochs: int) -> None:
        # the totals after the last epoch's running figures, so they are the latest
        log_footprint(footprint, prefix=prefix, step=epochs)

    with measured_epochs(
        tracker,
        total_epochs=total_epochs,
        predict_after=predict_after,
        on_epoch=log_epoch,
        on_end=log_end,
        **config,
    ) as energy:
        yield energy
