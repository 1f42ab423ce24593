"""A real 2-epoch Hugging Face Trainer on a model built from a config (no download)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip(
    "transformers", reason="the Hugging Face extra is absent: pip install '.[huggingface]'"
)
pytest.importorskip("accelerate", reason="the Trainer needs it: pip install '.[huggingface]'")

import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

import impactlib
from impactlib.integrations.huggingface import ImpactCallback, attach
from impactlib.store import open_store

EPOCHS = 2


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


class Reporter(TrainerCallback):
    """Stands for a reporter of ``report_to``: registered before impactlib's callback."""

    def __init__(self) -> None:
        self.logs: list[dict[str, float]] = []

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
        self.logs.append(dict(logs))


def _trainer(
    tmp_path: Path,
    callbacks: list[TrainerCallback],
    logging_steps: int = 1000,
    samples: int = 32,
    evaluate: bool = False,
) -> Trainer:
    config = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
    )
    g = torch.Generator().manual_seed(0)
    data = [
        {"input_ids": torch.randint(0, 50, (8,), generator=g), "labels": torch.tensor(i % 2)}
        for i in range(samples)
    ]
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        num_train_epochs=EPOCHS,
        per_device_train_batch_size=8,
        logging_strategy="steps",
        logging_steps=logging_steps,  # 1000: no step log at an epoch end unless asked for
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=True,
        eval_strategy="epoch" if evaluate else "no",
    )
    return Trainer(
        model=BertForSequenceClassification(config),
        args=args,
        train_dataset=data,
        eval_dataset=data[:10] if evaluate else None,
        callbacks=callbacks,
    )


def test_every_reporter_gets_energy_and_co2e_per_epoch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reporter = Reporter()
    trainer = _trainer(tmp_path, [reporter])
    callback = attach(
        trainer, project="hf", powercap_root=str(tmp_path / "none"), country="FR", interval=0.1
    )
    trainer.train()

    (run,) = open_store(impactlib.load_config({})).list_runs(project="hf")
    assert run.status == "completed" and len(run.epochs) == EPOCHS
    assert run.model is not None and run.model["params"] > 0 and run.model["forward_flops"] > 0

    epoch_logs = [log for log in reporter.logs if "impact/energy_kwh_epoch" in log]
    assert [log["epoch"] for log in epoch_logs] == [1.0, 2.0]
    for log in epoch_logs:
        assert log["impact/energy_kwh_epoch"] >= 0 and log["impact/emissions_kg_epoch"] >= 0
    assert epoch_logs[-1]["impact/energy_kwh"] == pytest.approx(
        sum(log["impact/energy_kwh_epoch"] for log in epoch_logs)
    )
    assert "impact/predicted_energy_kwh" in epoch_logs[0]
    history = [h for h in trainer.state.log_history if "impact/energy_kwh_epoch" in h]
    assert len(history) == EPOCHS  # trainer_state.json keeps them too

    printed = [line for line in capsys.readouterr().out.splitlines() if "predicted total" in line]
    assert len(printed) == 1 and "after 1/2 epochs" in printed[0]
    assert callback.prediction is not None and callback.prediction.epochs_seen == EPOCHS


def test_passed_in_callbacks_it_still_stores_the_run_and_the_history(tmp_path: Path) -> None:
    callback = ImpactCallback(project="hf2", powercap_root=str(tmp_path / "none"), country="FR")
    trainer = _trainer(tmp_path, [callback])
    trainer.train()
    (run,) = open_store(impactlib.load_config({})).list_runs(project="hf2")
    assert len(run.epochs) == EPOCHS
    history = [h for h in trainer.state.log_history if "impact/energy_kwh_epoch" in h]
    assert len(history) == EPOCHS


def test_when_the_epoch_end_step_was_logged_already_the_figures_ride_on_the_next_log(
    tmp_path: Path,
) -> None:
    reporter = Reporter()
    trainer = _trainer(tmp_path, [reporter], logging_steps=1)  # every step logged
    attach(trainer, project="hf3", powercap_root=str(tmp_path / "none"), country="FR")
    trainer.train()
    epoch_logs = [log for log in reporter.logs if "impact/energy_kwh_epoch" in log]
    assert len(epoch_logs) == EPOCHS  # each epoch's figures once, none lost at the end
    history = [h for h in trainer.state.log_history if "impact/energy_kwh_epoch" in h]
    assert len(history) == EPOCHS


def test_the_training_samples_seen_are_counted_and_evaluation_is_not(tmp_path: Path) -> None:
    callback = ImpactCallback(project="hf3", powercap_root=str(tmp_path / "none"), country="FR")
    trainer = _trainer(tmp_path, [callback], samples=30, evaluate=True)  # batches 8, 8, 8, 6
    trainer.train()
    trainer.evaluate()
    (run,) = open_store(impactlib.load_config({})).list_runs(project="hf3")
    assert run.model is not None and run.model["units"] == {"samples": EPOCHS * 30}
