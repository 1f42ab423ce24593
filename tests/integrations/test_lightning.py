"""A real 3-epoch Lightning fit on CPU with a tiny model: one run, one reading per epoch."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

pytest.importorskip("lightning", reason="the Lightning extra is absent: pip install '.[lightning]'")

import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers import CSVLogger

import impactlib
from impactlib.integrations.lightning import ImpactCallback
from impactlib.store import open_store

EPOCHS = 3


class Tiny(pl.LightningModule):
    """A linear regression: an epoch takes milliseconds."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)
        self.example_input_array = torch.zeros(2, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.mse_loss(self(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _data(samples: int = 64) -> torch.utils.data.DataLoader[tuple[torch.Tensor, ...]]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(samples, 4, generator=g)
    dataset = torch.utils.data.TensorDataset(x, x.sum(dim=1, keepdim=True))
    return torch.utils.data.DataLoader(dataset, batch_size=16)


def _trainer(tmp_path: Path, callback: ImpactCallback) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=EPOCHS,
        accelerator="cpu",
        callbacks=[callback],
        logger=CSVLogger(tmp_path, name="csv"),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=1,
    )


def test_a_fit_is_one_run_with_a_reading_per_epoch_and_one_prediction(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    callback = ImpactCallback(
        project="lit", powercap_root=str(tmp_path / "none"), country="FR", interval=0.1
    )
    trainer = _trainer(tmp_path, callback)
    trainer.fit(Tiny(), _data())

    runs = open_store(impactlib.load_config({})).list_runs(project="lit")
    assert len(runs) == 1 and runs[0].status == "completed"
    record = runs[0]
    assert len(record.epochs) == EPOCHS
    assert list(record.epochs) == sorted(record.epochs)  # cumulative readings
    assert record.model is not None and record.model["params"] == 5
    assert record.model["forward_flops"] > 0

    printed = [line for line in capsys.readouterr().out.splitlines() if "predicted total" in line]
    assert len(printed) == 1 and "after 1/3 epochs" in printed[0]
    assert callback.prediction is not None and callback.prediction.epochs_seen == EPOCHS

    # The per-epoch figures reached Lightning's logging: callback metrics and the CSV logger.
    assert "impact/energy_kwh_epoch" in trainer.callback_metrics
    with open(Path(trainer.logger.log_dir) / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    per_epoch = [float(r["impact/energy_kwh_epoch"]) for r in rows if r["impact/energy_kwh_epoch"]]
    assert len(per_epoch) == EPOCHS and all(e >= 0 for e in per_epoch)
    cumulative = [float(r["impact/energy_kwh"]) for r in rows if r["impact/energy_kwh"]]
    assert cumulative[-1] == pytest.approx(sum(per_epoch), rel=1e-4)


def test_each_fit_is_its_own_run(tmp_path: Path) -> None:
    callback = ImpactCallback(
        project="again", powercap_root=str(tmp_path / "none"), country="FR", interval=0.1
    )
    for _ in range(2):
        _trainer(tmp_path, callback).fit(Tiny(), _data())
    runs = open_store(impactlib.load_config({})).list_runs(project="again")
    assert len(runs) == 2 and [len(r.epochs) for r in runs] == [EPOCHS, EPOCHS]


def test_a_failing_fit_leaves_its_run_failed(tmp_path: Path) -> None:
    class Broken(Tiny):
        def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
            raise RuntimeError("boom")

    callback = ImpactCallback(project="broken", powercap_root=str(tmp_path / "none"), country="FR")
    with pytest.raises(RuntimeError, match="boom"):
        _trainer(tmp_path, callback).fit(Broken(), _data())
    (run,) = open_store(impactlib.load_config({})).list_runs(project="broken")
    assert run.status == "failed"


class Validated(Tiny):
    """Tiny with a validation loop, whose batches are not training samples."""

    def validation_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return torch.nn.functional.mse_loss(self(x), y)


def test_the_training_samples_seen_are_counted_and_validation_is_not(tmp_path: Path) -> None:
    callback = ImpactCallback(project="lit3", powercap_root=str(tmp_path / "none"), country="FR")
    trainer = _trainer(tmp_path, callback)
    trainer.fit(Validated(), _data(60), _data(20))  # batches of 16, 16, 16 and 12
    (run,) = open_store(impactlib.load_config({})).list_runs(project="lit3")
    assert run.model is not None and run.model["units"] == {"samples": EPOCHS * 60}
