"""Estimates: Green Algorithms worked examples by hand, GPU family names, epoch extrapolation."""

from __future__ import annotations

import pytest

from impactlib.errors import UnknownZoneError, UsageError
from impactlib.planning.estimate import (
    EpochEnergyPredictor,
    estimate,
    predict_from_epochs,
    resolve_gpu,
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


def test_a_row_name_is_that_row() -> None:
    # "Tesla V100" is a row (300 W) even though the V100 family has 250 W variants
    entry, note = resolve_gpu("Tesla V100")
    assert (entry.name, entry.tdp_w, note) == ("NVIDIA Tesla V100", 300.0, "")
    assert resolve_gpu("NVIDIA A100-SXM4-80GB").entry.name == "A100 SXM4 80 GB"  # nvidia-smi


@pytest.mark.parametrize(
    ("family", "variants"),
    [
        ("A100", ["A100 PCIe 40/80GB 250 W", "A100 SXM4 80 GB 400 W", "A100 80GB PCIe 300 W"]),
        ("V100", ["Tesla V100-SXM2-16GB 250 W", "NVIDIA Tesla V100 300 W"]),
        ("H100", ["H100 NVL 400 W", "H100 SXM 700 W"]),
        ("A100 80GB", ["A100 SXM4 80 GB 400 W", "A100 80GB PCIe 300 W"]),
    ],
)
def test_a_family_of_different_powers_asks_to_choose(family: str, variants: list[str]) -> None:
    with pytest.raises(UsageError) as caught:
        resolve_gpu(family)
    message = str(caught.value)
    assert message.startswith(f"GPU '{family}' is a family whose variants differ in power")
    assert all(v in message for v in variants), message
    assert "--gpu-w W" in message and "\n" not in message


def test_a_family_of_one_power_or_one_row_is_resolved_and_said() -> None:
    entry, note = resolve_gpu("P100")
    assert entry.tdp_w == 250.0 and note == "'P100' has 2 variants, all 250 W"
    entry, note = resolve_gpu("a100 sxm")
    assert entry.name == "A100 SXM4 80 GB" and note == "the only match for 'a100 sxm'"
    result = estimate(gpu="P100", hours=1)
    assert result.terms[0].power_w == 250.0 and "all 250 W" in result.terms[0].source
    assert resolve_gpu("A10").entry.name == "A10G"  # A10 is not an A100


def test_describe_in_human_units() -> None:
    p = predict_from_epochs([36.0, 72.0], 10)  # 10 mWh per epoch
    assert p.describe() == (
        "after 2/10 epochs (20 mWh so far, 10 mWh/epoch ± 0 mWh): predicted total 100 mWh "
        "(range 100 mWh to 100 mWh)"
    )
