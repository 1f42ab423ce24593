"""``impactlib.runs_dataframe``: the stored runs and their components as a DataFrame."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pandas", reason="the pandas extra is absent: pip install '.[pandas]'")

import pandas as pd
from sample_runs import make_record

import impactlib
from impactlib.store import open_store


def _store(path: Path) -> str:
    store = open_store(str(path))
    for run_id, project in (("a1", "vision"), ("b2", "vision"), ("c3", "nlp")):
        record = make_record(run_id, project=project, cpu_j=3.6e6, gpu_j=7.2e6, pue=1.5)
        store.insert_run(record, 10.0)
        assert record.footprint is not None
        store.checkpoint(run_id, "completed", record.footprint, [], epochs=(1.0, 2.0))
    store.close()
    return str(path)


def test_one_row_per_run_with_energy_emissions_and_components(tmp_path: Path) -> None:
    frame = impactlib.runs_dataframe(project="vision", store=_store(tmp_path / "runs.db"))
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["id"]) == ["a1", "b2"]
    assert frame["energy_kwh"].tolist() == pytest.approx([4.5, 4.5])  # 3 kWh x PUE 1.5
    assert frame["emissions_kg"].tolist() == pytest.approx([4.5 * 56.0 / 1000] * 2)
    assert frame["energy_kwh_cpu"].tolist() == pytest.approx([1.5, 1.5])
    assert frame["energy_kwh_gpu"].tolist() == pytest.approx([3.0, 3.0])
    assert (frame["energy_kwh_cpu"] + frame["energy_kwh_gpu"]).tolist() == pytest.approx(
        frame["energy_kwh"].tolist()
    )
    assert frame["zone"].tolist() == ["FR", "FR"] and frame["epochs"].tolist() == [2, 2]
    assert str(frame["started_at"].dt.tz) == "UTC"


def test_the_configured_store_and_an_empty_one(tmp_path: Path) -> None:
    with impactlib.track(project="here", powercap_root=str(tmp_path / "none"), country="FR"):
        pass
    frame = impactlib.runs_dataframe(project="here")
    assert len(frame) == 1 and frame["status"].tolist() == ["completed"]
    assert frame["energy_kwh_cpu"].iloc[0] >= 0  # the estimated CPU is a component column

    empty = impactlib.runs_dataframe(project="nobody")
    assert empty.empty and {"energy_kwh", "emissions_kg"} <= set(empty.columns)
