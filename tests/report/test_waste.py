"""Waste lines: failed runs and jobs, over-requested memory, idle GPUs, never counted twice."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from sample_runs import make_record

from impactlib.report.waste import waste_json, waste_lines
from impactlib.store import RunRecord
from impactlib.units import MEMORY_W_PER_GB

GIB = 2**30


def _job(run_id: str, user: str, status: str = "completed", **slurm: Any) -> RunRecord:
    """A 2-hour run (3.6 MJ CPU + 7.2 MJ GPU, PUE 1.5) recorded for a SLURM job."""
    return replace(make_record(run_id), user=user, status=status, config={"slurm": slurm})


def test_a_failed_job_is_all_waste_and_nothing_else_of_it_counts() -> None:
    record = _job(
        "a",
        "carol",
        "failed",
        job_id="7",
        state="FAILED",
        req_memory_bytes=64 * GIB,
        max_rss_bytes=GIB,
        alloc_gpus=2,
        gpu_util_pct=10,
    )
    lines = waste_lines([record])
    assert [(w.group, w.job, w.kind) for w in lines] == [("carol", "7", "failed job")]
    assert record.footprint is not None
    assert lines[0].energy_with_pue_j == pytest.approx(record.footprint.energy_j * 1.5)
    assert waste_json(lines)[0]["energy_kwh"] == pytest.approx(record.footprint.energy_kwh)


def test_a_run_that_raised_is_a_failed_run_and_a_completed_one_is_not() -> None:
    lines = waste_lines([_job("a", "ann", "failed"), _job("b", "ann")])
    assert [(w.run_id, w.kind) for w in lines] == [("a", "failed run")]


@pytest.mark.parametrize(
    ("requested", "peak", "wasted"), [(8, 1, True), (8, 5, False), (1.2, 0.25, False)]
)
def test_memory_far_above_the_peak(requested: float, peak: float, wasted: bool) -> None:
    record = _job("a", "bob", req_memory_bytes=int(requested * GIB), max_rss_bytes=int(peak * GIB))
    lines = waste_lines([record])
    assert bool(lines) == wasted
    if wasted:
        unused_gb = (requested - peak) * GIB / 1e9
        assert lines[0].energy_j == pytest.approx(unused_gb * MEMORY_W_PER_GB * 7200)


def test_idle_gpus_where_slurm_gathered_their_use() -> None:
    record = _job("a", "alice", project="x", alloc_gpus=2, gpu_util_pct=120)
    lines = waste_lines([record], by="project")
    assert [(w.group, w.kind) for w in lines] == [("vision", "idle GPUs")]
    assert lines[0].energy_j == pytest.approx(7.2e6 * 0.4)  # 0.8 of 2 GPUs idle
    assert "1.6 GPU-h" in lines[0].detail
    assert waste_lines([_job("b", "alice", alloc_gpus=2)]) == []  # no gpuutil: no claim
