"""The shared per-epoch helper: energy per epoch, prediction printed once, never raising.

A fake powercap tree whose package counter moves only when the test advances it, measured
at machine scope, makes each epoch's energy exactly known.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
from powercap import FakePowercap

import impactlib
from impactlib.integrations.epochs import EpochEnergy, EpochFigures, footprint_metrics
from impactlib.store import open_store
from impactlib.units import J_PER_KWH

TICK_S = 0.1


def _machine(tmp_path: Path) -> tuple[FakePowercap, dict[str, Any]]:
    fake = FakePowercap(tmp_path)
    fake.add_package(0, dram=True)  # DRAM measured: no estimated memory beside the package
    settings = {
        "powercap_root": str(fake.root),
        "scope": "machine",
        "country": "FR",
        "interval": TICK_S,
        "pue": 1.5,
        "project": "epochs",
    }
    return fake, settings


def _epoch(fake: FakePowercap, joules: float) -> None:
    """An epoch that used ``joules``; measured figures end at the latest tick, so wait some."""
    fake.advance("cpu:package-0", joules)
    time.sleep(3 * TICK_S)


def test_energy_per_epoch_and_a_prediction_printed_once(tmp_path: Path) -> None:
    fake, settings = _machine(tmp_path)
    printed: list[str] = []
    seen: list[EpochFigures] = []
    energy = EpochEnergy(
        total_epochs=5, predict_after=2, echo=printed.append, on_epoch=seen.append, **settings
    )
    with energy:
        for joules in (100.0, 200.0, 300.0):
            _epoch(fake, joules)
            energy.epoch_end()

    kwh = [f.energy_kwh * J_PER_KWH / 1.5 for f in energy.epochs]
    assert kwh == pytest.approx([100.0, 200.0, 300.0])
    assert energy.epochs[-1].total_energy_kwh == pytest.approx(600 * 1.5 / J_PER_KWH)
    footprint = energy.footprint
    assert footprint is not None and footprint.carbon is not None
    g_per_kwh = footprint.carbon.mean_g_per_kwh
    for figures in energy.epochs:
        assert figures.emissions_kg == pytest.approx(figures.energy_kwh * g_per_kwh / 1000)
    assert seen == energy.epochs

    # No prediction before predict_after epochs; then so far + mean x epochs left.
    assert [f.prediction is None for f in energy.epochs] == [True, False, False]
    assert energy.epochs[1].prediction is not None
    assert energy.epochs[1].prediction.total_j == pytest.approx(300 + 150 * 3)
    assert energy.prediction is not None and energy.prediction.total_j == pytest.approx(1000)
    metrics = energy.epochs[-1].metrics()
    assert metrics["impact/predicted_energy_kwh"] == pytest.approx(1000 * 1.5 / J_PER_KWH)
    assert metrics["impact/predicted_energy_kwh_low"] == pytest.approx((600 + 200) * 1.5 / 3.6e6)
    assert metrics["impact/predicted_energy_kwh_high"] == pytest.approx(1200 * 1.5 / J_PER_KWH)
    assert len(printed) == 1 and printed[0].startswith("impactlib: after 2/5 epochs")

    (run,) = open_store(impactlib.load_config({})).list_runs(project="epochs")
    assert run.status == "completed"
    assert list(run.epochs) == pytest.approx([100.0, 300.0, 600.0])  # one reading per epoch


def test_a_borrowed_tracker_counts_from_start_and_keeps_running(tmp_path: Path) -> None:
    fake, settings = _machine(tmp_path)
    tracker = impactlib.init(**settings).start()
    _epoch(fake, 50.0)  # before training: not an epoch's
    energy = EpochEnergy(tracker, total_epochs=2, echo=None).start()
    _epoch(fake, 100.0)
    figures = energy.epoch_end()
    assert figures is not None
    assert figures.total_energy_kwh == pytest.approx(100 * 1.5 / J_PER_KWH)
    assert energy.stop() is not None and tracker.status == "running"
    tracker.stop()

    unstarted = impactlib.init(**settings)
    EpochEnergy(unstarted).start()
    assert unstarted.status == "running"  # started for the training, stopped by its owner
    unstarted.stop()


def test_unknown_total_means_no_prediction(tmp_path: Path) -> None:
    fake, settings = _machine(tmp_path)
    printed: list[str] = []
    energy = EpochEnergy(echo=printed.append, **settings).start(total_epochs=-1)  # "until stopped"
    _epoch(fake, 10.0)
    figures = energy.epoch_end()
    energy.stop()
    assert figures is not None and figures.prediction is None and printed == []
    assert "impact/predicted_energy_kwh" not in figures.metrics()


def test_a_failing_logger_or_model_never_reaches_the_training(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, settings = _machine(tmp_path)

    def broken(figures: EpochFigures) -> None:
        raise ConnectionError("logger down")

    energy = EpochEnergy(on_epoch=broken, echo=None, **settings)
    assert energy.epoch_end() is None  # not started: nothing to mark
    with energy, caplog.at_level(logging.WARNING, logger="impactlib"):
        assert energy.epoch_end() is None
        energy.log_model(object(), example_input=[1])  # not a model: a warning, no error
    assert "logger down" in caplog.text and "no model metrics" in caplog.text


def test_model_metrics_are_logged_once_and_only_with_an_example(tmp_path: Path) -> None:
    _, settings = _machine(tmp_path)
    calls: list[Any] = []
    with EpochEnergy(echo=None, **settings) as energy:
        energy.tracker.log_model = lambda model, example: calls.append(example)  # type: ignore[method-assign]
        energy.log_model("model", None)
        energy.log_model("model", "x")
        energy.log_model("model", "y")
    assert calls == ["x"]


def test_wrong_arguments_fail_at_once(tmp_path: Path) -> None:
    tracker = impactlib.init(powercap_root=str(tmp_path))
    with pytest.raises(impactlib.UsageError, match="not both"):
        EpochEnergy(tracker, project="x")
    with pytest.raises(impactlib.UsageError, match="predict_after"):
        EpochEnergy(predict_after=0)
    with pytest.raises(impactlib.ConfigError, match="pue"):
        EpochEnergy(pue=0.5)


def test_footprint_metrics_split_by_component_kind(tmp_path: Path) -> None:
    fake, settings = _machine(tmp_path)
    with impactlib.track(**settings) as tracker:
        fake.advance("cpu:package-0", 30.0)
        fake.advance("dram:package-0", 6.0)
        time.sleep(3 * TICK_S)
    footprint = tracker.footprint
    assert footprint is not None
    metrics = footprint_metrics(footprint)
    assert metrics["impact/energy_kwh_cpu"] == pytest.approx(30 * 1.5 / J_PER_KWH)
    assert metrics["impact/energy_kwh_dram"] == pytest.approx(6 * 1.5 / J_PER_KWH)
    assert metrics["impact/energy_kwh"] == pytest.approx(footprint.energy_kwh)
    assert metrics["impact/emissions_kg"] == footprint.emissions_kg


def test_a_training_that_never_ended_is_closed_as_failed_when_the_next_starts(
    tmp_path: Path,
) -> None:
    fake, settings = _machine(tmp_path)
    energy = EpochEnergy(echo=None, **settings).start()
    _epoch(fake, 10.0)
    energy.epoch_end()  # ... then the training raised, caught by a notebook
    energy.start()
    _epoch(fake, 20.0)
    energy.epoch_end()
    energy.stop()
    first, second = open_store(impactlib.load_config({})).list_runs(project="epochs")
    assert (first.status, len(first.epochs)) == ("failed", 1)
    assert (second.status, len(second.epochs)) == ("completed", 1)
    assert second.epochs[0] == pytest.approx(20.0)
