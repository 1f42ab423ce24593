"""A record with a platform component (wall minus RAPL, GPUs and modelled lines) renders in
every format, the platform shown like any component where components are shown."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

import pytest
from renderhelp import render
from sample_runs import make_record

from impactlib.footprint import ComponentEnergy
from impactlib.report.formats import FORMATS, renderer
from impactlib.store.records import RunRecord


def with_platform() -> RunRecord:
    record = make_record("run-a")
    assert record.footprint is not None
    platform = ComponentEnergy(
        "platform:wall", "platform", "hwmon", "machine", "attributed", 4e6, 1e6, 1e6, 2e6
    )
    footprint = replace(record.footprint, components=(*record.footprint.components, platform))
    return replace(record, footprint=footprint)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_format_renders_a_platform_component(name: str) -> None:
    out = render(renderer(name), [with_platform()], {})
    if name != "table":  # the run table shows totals only, for every component
        assert "platform" in out.lower()


def test_the_csv_gives_the_platform_its_own_columns() -> None:
    (row,) = csv.DictReader(io.StringIO(render(renderer("csv"), [with_platform()], {})))
    assert float(row["platform_energy"]) == pytest.approx(2e6 / 3.6e6 * 1.5)  # kWh, PUE
    assert float(row["platform_power"]) == pytest.approx(2e6 / 7200)  # W, without PUE
    assert (row["platform_method"], row["platform_quality"]) == ("hwmon", "attributed")
    assert float(row["energy_consumed"]) == pytest.approx((3.6e6 + 7.2e6 + 2e6) / 3.6e6 * 1.5)
