"""Keras 3: a ``Callback`` that measures every ``model.fit``, epoch by epoch, on any backend.

::

    from impactlib.integrations.keras import ImpactCallback

    history = model.fit(x, y, epochs=10, callbacks=[ImpactCallback(project="cnn")])
    history.history["impact/energy_kwh_epoch"]

Each fit is one stored run with one energy reading per epoch. The epoch's figures are
added to the epoch's ``logs``, so the progress bar prints them and ``History`` keeps them,
as do a CSVLogger or TensorBoard callback listed after this one (Keras hands each callback
the logs in list order); after ``predict_after`` epochs the predicted total is printed
once. The training samples of each epoch are counted (the count Keras's loss mean keeps), so
every report gives the run's figures per sample. Measuring does not depend on the backend.
Model metrics (parameters, size, FLOPs) are counted with PyTorch, so they are logged with
the torch backend only, once, on ``example_input`` or a zero batch of one shaped like the
model's input. Keras has no
failure event: a fit that raises ends its run ``failed`` when the program ends on the
exception (the tracker's exit handling) or, where it is caught (a notebook), when the next
fit starts. Needs ``pip install 'impactlib[keras]'``.
"""

from __future__ import annotations

from typing import Any

from ..tracker import Tracker
from . import missing_extra
from .epochs import PREFIX, EpochCallbackFigures, EpochEnergy

try:
    import keras
except ImportError as exc:
    raise missing_extra("Keras", "keras") from exc


class ImpactCallback(EpochCallbackFigures, keras.callbacks.Callback):
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
        super().__init__()
        self.energy = EpochEnergy(tracker, predict_after=predict_after, **config)
        self.example_input = example_input
        self.prefix = prefix
        self._epoch_uncounted = False  # an epoch's samples are yet to be counted

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.energy.start(self.params.get("epochs"))
        if keras.backend.backend() == "torch":
            example = self.example_input
            if example is None:
                example = _zero_batch(self.model)
            self.energy.log_model(self.model, example)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_uncounted = True

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._count_epoch()  # validation is about to reset the loss mean that counted them

    def _count_epoch(self) -> None:
        """Count the epoch's training samples, once: Keras's loss mean, reset when an epoch
        begins, counts the samples each training step averaged the loss over (every
        backend's ``train_step`` weighs it by the batch's size)."""
        if not self._epoch_uncounted:
            return
        self._epoch_uncounted = False
        loss = next((m for m in self.model.metrics if m.name == "loss"), None)
        seen = getattr(loss, "count", None)
        if seen is not None:
            samples = float(keras.ops.convert_to_numpy(seen))
            self.energy.count(int(samples) if samples.is_integer() else samples)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._count_epoch()
        figures = self.energy.epoch_end()
        if figures is not None and logs is not None:
            logs.update(figures.metrics(self.prefix))

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self.energy.stop()


def _zero_batch(model: Any) -> Any:
    """A batch of one zero sample per model input, where every input's shape is known
    (None for a subclassed model that was never given an ``Input``)."""
    try:
        inputs = list(model.inputs)
    except (AttributeError, ValueError):
        return None
    shapes = [tuple(i.shape[1:]) for i in inputs]
    if not shapes or any(None in shape for shape in shapes):
        return None
    batch = [keras.ops.zeros((1, *shape)) for shape in shapes]
    # model_metrics spreads a tuple over positional arguments: a Keras model takes one list
    return batch[0] if len(batch) == 1 else (batch,)
