"""Energy per epoch and the prediction of a whole training: what every integration shares.

A framework's callback calls :meth:`EpochEnergy.epoch_end` when an epoch ends, and
:meth:`EpochEnergy.count` with the training samples it saw (the run's unit of work, so every
report gives energy, CO2e and SCI per sample). It marks the
epoch on the tracker (:meth:`~impactlib.tracker.Tracker.epoch_end`: the stored run keeps one
cumulative reading per epoch, which ``impactlib estimate --from-run`` reads back), turns the
readings into this epoch's energy and CO2e and, from ``predict_after`` epochs on, predicts
the whole training with :func:`~impactlib.planning.estimate.predict_from_epochs`: the mean
epoch times the epochs left, with the range the cheapest and the dearest epoch give. The
first prediction is printed, once (a line per epoch would drown the trainer's own output);
later ones ride along in the figures handed to the trainer's loggers.

Unlike CarbonTracker's predictor (the first epoch only by default, PUE 1.58 hard-coded) the
prediction uses every epoch seen so far, the configured PUE, and shows its spread.

CO2e per epoch is the tracker's running figure, priced with the zone's annual intensity;
the final record prices each minute with the configured source, so the stored total may
differ slightly from the sum of the epochs'.

Measuring must never end the training it watches: once started, nothing here raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from .._lifecycle import RunContext
from ..api import init
from ..errors import UsageError
from ..footprint import Footprint
from ..log import log
from ..planning.estimate import EpochPrediction, predict_from_epochs
from ..tracker import Tracker

PREFIX = "impact/"  # metric names: one group in every logger's UI
SAMPLES = "samples"  # the unit of work every trainer counts


class EpochFigures(NamedTuple):
    """One epoch's energy and CO2e, the training's so far, and the prediction once made."""

    epoch: int  # epochs ended since the training began (1 for the first)
    energy_kwh: float  # this epoch, PUE included
    emissions_kg: float  # this epoch, operational CO2e
    total_energy_kwh: float  # since the training began, PUE included
    total_emissions_kg: float
    prediction: EpochPrediction | None  # energies in J before PUE, as the run stores them
    pue: float

    def metrics(self, prefix: str = PREFIX) -> dict[str, float]:
        """Flat name -> number, the shape every logger takes; the predicted total and its
        range are in kWh with the PUE, like the other energies."""
        out = {
            f"{prefix}energy_kwh_epoch": self.energy_kwh,
            f"{prefix}emissions_kg_epoch": self.emissions_kg,
            f"{prefix}energy_kwh": self.total_energy_kwh,
            f"{prefix}emissions_kg": self.total_emissions_kg,
        }
        if self.prediction is not None:
            predicted = self.prediction.to_dict(self.pue)
            out[f"{prefix}predicted_energy_kwh"] = predicted["energy_kwh"]
            out[f"{prefix}predicted_energy_kwh_low"] = predicted["energy_kwh_low"]
            out[f"{prefix}predicted_energy_kwh_high"] = predicted["energy_kwh_high"]
        return out


def footprint_metrics(footprint: Footprint, prefix: str = PREFIX) -> dict[str, float]:
    """A run's totals as flat metrics: energy (PUE included) in all and per component kind,
    CO2e, duration, and the embodied share where it is known."""
    out = {
        f"{prefix}energy_kwh": footprint.energy_kwh,
        f"{prefix}emissions_kg": footprint.emissions_kg,
        f"{prefix}duration_s": footprint.duration_s,
    }
    for kind in sorted({c.component for c in footprint.components}):
        out[f"{prefix}energy_kwh_{kind}"] = footprint.component_kwh(kind)
    if footprint.embodied_kg is not None:
        out[f"{prefix}embodied_kg"] = footprint.embodied_kg
    return out


class _Reading(NamedTuple):
    """The tracker's running figures at one moment."""

    energy_j: float  # before PUE, as the run's epoch readings
    energy_kwh: float  # PUE included
    emissions_kg: float

    @classmethod
    def of(cls, footprint: Footprint | None) -> _Reading:
        if footprint is None:
            return cls(0.0, 0.0, 0.0)
        return cls(footprint.energy_j, footprint.energy_kwh, footprint.emissions_kg)


