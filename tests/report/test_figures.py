"""The figures every output renders: totals, the share a meter read, location, metrics,
settings and SLURM job, computed once from the records."""

from __future__ import annotations

import dataclasses

import pytest
from sample_runs import make_record

from impactlib.footprint import LocatedBy, Quality
from impactlib.report import figures


def test_quality_label() -> None:
    measured, attributed = Quality.MEASURED, Quality.ATTRIBUTED
    assert figures.quality_label([measured, measured]) == "measured"
    assert figures.quality_label([measured, attributed]) == "attributed"
    assert figures.quality_label([attributed, Quality.ESTIMATED]) == "part estimated"
    assert figures.quality_label([measured, Quality.IMPORTED]) == "part imported"
    assert figures.quality_label([]) == "-"


def test_only_meter_read_energy_is_measured() -> None:
    record = make_record("a")  # CPU 3.6 MJ attributed (RAPL), GPU 7.2 MJ measured, PUE 1.5
    assert record.footprint is not None
    cpu, gpu = record.footprint.components
    modelled = dataclasses.replace(cpu, quality=Quality.ESTIMATED)
    fp = dataclasses.replace(record.footprint, components=(modelled, gpu))
    run = figures.run_figures(dataclasses.replace(record, footprint=fp))
    assert run.amounts.energy_j == pytest.approx(10.8e6 * 1.5)
    assert run.amounts.metered_j == pytest.approx(7.2e6 * 1.5)
    assert run.amounts.metered_share == pytest.approx(2 / 3)
    assert {q.quality: q.energy_j for q in run.by_quality} == pytest.approx(
        {Quality.ESTIMATED: 3.6e6 * 1.5, Quality.MEASURED: 7.2e6 * 1.5}
    )
    assert run.quality == "part estimated"


def test_totals_per_group_and_overall() -> None:
    records = [make_record("a"), make_record("b", project="nlp"), make_record("c")]
    report = figures.report_figures(records)
    assert [g.name for g in report.groups] == ["nlp", "vision"]
    assert [g.amounts.runs for g in report.groups] == [1, 2]
    assert report.total.runs == 3
    assert report.total.energy_j == pytest.approx(sum(r.amounts.energy_j for r in report.runs))
    assert report.total.embodied_kg == pytest.approx(3 * 0.0123)


def test_a_run_without_footprint_is_a_run_with_nothing_measured() -> None:
    bare = dataclasses.replace(make_record("a"), footprint=None, status="killed")
    report = figures.report_figures([bare, make_record("b")])
    assert report.total.runs == 2 and not report.runs[0].finished
    assert report.runs[0].amounts.metered_share is None
    assert report.total.energy_j == report.runs[1].amounts.energy_j


@pytest.mark.parametrize(
    ("how", "configured", "world"),
    [
        (LocatedBy.CONFIGURATION, True, False),
        (LocatedBy.TIMEZONE, False, False),
        (LocatedBy.WORLD_AVERAGE, False, True),
        (LocatedBy.IMPORTED, False, False),
    ],
)
def test_location_follows_the_vocabulary(how: LocatedBy, configured: bool, world: bool) -> None:
    record = make_record("a")
    assert record.footprint is not None and record.footprint.carbon is not None
    carbon = dataclasses.replace(record.footprint.carbon, located_by=how, located_detail="")
    where = figures.location(carbon)
    assert (where.configured, where.world_average) == (configured, world)
    assert where.detail == how.label  # no sentence recorded: the vocabulary's words


def test_metrics_settings_and_slurm_job() -> None:
    record = dataclasses.replace(
        make_record("a"),
        model={"params": 10, "metrics": {"accuracy": 0.91, "forward_flops": 3, "ok": True}},
        config={
            "values": {"country": "FR", "pue": 1.2},
            "sources": {"country": "--country"},
            "slurm": {"job_id": "77_3", "partition": "gpu"},
        },
    )
    run = figures.run_figures(record)
    assert run.metrics == (figures.Metric("accuracy", 0.91),)  # sizes and booleans apart
    assert run.settings == (
        figures.Setting("country", "FR", "--country"),
        figures.Setting("pue", 1.2, "default"),
    )
    assert run.slurm_job == "77_3"
    assert figures.report_figures([record, make_record("b")]).metric_names == ("accuracy",)
