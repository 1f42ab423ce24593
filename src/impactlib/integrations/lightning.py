"""PyTorch Lightning: a ``Callback`` that measures every ``trainer.fit``, epoch by epoch.

::

    import lightning as L
    from impactlib.integrations.lightning import ImpactCallback

    trainer = L.Trainer(max_epochs=10, callbacks=[ImpactCallback(project="unet")])

Each fit is one stored run with one energy reading per training epoch. The epoch's figures
are logged with ``LightningModule.log_dict``, so they reach ``trainer.callback_metrics`` and
every Lightning logger (CSV, TensorBoard, MLflow, W&B);
after ``predict_after`` epochs the predicted total is printed once. The model's metrics
(parameters, size, FLOPs) are logged once, on ``example_input`` or the module's own
``example_input_array`` (moved to its device). Each training batch's samples are counted
(Lightning's own ``extract_batch_size``), so every report gives the run's figures per sample.
A failed or interrupted fit leaves its run
``failed`` or ``interrupted``. Needs ``pip install 'impactlib[lightning]'``.
"""

from __future__ import annotations

from typing import Any

from .._lifecycle import status_for
from ..tracker import Tracker
from . import missing_extra
from .epochs import PREFIX, EpochCallbackFigures, EpochEnergy

try:
    import lightning.pytorch as pl
    from lightning.pytorch.utilities import move_data_to_device
    from lightning.pytorch.utilities.data import extract_batch_size
except ImportError as exc:
    raise missing_extra("Lightning", "lightning") from exc


class ImpactCallback(EpochCallbackFigures, pl.Callback):
    """Measures each fit as one run; ``config``: :func:`impactlib.init`'s settings (or give
    a running ``tracker``); metric names start with ``prefix``."""

    def __init__(
        self,
        *,
        tracker: Tracker | None = None,
        predict_after: int = 1,
        example_input: Any = None,
        prefix: str = PREFIX,
        **config: Any,
    ) -> None:
        self.energy = EpochEnergy(tracker, predict_after=predict_after, **config)
        self.example_input = example_input
        self.prefix = prefix

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.energy.start(trainer.max_epochs)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        example = self.example_input
        if example is None:
            example = pl_module.example_input_array
        if example is not None:
            self.energy.log_model(pl_module, move_data_to_device(example, pl_module.device))

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        try:
            samples = extract_batch_size(batch)
        except Exception:  # a batch Lightning cannot size: not counted, the fit goes on
            return
        self.energy.count(samples)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        figures = self.energy.epoch_end()
        if figures is not None:
            # batch_size: these are per-epoch numbers, not means over the epoch's batches
            pl_module.log_dict(figures.metrics(self.prefix), on_epoch=True, batch_size=1)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.energy.stop()

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self.energy.stop(status_for(exception))