class EpochEnergy(RunContext):
    """One training measured epoch by epoch: the core of every integration.

    Given ``tracker`` it measures with that one (starting it if need be) and leaves it
    running for its owner to stop; otherwise it makes its own from ``config`` (checked here,
    so a wrong setting fails when the callback is created, not after the first epoch) and
    starts a new run at every :meth:`start`. ``on_epoch`` receives each epoch's figures
    (an experiment tracker's log call); ``echo`` prints the first prediction (None: silent).
    """

    def __init__(
        self,
        tracker: Tracker | None = None,
        *,
        total_epochs: int | None = None,
        predict_after: int = 1,
        on_epoch: Callable[[EpochFigures], None] | None = None,
        echo: Callable[[str], None] | None = print,
        **config: Any,
    ) -> None:
        if predict_after < 1:
            raise UsageError(f"predict_after must be at least 1 epoch, got {predict_after}")
        if tracker is not None and config:
            raise UsageError(
                f"give either a tracker or settings for a new one, not both (got {sorted(config)})"
            )
        self.tracker = tracker if tracker is not None else init(**config)
        self.owns_tracker = tracker is None
        self.total_epochs = total_epochs
        self.predict_after = predict_after
        self.on_epoch = on_epoch
        self.echo = echo
        self.epochs: list[EpochFigures] = []
        self._config = config
        self._readings: list[float] = []  # energy (J, before PUE) since start, per epoch
        self._start = self._last = _Reading.of(None)
        self._model_logged = self._announced = False

    @property
    def footprint(self) -> Footprint | None:
        """The run's figures: up to now while it runs, final once stopped."""
        return self.tracker.footprint

    @property
    def prediction(self) -> EpochPrediction | None:
        """The latest prediction of the whole training (None before ``predict_after``)."""
        return self.epochs[-1].prediction if self.epochs else None

    def start(self, total_epochs: int | None = None) -> EpochEnergy:
        """Measure from now on; ``total_epochs`` (where the trainer only knows it now, and
        only if positive: Lightning says -1 for "until stopped") enables the prediction."""
        if total_epochs is not None:
            self.total_epochs = total_epochs if total_epochs > 0 else None
        if self.owns_tracker and self.tracker.status == "running":
            # The previous training never reached its end: it raised, and the exception was
            # caught (a notebook cell, a retry loop). Its epochs are not this one's.
            self.tracker.stop("failed")
        if self.owns_tracker and self.tracker.status == "stopped":
            self.tracker = init(**self._config)  # a second fit: a run of its own
        if self.tracker.status == "created":  # a borrowed one may be started here too
            self.tracker.start()
        self.epochs, self._readings = [], []
        self._model_logged = self._announced = False
        self._start = self._last = _Reading.of(self.tracker.footprint)
        return self

    def epoch_end(self) -> EpochFigures | None:
        """Mark the end of an epoch and return its figures (also given to ``on_epoch``);
        None where this process does not measure (another rank of the job does)."""
        if self.tracker.status != "running":
            return None
        try:
            figures = self._mark_epoch()
            if self.on_epoch is not None:
                self.on_epoch(figures)
        except Exception:  # ours or a logger's: the training must go on either way
            log.exception("impactlib: epoch %d not fully recorded", len(self._readings))
            return None
        return figures

    def _mark_epoch(self) -> EpochFigures:
        now = _Reading.of(self.tracker.epoch_end())  # the figures the mark recorded
        before, self._last = self._last, now
        self._readings.append(now.energy_j - self._start.energy_j)
        pue = self.tracker.config.pue
        figures = EpochFigures(
            epoch=len(self._readings),
            energy_kwh=now.energy_kwh - before.energy_kwh,
            emissions_kg=now.emissions_kg - before.emissions_kg,
            total_energy_kwh=now.energy_kwh - self._start.energy_kwh,
            total_emissions_kg=now.emissions_kg - self._start.emissions_kg,
            prediction=self._predict(),
            pue=pue,
        )
        self.epochs.append(figures)
        if figures.prediction is not None and not self._announced:
            self._announced = True
            if self.echo is not None:
                self.echo(f"impactlib: {figures.prediction.describe(pue)}")
        return figures

    def _predict(self) -> EpochPrediction | None:
        total = self.total_epochs
        if total is None or not self.predict_after <= len(self._readings) <= total:
            return None
        try:
            return predict_from_epochs(self._readings, total)
        except UsageError as exc:  # a reading below the previous one: an idle floor revised
            log.info("impactlib: no prediction after epoch %d: %s", len(self._readings), exc)
            return None

    def log_model(self, model: Any, example_input: Any) -> None:
        """Attach the model's metrics (parameters, size, FLOPs on ``example_input``) to the
        run, once per run; nothing without an example input, since FLOPs need one."""
        if self._model_logged or example_input is None:
            return
        self._model_logged = True
        try:
            self.tracker.log_model(model, example_input)
        except Exception as exc:  # a model the FLOP counter cannot run must not stop training
            log.warning("impactlib: no model metrics for this run: %s", exc)

    def count(self, samples: float) -> None:
        """``samples`` more training samples seen (the trainer's count, for the figures per
        sample: :meth:`~impactlib.tracker.Tracker.count`); never raises into the training."""
        if self.tracker.status != "running" or samples <= 0:
            return
        try:
            self.tracker.count(samples, SAMPLES)
        except Exception:  # ours: the training must go on
            log.exception("impactlib: %s samples not counted", samples)

    def stop(self, status: str = "completed") -> Footprint | None:
        """Finish the run with ``status`` if this object made its tracker (a borrowed one
        goes on for its owner); the footprint either way."""
        if self.owns_tracker:
            return self.tracker.stop(status)
        return self.tracker.footprint


