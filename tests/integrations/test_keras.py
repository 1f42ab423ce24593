"""A real 2-epoch Keras fit with the torch backend, tiny model built in the test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")  # before Keras is imported: it reads it once
pytest.importorskip("keras", reason="the Keras extra is absent: pip install '.[keras]'")

import keras
import numpy as np

import impactlib
from impactlib.integrations.keras import ImpactCallback
from impactlib.store import open_store

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "torch", reason="Keras was imported earlier with another backend"
)

EPOCHS = 2


def _fit(callback: ImpactCallback, model: keras.Model | None = None) -> keras.callbacks.History:
    if model is None:
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).random((64, 4), dtype=np.float32)
    y = x.sum(axis=1)
    return model.fit(x, y, epochs=EPOCHS, batch_size=16, verbose=0, callbacks=[callback])


def test_a_fit_is_one_run_with_figures_in_the_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    callback = ImpactCallback(
        project="keras", powercap_root=str(tmp_path / "none"), country="FR", interval=0.1
    )
    history = _fit(callback)

    (run,) = open_store(impactlib.load_config({})).list_runs(project="keras")
    assert run.status == "completed" and len(run.epochs) == EPOCHS
    assert run.model is not None and run.model["params"] == 4 * 8 + 8 + 8 + 1
    assert run.model["forward_flops"] == 2 * (4 * 8 + 8 * 1)  # one sample, multiply-add = 2

    per_epoch = history.history["impact/energy_kwh_epoch"]
    assert len(per_epoch) == EPOCHS and all(e >= 0 for e in per_epoch)
    assert history.history["impact/energy_kwh"][-1] == pytest.approx(sum(per_epoch))
    assert len(history.history["impact/emissions_kg_epoch"]) == EPOCHS
    assert len(history.history["impact/predicted_energy_kwh"]) == EPOCHS

    printed = [line for line in capsys.readouterr().out.splitlines() if "predicted total" in line]
    assert len(printed) == 1 and "after 1/2 epochs" in printed[0]


def test_a_model_of_two_inputs_gets_its_metrics(tmp_path: Path) -> None:
    a, b = keras.Input((3,)), keras.Input((2,))
    out = keras.layers.Dense(1)(keras.layers.Concatenate()([a, b]))
    model = keras.Model([a, b], out)
    model.compile(optimizer="sgd", loss="mse")
    callback = ImpactCallback(project="two", powercap_root=str(tmp_path / "none"), country="FR")
    rng = np.random.default_rng(0)
    x = [rng.random((16, 3), dtype=np.float32), rng.random((16, 2), dtype=np.float32)]
    model.fit(x, np.zeros(16), epochs=EPOCHS, verbose=0, callbacks=[callback])
    (run,) = open_store(impactlib.load_config({})).list_runs(project="two")
    assert run.model is not None and run.model["params"] == 6
    assert run.model["forward_flops"] == 2 * 5


def test_the_training_samples_seen_are_counted_and_validation_is_not(tmp_path: Path) -> None:
    callback = ImpactCallback(project="k3", powercap_root=str(tmp_path / "none"), country="FR")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).random((60, 4), dtype=np.float32)  # batches 16, 16, 16, 12
    model.fit(
        x,
        x.sum(axis=1),
        epochs=EPOCHS,
        batch_size=16,
        validation_data=(x[:20], x[:20].sum(axis=1)),
        verbose=0,
        callbacks=[callback],
    )
    (run,) = open_store(impactlib.load_config({})).list_runs(project="k3")
    assert run.model is not None and run.model["units"] == {"samples": EPOCHS * 60}
