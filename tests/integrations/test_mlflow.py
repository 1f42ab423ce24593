"""MLflow with a file store in tmp_path receives the per-epoch metrics, totals and footprint."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("mlflow", reason="the MLflow extra is absent: pip install '.[mlflow]'")

import mlflow

from impactlib.integrations import mlflow as impact_mlflow

EPOCHS = 3


@pytest.fixture
def file_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[mlflow.MlflowClient]:
    """A local file store (MLflow 3 asks to opt in to it) that no other test sees."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    mlflow.set_tracking_uri(uri)
    yield mlflow.MlflowClient(uri)
    mlflow.set_tracking_uri(None)


def test_epochs_totals_and_the_footprint_artifact_reach_the_run(
    tmp_path: Path, file_store: mlflow.MlflowClient
) -> None:
    settings = {"project": "ml", "powercap_root": str(tmp_path / "none"), "country": "FR"}
    with (
        mlflow.start_run() as run,
        impact_mlflow.track(total_epochs=EPOCHS, interval=0.1, **settings) as energy,
    ):
        for _ in range(EPOCHS):
            time.sleep(0.15)
            energy.epoch_end()
    run_id = run.info.run_id

    per_epoch = file_store.get_metric_history(run_id, "impact/energy_kwh_epoch")
    assert sorted(m.step for m in per_epoch) == [1, 2, 3]
    assert all(m.value >= 0 for m in per_epoch)
    predicted = file_store.get_metric_history(run_id, "impact/predicted_energy_kwh")
    assert len(predicted) == EPOCHS

    footprint = energy.footprint
    assert footprint is not None
    metrics = file_store.get_run(run_id).data.metrics
    assert metrics["impact/energy_kwh"] == pytest.approx(footprint.energy_kwh)  # the final total
    assert metrics["impact/emissions_kg"] == pytest.approx(footprint.emissions_kg)
    assert metrics["impact/energy_kwh_cpu"] > 0

    stored = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/{impact_mlflow.ARTIFACT}")
    assert stored["run_id"] == footprint.run_id and stored["energy_kwh"] == footprint.energy_kwh


def test_a_block_that_raises_still_logs_its_footprint(
    tmp_path: Path, file_store: mlflow.MlflowClient
) -> None:
    with (
        pytest.raises(ZeroDivisionError),
        mlflow.start_run() as run,
        impact_mlflow.track(powercap_root=str(tmp_path / "none"), country="FR"),
    ):
        _ = 1 / 0
    metrics = file_store.get_run(run.info.run_id).data.metrics
    assert "impact/energy_kwh" in metrics
