"""Estimates: Green Algorithms worked examples by hand, epoch extrapolation, CLI and errors."""

from __future__ import annotations

import json

import pytest
from clihelp import assert_one_line_error, cli

from impactlib.errors import UnknownZoneError, UsageError
from impactlib.planning.estimate import (
    EpochEnergyPredictor,
    estimate,
    predict_from_epochs,
)


def test_worked_example_cpu_gpu_memory() -> None:
    # TDP_cpu.csv: Xeon Gold 6148 = 150 W / 20 cores = 7.5 W/core; TDP_gpu.csv: Tesla V100 300 W;
    # CI_aggregated.csv: US-CA 216.43 g/kWh.
    # E = 10 h x (20 x 7.5 + 2 x 300 + 64 x 0.3725) x 1.56 x 3 / 1000
    #   = 10 x 773.84 x 4.68 / 1000 = 36.215712 kWh
    result = estimate(
        cpu="Xeon Gold 6148",
        gpu="Tesla V100",
        gpus=2,
        memory_gb=64,
        hours=10,
        zone="US-CA",
        pue=1.56,
        runs=3,
    )
    assert result.energy_kwh == pytest.approx(36.215712)
    assert result.emissions_kg == pytest.approx(36.215712 * 216.43 / 1000)  # 7.8382 kg
    parts = {t.component: t for t in result.terms}
    assert (parts["cpu"].count, parts["cpu"].power_w) == (20, 7.5)
    assert parts["gpu"].power_w == 300
    assert parts["cpu"].energy_kwh == pytest.approx(10 * 150 * 4.68 / 1000)
    assert parts["gpu"].energy_kwh == pytest.approx(10 * 600 * 4.68 / 1000)
    assert parts["memory"].energy_kwh == pytest.approx(10 * 23.84 * 4.68 / 1000)
    assert sum(t.energy_kwh for t in result.terms) == pytest.approx(result.energy_kwh)
    assert result.formula().startswith(
        "E = 10 h x (20 cores x 7.5 W x 1 + 2 GPUs x 300 W x 1 + 64 GB x 0.3725 W/GB) "
        "x PUE 1.56 x 3 runs / 1000 = 36.22 kWh"
    )


def test_worked_example_cores_only_default_power() -> None:
    # Green Algorithms "Any" CPU: 12 W/core. 2 h x (8 x 12 x 0.5 + 16 x 0.3725) / 1000
    # = 2 x 53.96 / 1000 = 0.10792 kWh; DE 380.95 g/kWh (OWID 2023) -> 0.041112 kg
    result = estimate(cores=8, usage=0.5, memory_gb=16, hours=2, zone="DE")
    assert result.energy_kwh == pytest.approx(0.10792)
    assert result.emissions_kg == pytest.approx(0.10792 * 380.95 / 1000)
    assert result.pue == 1.0 and "default 1.0" in result.pue_source


def test_worked_example_gpus_only() -> None:
    # TDP_gpu.csv: A100 40GB PCIe 250 W. 24 h x 4 x 250 x 0.8 x 1.2 / 1000 = 23.04 kWh
    # SE3 18 g/kWh -> 0.41472 kg
    result = estimate(gpu="A100 40GB PCIe", gpus=4, gpu_usage=0.8, hours=24, zone="SE3", pue=1.2)
    assert result.energy_kwh == pytest.approx(23.04)
    assert result.emissions_kg == pytest.approx(0.41472)


