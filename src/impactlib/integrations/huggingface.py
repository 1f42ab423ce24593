"""Hugging Face ``transformers``: a ``TrainerCallback`` that puts energy and CO2e in the logs.

::

    from impactlib.integrations.huggingface import attach

    trainer = Trainer(model=model, args=args, train_dataset=data)
    attach(trainer, project="bert")          # or callbacks=[ImpactCallback(project="bert")]
    trainer.train()

Each ``train()`` is one stored run with one energy reading per epoch. At each epoch end the
callback asks the Trainer to log (``control.should_log``) and adds the epoch's energy and
CO2e, the totals so far and, after ``predict_after`` epochs, the predicted total to that
log (``on_log``) and to its entry in ``state.log_history``; so every reporter sees them,
MLflow, W&B and TensorBoard included, and ``trainer_state.json`` keeps them. The first
prediction is also printed, once; the model's metrics are logged once, on its
``dummy_inputs``. The training samples are counted as they go through the model (a hook on
its forward pass in training mode: the Trainer hands its callbacks no batch), so every report
gives the run's figures per sample. (The built-in CodeCarbon callback only starts and stops a
tracker.)

The Trainer calls its callbacks in order, and the reporters named in ``report_to`` come
before those passed in ``callbacks=``: a callback can only add to a log that later ones
see. :func:`attach` therefore puts the callback first. The Trainer has no failure event:
a training that raises ends its run ``failed`` when the program ends on the exception (the
tracker's exit handling) or, where it is caught (a notebook), when the next ``train()``
starts. Needs ``pip install 'impactlib[huggingface]'``.
"""

from __future__ import annotations

from typing import Any

from ..log import log
from ..tracker import Tracker
from . import missing_extra
from .epochs import PREFIX, EpochCallbackFigures, EpochEnergy, batch_size

try:
    from transformers import Trainer, TrainerCallback, TrainerControl, TrainerState
    from transformers import TrainingArguments as Arguments
except ImportError as exc:
    raise missing_extra("Hugging Face", "huggingface") from exc


class ImpactCallback(EpochCallbackFigures, TrainerCallback):
    """Measures each ``train()`` as one run; ``config``: :func:`impactlib.init`'s settings
    (or give a running ``tracker``); metric names start with ``prefix``."""

    def __init__(
        self,
        *,
        tracker: Tracker | None = None,
        predict_after: int = 1,
        prefix: str = PREFIX,
        **config: Any,
    ) -> None:
        self.energy = EpochEnergy(tracker, predict_after=predict_after, **config)
        self.prefix = prefix
        self._pending: dict[str, float] = {}  # figures waiting for the next log
        self._counting: Any = None  # the hook that counts the samples of each forward pass

    def on_train_begin(
        self,
        args: Arguments,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        **kwargs: Any,
    ) -> None:
        self.energy.start(state.num_train_epochs)
        self._pending = {}
        if model is not None:
            self.energy.log_model(model, _example_input(model))
            self._stop_counting()  # a training that raised left its hook
            try:
                self._counting = model.register_forward_pre_hook(self._count, with_kwargs=True)
            except Exception as exc:  # not a torch module: no samples counted, training goes on
                log.warning("impactlib: training samples not counted: %s", exc)

    def _count(self, module: Any, args: Any, kwargs: Any) -> None:
        """A forward pass in training mode: its batch's samples are seen (evaluation runs
        the model in eval mode, and is not counted)."""
        if module.training and (samples := batch_size(*args, **kwargs)) is not None:
            self.energy.count(samples)

    def _stop_counting(self) -> None:
        if self._counting is not None:
            self._counting.remove()
            self._counting = None

    def on_epoch_end(
        self, args: Arguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        figures = self.energy.epoch_end()
        if figures is not None:
            self._pending = figures.metrics(self.prefix)
            control.should_log = True

    def on_log(
        self,
        args: Arguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        if not self._pending or logs is None:
            return
        logs.update(self._pending)
        if state.log_history:  # the Trainer stored a copy of this log just before
            state.log_history[-1].update(self._pending)
        self._pending = {}

    def on_train_end(
        self, args: Arguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self._pending:  # no log came after the last epoch: keep its figures in the history
            state.log_history.append({**self._pending, "step": state.global_step})
            self._pending = {}
        self._stop_counting()
        self.energy.stop()


def _example_input(model: Any) -> Any:
    """The model's own ``dummy_inputs`` on its device (None where it has none)."""
    dummy = getattr(model, "dummy_inputs", None)
    if not isinstance(dummy, dict) or not hasattr(model, "device"):
        return None
    return {name: value.to(model.device) for name, value in dummy.items()}


def attach(trainer: Trainer, **settings: Any) -> ImpactCallback:
    """Add an :class:`ImpactCallback` made with ``settings`` as ``trainer``'s first
    callback, so that every reporter, those of ``report_to`` included, gets its figures."""
    callback = ImpactCallback(**settings)
    trainer.callback_handler.callbacks.insert(0, callback)
    return callback
