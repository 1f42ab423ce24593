"""Weights & Biases in offline mode receives the per-epoch metrics and the run summary."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("wandb", reason="the W&B extra is absent: pip install '.[wandb]'")

import wandb

import impactlib
from impactlib.integrations import wandb as impact_wandb

EPOCHS = 2


@pytest.fixture
def offline_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = wandb.init(project="impactlib-test", dir=str(tmp_path))
    yield run
    wandb.finish()


def test_epochs_and_totals_reach_the_offline_run(tmp_path: Path, offline_run: Any) -> None:
    settings = {"project": "wb", "powercap_root": str(tmp_path / "none"), "country": "FR"}
    with impact_wandb.track(total_epochs=EPOCHS, interval=0.1, **settings) as energy:
        for _ in range(EPOCHS):
            time.sleep(0.15)
            energy.epoch_end()

    summary = offline_run.summary
    # wandb.log keeps each key's latest value in the summary: the last epoch's figures.
    assert summary["impact/epoch"] == EPOCHS
    assert summary["impact/energy_kwh_epoch"] == pytest.approx(energy.epochs[-1].energy_kwh)
    assert summary["impact/predicted_energy_kwh"] > 0
    footprint = energy.footprint
    assert footprint is not None
    assert summary["impact/energy_kwh"] == pytest.approx(footprint.energy_kwh)  # final total
    assert summary["impact/footprint"]["run_id"] == footprint.run_id
    assert offline_run.offline and Path(offline_run.dir).is_dir()


def test_without_an_active_run_it_says_what_to_do() -> None:
    assert wandb.run is None
    with pytest.raises(impactlib.UsageError, match=r"wandb\.init"), impact_wandb.track():
        pass