def test_given_powers_and_no_location() -> None:
    result = estimate(cores=4, cpu_w_per_core=10, gpu_w=100, hours=1)
    # 1 h x (4 x 10 + 1 x 100) / 1000
    assert result.energy_kwh == pytest.approx(0.14)
    assert result.emissions_kg is None and result.zone is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cores": 4, "usage": 1.5}, "--usage"),
        ({"cores": 4, "pue": 0.9}, "--pue"),
        ({"cores": 4, "runs": 0}, "--runs"),
        ({"cpu_w_per_core": 5}, "needs --cores"),
        ({}, "nothing to estimate"),
        ({"cores": -1}, "--cores"),
    ],
)
def test_bad_inputs(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        estimate(hours=1, **kwargs)  # type: ignore[arg-type]


def test_unknown_names_suggest_close_matches() -> None:
    with pytest.raises(UsageError, match="close matches: .*Xeon Gold 6148"):
        estimate(cpu="Xeon Gold 6184", hours=1)
    with pytest.raises(UnknownZoneError, match="Germany"):
        estimate(cores=1, hours=1, zone="Germny")


def test_predict_from_epochs_by_hand() -> None:
    # per-epoch 10, 12, 11 J -> mean 11, stdev 1; 7 epochs left
    p = predict_from_epochs([10, 22, 33], total_epochs=10)
    assert p.per_epoch_j == (10, 12, 11)
    assert p.total_j == pytest.approx(33 + 7 * 11)
    assert (p.low_j, p.high_j) == (pytest.approx(33 + 70), pytest.approx(33 + 84))
    assert p.stdev_epoch_j == pytest.approx(1.0)
    assert p.remaining_epochs == 7
    one = predict_from_epochs([5.0], 4)
    assert (one.total_j, one.stdev_epoch_j) == (20.0, 0.0)


def test_predict_rejects_bad_readings() -> None:
    with pytest.raises(UsageError, match="cumulative"):
        predict_from_epochs([10, 5], 4)
    with pytest.raises(UsageError, match="fewer than"):
        predict_from_epochs([1, 2, 3], 2)
    with pytest.raises(UsageError, match="no epoch"):
        predict_from_epochs([], 2)


def test_callback_predicts_while_training() -> None:
    energy = iter([100.0, 210.0, 300.0])
    seen = []
    cb = EpochEnergyPredictor(
        lambda: next(energy), total_epochs=5, report_after=2, on_prediction=seen.append
    )
    assert cb.on_epoch_end(0, {"loss": 1.0}) is None  # Keras-style arguments are accepted
    second = cb(1)
    assert second is not None and second.total_j == pytest.approx(210 + 3 * 105)
    cb.on_epoch_end()
    assert [p.epochs_seen for p in seen] == [2, 3]
    assert seen[-1].total_j == pytest.approx(300 + 2 * 100)


def test_callback_from_tracker_reads_kwh() -> None:
    class FakeTracker:
        energy_consumption = 0.001  # kWh

    cb = EpochEnergyPredictor.from_tracker(FakeTracker(), total_epochs=2, on_prediction=None)
    assert cb.read_energy_j() == pytest.approx(3600.0)


def test_cli_json() -> None:
    result = cli(
        "estimate",
        "--cpu",
        "Xeon Gold 6148",
        "--cores",
        "20",
        "--gpu",
        "Tesla V100",
        "--gpus",
        "2",
        "--memory-gb",
        "64",
        "--hours",
        "10",
        "--zone",
        "US-CA",
        "--pue",
        "1.56",
        "--runs",
        "3",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["energy_kwh"] == pytest.approx(36.215712)
    assert out["emissions_kg"] == pytest.approx(36.215712 * 216.43 / 1000)
    assert [b["component"] for b in out["breakdown"]] == ["cpu", "gpu", "memory"]
    assert out["breakdown"][1]["watts"] == 600
    assert out["pue"] == 1.56 and "x PUE 1.56" in out["formula"]


def test_cli_text_shows_formula_and_pue_default() -> None:
    result = cli(
        "estimate",
        "--cores",
        "8",
        "--usage",
        "0.5",
        "--memory-gb",
        "16",
        "--hours",
        "2",
        "--country",
        "DE",
    )
    assert result.returncode == 0, result.stderr
    flat = " ".join(result.stdout.split())
    assert "E = 2 h x (8 cores x 12 W x 0.5 + 16 GB x 0.3725 W/GB) x PUE 1" in flat
    assert "0.1079 kWh" in flat and "default 1.0" in flat


def test_cli_errors_are_one_line() -> None:
    assert_one_line_error(
        cli("estimate", "--gpu", "Tesla V1000", "--hours", "1"),
        "unknown GPU model 'Tesla V1000'",
        "close matches",
    )
    assert_one_line_error(
        cli("estimate", "--cores", "4", "--hours", "1", "--country", "Frnace"),
        "unknown zone 'Frnace'",
        "France",
    )
    assert_one_line_error(cli("estimate", "--cores", "4"), "--hours")
    assert_one_line_error(
        cli("estimate", "--cores", "4", "--hours", "1", "--usage", "2"), "--usage"
    )
    assert_one_line_error(cli("estimate", "--from-run", "abc"), "--epochs")


def _stored_run_with_epochs() -> str:
    from impactlib.config import load_config
    from impactlib.footprint import CarbonInfo, ComponentEnergy, Footprint
    from impactlib.store import open_store
    from impactlib.store.records import RunRecord

    store = open_store(load_config())
    record = RunRecord(
        "run-epochs-1",
        "p",
        "e",
        "me",
        "host",
        1,
        "train.py",
        None,
        "2026-01-01T00:00:00+00:00",
        None,
        "2026-01-01T00:00:00+00:00",
        "running",
    )
    store.insert_run(record, 10.0)
    comp = ComponentEnergy(
        "cpu:package-0", "cpu", "rapl", "tree", "attributed", 4.0e6, 3.3e6, 0.0, 0.7e6
    )
    fp = Footprint(
        "run-epochs-1",
        "tree",
        "usage",
        "2026-01-01T00:00:00+00:00",
        "2026-01-01T01:00:00+00:00",
        3600.0,
        (comp,),
        1.5,
        0.1375,
        CarbonInfo("static", "XX", 100.0, "test table"),
    )
    store.checkpoint("run-epochs-1", "completed", fp, [], (1.0e6, 2.2e6, 3.3e6))
    return "run-epochs-1"


def test_from_run_predicts_the_full_training() -> None:
    run_id = _stored_run_with_epochs()
    result = cli("estimate", "--from-run", run_id, "--epochs", "10", "--format", "json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    # per epoch 1.0, 1.2, 1.1 MJ -> 3.3 + 7 x 1.1 = 11.0 MJ; x PUE 1.5 / 3.6e6 = 4.5833 kWh
    assert out["total_j"] == pytest.approx(11.0e6)
    assert out["energy_kwh"] == pytest.approx(11.0e6 * 1.5 / 3.6e6)
    assert out["emissions_kg"] == pytest.approx(11.0e6 * 1.5 / 3.6e6 * 100 / 1000)
    assert out["energy_kwh_low"] == pytest.approx((3.3e6 + 7 * 1.0e6) * 1.5 / 3.6e6)
    text = cli("estimate", "--from-run", run_id, "--epochs", "10")
    assert text.returncode == 0 and "3/10 epochs" in text.stdout
    assert_one_line_error(cli("estimate", "--from-run", "nope", "--epochs", "3"), "no run")
