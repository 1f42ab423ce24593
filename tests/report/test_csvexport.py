"""CSV export: CodeCarbon 3.x's columns first and in its order, the run's own machine, only ISO
codes in the ISO column, nothing guessed."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import platform

import pytest
from sample_runs import make_record

from impactlib.report.csvexport import (
    CODECARBON_COLUMNS,
    OUR_COLUMNS,
    RANGE_COLUMNS,
    Place,
    csv_row,
    place,
    to_csv,
)
from impactlib.report.jsonexport import to_json
from impactlib.store.records import RunRecord

# The fields of codecarbon.output_methods.emissions_data.EmissionsData in CodeCarbon 3.3.0, in
# declaration order (the order of its emissions.csv columns).
EMISSIONS_DATA_3_3 = [
    "timestamp",
    "project_name",
    "run_id",
    "experiment_id",
    "duration",
    "emissions",
    "emissions_rate",
    "cpu_power",
    "gpu_power",
    "ram_power",
    "cpu_energy",
    "gpu_energy",
    "ram_energy",
    "energy_consumed",
    "water_consumed",
    "country_name",
    "country_iso_code",
    "region",
    "cloud_provider",
    "cloud_region",
    "os",
    "python_version",
    "codecarbon_version",
    "cpu_count",
    "cpu_model",
    "gpu_count",
    "gpu_model",
    "longitude",
    "latitude",
    "ram_total_size",
    "tracking_mode",
    "cpu_utilization_percent",
    "gpu_utilization_percent",
    "ram_utilization_percent",
    "ram_used_gb",
    "on_cloud",
    "pue",
    "wue",
]

# What another machine wrote into the record when its run started.
SYSTEM = {
    "os": "Linux-5.14.0-elsewhere-x86_64-with-glibc2.34",
    "python": "3.11.4",
    "cpu_model": "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz",
    "cpu_count": 40,
    "ram_total_bytes": 192 * 1024**3,
    "gpus": {"NVIDIA A100-SXM4-80GB": 1},
}


def _record(zone: str = "FR", system: dict[str, object] | None = SYSTEM) -> RunRecord:
    record = make_record("run-csv-1")  # CPU 3.6 MJ, GPU 7.2 MJ, PUE 1.5, 2 h, priced in FR
    assert record.footprint is not None and record.footprint.carbon is not None
    carbon = dataclasses.replace(record.footprint.carbon, zone=zone)
    footprint = dataclasses.replace(record.footprint, carbon=carbon)
    config = {**record.config, **({"system": system} if system is not None else {})}
    return dataclasses.replace(record, footprint=footprint, config=config)


def _rows(records: list[RunRecord]) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(to_csv(records))))


def test_every_codecarbon_column_first_in_its_order() -> None:
    header = to_csv([_record()]).splitlines()[0].split(",")
    assert header[: len(EMISSIONS_DATA_3_3)] == EMISSIONS_DATA_3_3
    assert list(CODECARBON_COLUMNS) == EMISSIONS_DATA_3_3
    # impactlib's columns, then the ranges (issue 18), after CodeCarbon's
    assert header[len(EMISSIONS_DATA_3_3) :] == [*OUR_COLUMNS, *RANGE_COLUMNS]
    assert not set(CODECARBON_COLUMNS) & set(OUR_COLUMNS + RANGE_COLUMNS)


def test_the_runs_own_machine_not_the_exporting_one() -> None:
    (row,) = _rows([_record()])
    assert row["os"] == SYSTEM["os"] != platform.platform()
    assert row["python_version"] == "3.11.4"
    assert row["cpu_model"] == SYSTEM["cpu_model"] and row["cpu_count"] == "40"
    assert float(row["ram_total_size"]) == 192.0  # GiB, as CodeCarbon computes it
    assert row["gpu_count"] == "1" and row["gpu_model"] == "1 x NVIDIA A100-SXM4-80GB"


def test_an_old_record_leaves_the_machine_empty() -> None:
    (row,) = _rows([_record(system=None)])
    for column in ("os", "python_version", "cpu_model", "cpu_count", "ram_total_size"):
        assert row[column] == "", column
    assert row["gpu_count"] == "1"  # the GPU domains it was charged for


def test_unknown_columns_are_empty_not_guessed() -> None:
    (row,) = _rows([_record()])
    for column in (
        "water_consumed",
        "codecarbon_version",
        "longitude",
        "latitude",
        "cpu_utilization_percent",
        "gpu_utilization_percent",
        "ram_utilization_percent",
        "ram_used_gb",
        "wue",
    ):
        assert row[column] == "", column


def test_energy_with_pue_power_without() -> None:
    (row,) = _rows([_record()])
    # make_record: CPU 3.6 MJ and GPU 7.2 MJ charged over 7200 s, PUE 1.5
    assert float(row["cpu_energy"]) == pytest.approx(1.5)  # kWh, PUE included
    assert float(row["gpu_energy"]) == pytest.approx(3.0)
    assert float(row["ram_energy"]) == 0.0
    assert float(row["cpu_power"]) == pytest.approx(500.0)  # W: 3.6 MJ / 7200 s
    assert float(row["gpu_power"]) == pytest.approx(1000.0)
    energy = sum(float(row[f"{k}_energy"]) for k in ("cpu", "gpu", "ram"))
    assert float(row["energy_consumed"]) == pytest.approx(energy)
    assert float(row["emissions_rate"]) == pytest.approx(float(row["emissions"]) / 7200)
    assert row["duration"] == "7200.0" and row["pue"] == "1.5"
    assert row["tracking_mode"] == "process" and row["scope"] == "tree"
    assert (row["cpu_method"], row["cpu_quality"]) == ("rapl", "attributed")
    assert row["git_commit"] == "abc123" and row["status"] == "completed"


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("FR", Place("France", "FRA")),
        ("fra", Place("France", "FRA")),
        ("US-CA", Place("United States", "USA", region="US-CA")),
        ("SE3", Place("Sweden", "SWE", region="SE3")),
        ("GB-13", Place("United Kingdom", "GBR", region="GB-13")),
        ("CA-QC", Place("Canada", "CAN", region="CA-QC")),
        (
            "GCP:EUROPE-WEST1",
            Place(
                "Belgium", "BEL", cloud_provider="gcp", cloud_region="europe-west1", on_cloud="Y"
            ),
        ),
        (
            "aws:us-east-1",
            Place(
                "United States", "USA", cloud_provider="aws", cloud_region="us-east-1", on_cloud="Y"
            ),
        ),
        ("azure:nowhere-9", Place(cloud_provider="azure", cloud_region="nowhere-9", on_cloud="Y")),
        ("WORLD", Place()),
        ("XX", Place()),
        ("XX-1", Place()),
    ],
)
def test_only_iso_codes_in_the_iso_column(zone: str, expected: Place) -> None:
    assert place(zone) == expected
    (row,) = _rows([_record(zone)])
    assert row["country_iso_code"] == expected.country_iso_code
    assert row["country_name"] == expected.country_name
    assert row["intensity_zone"] == zone  # the zone itself is kept in our own column


def test_task_metrics_follow_as_columns_of_their_own() -> None:
    scored = dataclasses.replace(_record(), model={"metrics": {"accuracy": 0.91, "f1": 0.8}})
    other = dataclasses.replace(_record(), id="run-csv-2", model={"metrics": {"f1": 0.7}})
    header = to_csv([scored, other]).splitlines()[0].split(",")
    fixed = len(CODECARBON_COLUMNS) + len(OUR_COLUMNS) + len(RANGE_COLUMNS)
    assert header[fixed:] == ["metric:accuracy", "metric:f1"]
    first, second = _rows([scored, other])
    assert (first["metric:accuracy"], first["metric:f1"]) == ("0.91", "0.8")
    assert (second["metric:accuracy"], second["metric:f1"]) == ("", "0.7")


def test_a_run_without_footprint_still_has_a_full_row() -> None:
    bare = dataclasses.replace(_record(), footprint=None, status="running")
    (row,) = _rows([bare])
    assert set(row) == set(CODECARBON_COLUMNS + OUR_COLUMNS + RANGE_COLUMNS)
    assert row["run_id"] == "run-csv-1" and row["energy_consumed"] == ""
    assert row["os"] == SYSTEM["os"]


def test_json_is_the_summary_with_settings_and_slurm_job() -> None:
    record = dataclasses.replace(
        _record(),
        config={
            **_record().config,
            "values": {"country": "FR", "pue": 1.5},
            "sources": {"country": "IMPACTLIB_COUNTRY"},
            "slurm": {"job_id": "4242", "partition": "gpu"},
        },
        model={"metrics": {"accuracy": 0.91}},
    )
    [run] = json.loads(to_json([record]))
    summary = json.loads(json.dumps(record.summary()))
    # The summary's every key as it is; each component as stored, with its range beside it.
    stored = {k: v for k, v in summary.items() if k != "components"}
    assert {k: v for k, v in run.items() if k in stored} == stored
    for shown, component in zip(run["components"], summary["components"], strict=True):
        assert {k: shown[k] for k in component} == component
    assert run["config"] == {
        "values": {"country": "FR", "pue": 1.5},
        "sources": {"country": "IMPACTLIB_COUNTRY", "pue": "default"},
    }
    assert run["slurm"] == {"job_id": "4242", "partition": "gpu"}
    assert run["metrics"] == {"accuracy": 0.91}
    assert csv_row(record)["intensity_source"] == "static"


def test_no_carbon_leaves_location_empty() -> None:
    record = _record()
    assert record.footprint is not None
    no_carbon = dataclasses.replace(record.footprint, carbon=None)
    row = csv_row(dataclasses.replace(record, footprint=no_carbon))
    assert (row["country_iso_code"], row["on_cloud"], row["intensity_zone"]) == ("", "", "")
