"""Embodied emissions: the BLOOM paper's per-hour figures, configuration overrides, notes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from impactlib.config import load_config
from impactlib.embodied import (
    amortise,
    embodied_for,
    embodied_for_run,
    gpu_item,
    reference_items,
)
from impactlib.errors import UsageError

USED_H = 6 * 8760 * 0.85  # BLOOM: 6 years at 85 % use = 44 676 used hours


def test_table_rows_have_sources() -> None:
    items = reference_items()
    assert len(items) >= 10
    assert all(i.source and i.kg > 0 for i in items)


def test_bloom_per_hour_figures() -> None:
    # BLOOM paper: 0.056 kg per server-hour, 0.003 kg per GPU-hour
    assert amortise(2500, 1, 6, 0.85) == pytest.approx(0.05596, abs=1e-5)
    assert amortise(150, 1, 6, 0.85) == pytest.approx(0.003357, abs=1e-6)


def test_two_a100_and_a_quarter_of_the_host_for_ten_hours() -> None:
    kg, note = embodied_for_run(
        10 * 3600, gpus=["NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB"], cpu_share=0.25
    )
    assert kg == pytest.approx((0.25 * 2500 * 10 + 2 * 150 * 10) / USED_H)  # 0.20705 kg
    assert kg == pytest.approx(0.20705, abs=1e-5)
    assert "Luccioni" in note and "2 x GPU NVIDIA A100" in note and "85%" in note


def test_config_overrides_lifetime_and_use_ratio() -> None:
    config = load_config({"embodied_lifetime_years": 4, "embodied_use_ratio": 0.5})
    kg, note = embodied_for_run(3600, gpus=["H100 SXM"], config=config)
    assert kg == pytest.approx(575.1 / (4 * 8760 * 0.5))
    assert "over 4 y at 50% use" in note and "BoaviztAPI" in note


def test_row_assumptions_when_not_configured() -> None:
    # the H100 row (BoaviztAPI) states 3 years at 100 %
    kg, _ = embodied_for_run(3600, gpus=["NVIDIA H100 80GB HBM3"])
    assert kg == pytest.approx(575.1 / (3 * 8760))


def test_gpu_hours_split_over_devices_and_unknown_gpu_is_a_stated_proxy() -> None:
    kg, note = embodied_for_run(7200, gpus=["GeForce RTX 3090"], gpu_hours=0.5)
    assert kg == pytest.approx(150 * 0.5 / USED_H)
    assert "as proxy for 'GeForce RTX 3090'" in note
    item, exact = gpu_item("NVIDIA L4")
    assert exact and item.kg == pytest.approx(113.6)


def test_nothing_used_and_bad_input() -> None:
    assert embodied_for_run(3600)[0] == 0.0
    with pytest.raises(UsageError):
        embodied_for_run(-1.0)
    with pytest.raises(UsageError):
        embodied_for_run(10.0, cpu_share=2.0)
    # sampling jitter just above 1 is clamped, not an error
    assert embodied_for_run(3600, cpu_share=1.01)[0] == pytest.approx(2500 / USED_H)


# --- what the tracker calls when a run ends: never raises --------------------------------------


def test_run_share_is_cpu_time_over_the_host_and_gpus_named_late() -> None:
    config = load_config({}, environ={})
    share = embodied_for(
        duration_s=10 * 3600,
        cpu_s=10 * 3600 * 2,  # 2 of 8 CPUs busy all along: a quarter of the host
        ncpus=8,
        gpu_hours=20.0,
        gpus=lambda: iter(["NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB"]),
        config=config,
    )
    kg, note = embodied_for_run(
        10 * 3600,
        gpus=["NVIDIA A100-SXM4-40GB"] * 2,
        cpu_share=0.25,
        config=config,
        gpu_hours=20.0,
    )
    assert share.kg == pytest.approx(kg) and share.note == note


def failing_driver() -> list[str]:
    raise RuntimeError("NVML: driver not loaded")


@pytest.mark.parametrize(
    ("cpu_s", "gpus", "says"),
    [
        (0.0, failing_driver, "NVML: driver not loaded"),
        (3 * 3600.0, list, "host share must be a fraction"),  # 3 CPU-h in 1 h on 1 CPU
    ],
)
def test_a_failure_is_a_note_not_an_exception(
    cpu_s: float, gpus: Callable[[], list[str]], says: str
) -> None:
    share = embodied_for(
        duration_s=3600.0,
        cpu_s=cpu_s,
        ncpus=1,
        gpu_hours=0.0,
        gpus=gpus,
        config=load_config({}, environ={}),
    )
    assert share.kg is None
    assert share.note.startswith("embodied not computed: ") and says in share.note


def test_a_zero_length_run_charges_nothing() -> None:
    share = embodied_for(
        duration_s=0.0,
        cpu_s=0.0,
        ncpus=4,
        gpu_hours=0.0,
        gpus=list,
        config=load_config({}, environ={}),
    )
    assert share.kg == 0.0
