"""Weights & Biases: energy and CO2e per epoch with ``wandb.log``, totals in the run summary.

::

    import wandb
    from impactlib.integrations import wandb as impact_wandb

    wandb.init(project="unet")
    with impact_wandb.track(total_epochs=10, project="unet") as energy:
        for epoch in range(10):
            train_one_epoch()
            energy.epoch_end()       # wandb.log of impact/energy_kwh_epoch...
    wandb.finish()

W&B's system metrics record GPU power, not energy; these are the run's energy (PUE
included) and CO2e with their provenance. :func:`track` measures its block as one
impactlib run: each ``epoch_end()`` logs that epoch's figures (and the prediction, also
printed once) against ``impact/epoch``, declared as their step metric so they plot per
epoch beside the training's own steps; the end puts the totals, per component kind too,
and the whole footprint in the run summary, also when the block raises.
:func:`log_footprint` does the last part for a run measured otherwise. Works offline
(``WANDB_MODE=offline``). Needs ``pip install 'impactlib[wandb]'``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import UsageError
from ..footprint import Footprint
from ..tracker import Tracker
from . import missing_extra
from .epochs import PREFIX, EpochEnergy, EpochFigures, footprint_metrics, measured_epochs

try:
    import wandb
except ImportError as exc:
    raise missing_extra("W&B", "wandb") from exc


def _active_run() -> Any:
    if wandb.run is None:
        raise UsageError("no active W&B run to log into; fix: call wandb.init(...) first")
    return wandb.run


def log_footprint(footprint: Footprint, *, prefix: str = PREFIX) -> None:
    """Put a run's totals and its whole footprint in the active W&B run's summary."""
    summary = {**footprint_metrics(footprint, prefix), f"{prefix}footprint": footprint.to_dict()}
    _active_run().summary.update(summary)


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
    run = _active_run()
    run.define_metric(f"{prefix}epoch")
    for name in ("energy_kwh", "emissions_kg", "predicted_energy_kwh"):
        run.define_metric(f"{prefix}{name}*", step_metric=f"{prefix}epoch")

    def log_epoch(figures: EpochFigures) -> None:
        run.log({**figures.metrics(prefix), f"{prefix}epoch": figures.epoch})

    def log_end(footprint: Footprint, epochs: int) -> None:
        log_footprint(footprint, prefix=prefix)

    with measured_epochs(
        tracker,
        total_epochs=total_epochs,
        predict_after=predict_after,
        on_epoch=log_epoch,
        on_end=log_end,
        **config,
    ) as energy:
        yield energy