class EpochCallbackFigures:
    """What every framework callback shows of its :class:`EpochEnergy` (``self.energy``)."""

    energy: EpochEnergy

    @property
    def footprint(self) -> Footprint | None:
        """The latest training's figures."""
        return self.energy.footprint

    @property
    def prediction(self) -> EpochPrediction | None:
        """The latest prediction of the whole training."""
        return self.energy.prediction


@contextmanager
def measured_epochs(
    tracker: Tracker | None,
    *,
    total_epochs: int | None,
    predict_after: int,
    on_epoch: Callable[[EpochFigures], None],
    on_end: Callable[[Footprint, int], None],
    **config: Any,
) -> Iterator[EpochEnergy]:
    """The block an experiment logger's ``track()`` measures, as one run: each epoch's
    figures go to ``on_epoch``; the final footprint and the number of epochs to ``on_end``,
    also when the block raises."""
    energy = EpochEnergy(
        tracker,
        total_epochs=total_epochs,
        predict_after=predict_after,
        on_epoch=on_epoch,
        **config,
    )
    try:
        with energy:
            yield energy
    finally:
        footprint = energy.footprint
        if footprint is not None:
            on_end(footprint, len(energy.epochs))


def batch_size(*args: Any, **kwargs: Any) -> int | None:
    """The number of samples in a model's inputs: the first dimension of the first array
    found (positional arguments first, then keyword ones, inside lists, tuples and dicts);
    None where there is none (a scalar, no array)."""
    for value in (*args, *kwargs.values()):
        found = _first_dimension(value)
        if found is not None:
            return found
    return None


def _first_dimension(value: Any) -> int | None:
    shape = getattr(value, "shape", None)
    if shape is not None:
        return int(shape[0]) if len(shape) >= 1 else None
    if isinstance(value, dict):
        return batch_size(**{str(k): v for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return batch_size(*value)
    return None
