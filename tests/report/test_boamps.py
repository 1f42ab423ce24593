"""``impactlib export --format boamps``: a BoAmps report that validates against BoAmps'
published schemas (tests/data/boamps, with their licence and source), for a run measured
through the CLI, an estimated run, an experiment's runs and an imported CodeCarbon run; and
the options' refusals, one line each."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from boampsschema import assert_valid, validators
from clihelp import assert_one_line_error, cli
from raplrun import rapl_run
from sample_runs import make_record, save_record

from impactlib.footprint import ComponentEnergy, QualityClass
from impactlib.store import RunRecord, open_store
from impactlib.uncertainty import footprint_range

CODECARBON = Path(__file__).resolve().parents[1] / "data" / "codecarbon" / "emissions-3.3.2.csv"
SYSTEM = {
    "os": "Linux-6.1.0-x86_64-with-glibc2.36",
    "python": "3.11.7",
    "cpu_model": "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz",
    "cpu_count": 40,
    "ram_total_bytes": 192_000_000_000,
    "gpus": {"NVIDIA A100-SXM4-40GB": 4},
}


def export(*args: str) -> dict[str, Any]:
    result = cli("export", "--format", "boamps", *args)
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    assert_valid(report)
    return report


def kwh(joules: float) -> float:
    return joules / 3.6e6


def store() -> Any:
    return open_store(os.environ["IMPACTLIB_STORE"])


def test_the_schemas_refuse_what_they_should() -> None:
    """The validation is not vacuous: a report without measures, or with a quality BoAmps
    does not know, or with a key it does not define, is refused."""
    minimal = {
        "task": {
            "taskStage": "training",
            "taskFamily": "x",
            "algorithms": [{}],
            "dataset": [{"dataUsage": "input", "dataType": "other"}],
        },
        "measures": [{"measurementMethod": "wattmeter", "powerConsumption": 1.0}],
        "infrastructure": {
            "infraType": "other",
            "components": [{"componentType": "cpu", "nbComponent": 1}],
        },
    }
    assert_valid(minimal)
    for broken in (
        {k: v for k, v in minimal.items() if k != "measures"},
        {**minimal, "quality": "excellent"},
        {**minimal, "measures": [{"measurementMethod": "wattmeter"}]},
    ):
        for validator in validators():
            assert not validator.is_valid(broken)
    extra = {**minimal, "measures": [{**minimal["measures"][0], "watts": 3}]}
    assert all(v.is_valid(extra) for v in validators())
    assert not any(v.is_valid(extra) for v in validators(closed=True))


def test_a_measured_run(tmp_path: Path) -> None:
    """One measure per component, its charged energy before PUE; the machine, the place
    and the run's quality class as its record says."""
    measured = rapl_run(tmp_path)
    record = measured.record
    fp = record.footprint
    assert fp is not None
    report = export("--run", record.id)
    assert report["header"]["reportId"] == record.id
    assert report["header"]["reportStatus"] == "final"
    assert report["header"]["formatVersion"] == "1.1.0"
    measures = report["measures"]
    assert len(measures) == len(fp.components)
    by_method = {m["measurementMethod"]: m for m in measures}
    for c in fp.components:
        m = by_method[f"impactlib/{c.method} {c.domain}"]
        assert m["powerConsumption"] == pytest.approx(kwh(c.energy_j))
        assert m["measurementDuration"] == pytest.approx(fp.duration_s)
    cpu = by_method["impactlib/rapl cpu:package-0"]
    assert cpu["cpuTrackingMode"] == "rapl"
    total = sum(m["powerConsumption"] for m in measures)
    assert total == pytest.approx(kwh(fp.energy_j))  # before PUE: PUE is in the description
    system = record.config["system"]
    cpus = [c for c in report["infrastructure"]["components"] if c["componentType"] == "cpu"]
    assert (
        cpus
        == [
            {
                "componentName": system["cpu_model"],
                "componentType": "cpu",
                "nbComponent": system["cpu_count"],
            }
        ]
        or not system["cpu_model"]
    )
    environment = report["environment"]
    assert environment["country"] == "France"
    assert fp.carbon is not None
    assert environment["powerSourceCarbonIntensity"] == pytest.approx(fp.carbon.mean_g_per_kwh)
    assert report["quality"] == str(footprint_range(fp).quality_class)
    assert report["system"] == {"os": system["os"]}
    assert report["software"] == {"language": "python", "version": system["python"]}
    assert record.command in report["task"]["taskDescription"]


def estimated(run_id: str, host: str = "node2", zone: str = "FR") -> RunRecord:
    """A run on a machine without RAPL: its CPU energy from the TDP model."""
    base = make_record(run_id, cpu_j=3.6e6, gpu_j=0.0)
    assert base.footprint is not None and base.footprint.carbon is not None
    cpu = ComponentEnergy(
        "cpu:model", "cpu", "model-tdp", "machine", "estimated", 3.6e6, 3.6e6, 0.0, 0.0
    )
    carbon = replace(base.footprint.carbon, zone=zone)
    fp = replace(base.footprint, components=(cpu,), carbon=carbon)
    return replace(base, host=host, footprint=fp, config={"system": {**SYSTEM, "gpus": {}}})


def test_an_estimated_run() -> None:
    """A model's figure is said to be one, and its class is not high."""
    record = save_record(store(), estimated("est-1"))
    assert record.footprint is not None
    report = export("--run", "est-1", "--task-stage", "inference", "--task-family", "chatbot")
    (measure,) = report["measures"]
    assert measure["measurementMethod"] == "impactlib/model-tdp cpu:model"
    assert measure["cpuTrackingMode"] == "model-tdp"
    assert measure["powerConsumption"] == pytest.approx(1.0)
    assert report["quality"] == str(footprint_range(record.footprint).quality_class)
    assert report["quality"] != QualityClass.HIGH
    assert (report["task"]["taskStage"], report["task"]["taskFamily"]) == ("inference", "chatbot")


def test_an_experiment() -> None:
    """One report: every run's measures, each machine counted once (two of node1's runs,
    one of node2's), the intensity the runs were priced at on average, an id the same runs
    always get."""
    target = store()
    with_system = {"system": SYSTEM}
    a = save_record(target, replace(make_record("exp-a"), experiment="sweep", config=with_system))
    b = save_record(
        target, replace(make_record("exp-b", cpu_j=1.8e6), experiment="sweep", config=with_system)
    )
    c = save_record(target, replace(estimated("exp-c", host="node2"), experiment="sweep"))
    save_record(target, make_record("other"))  # experiment "exp": not in the report
    report = export("--experiment", "sweep")
    runs = (a, b, c)
    fps = [r.footprint for r in runs if r.footprint is not None]
    assert len(report["measures"]) == sum(len(fp.components) for fp in fps)
    total = sum(m["powerConsumption"] for m in report["measures"])
    assert total == pytest.approx(sum(kwh(fp.energy_j) for fp in fps))
    gpus = [p for p in report["infrastructure"]["components"] if p["componentType"] == "gpu"]
    assert gpus == [
        {"componentName": "NVIDIA A100-SXM4-40GB", "componentType": "gpu", "nbComponent": 4}
    ]
    cpus = [p for p in report["infrastructure"]["components"] if p["componentType"] == "cpu"]
    assert [p["nbComponent"] for p in cpus] == [80]  # node1's 40 and node2's 40
    intensity = sum(fp.emissions_kg for fp in fps) * 1e3 / sum(fp.energy_kwh for fp in fps)
    assert report["environment"]["powerSourceCarbonIntensity"] == pytest.approx(intensity)
    assert report["task"]["taskDescription"].count("impactlib run ") == 3
    assert export("--experiment", "sweep")["header"]["reportId"] == report["header"]["reportId"]
    assert export("--run", "exp-a")["header"]["reportId"] == "exp-a"


def test_an_imported_codecarbon_run() -> None:
    """CodeCarbon's figures are CodeCarbon's measures, with its version."""
    done = cli("import", "codecarbon", str(CODECARBON))
    assert done.returncode == 0, done.stderr
    record = store().list_runs()[0]
    report = export("--run", record.id)
    methods = {m["measurementMethod"] for m in report["measures"]}
    assert methods and all(m.startswith("codecarbon ") for m in methods)
    assert {m["version"] for m in report["measures"]} == {record.config["codecarbon_version"]}
    assert record.footprint is not None
    total = sum(m["powerConsumption"] for m in report["measures"])
    assert total == pytest.approx(kwh(record.footprint.energy_j))


def test_output_file(tmp_path: Path) -> None:
    save_record(store(), estimated("est-1"))
    target = tmp_path / "report.json"
    done = cli("export", "--format", "boamps", "--run", "est-1", "--output", str(target))
    assert done.returncode == 0, done.stderr
    assert_valid(json.loads(target.read_text(encoding="utf-8")))


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--format", "boamps", "--run", "nope"], "no run 'nope'"),
        (["--format", "boamps"], "--run ID or --experiment NAME"),
        (["--format", "boamps", "--experiment", "none-such"], "no runs in experiment"),
        (["--format", "csv", "--task-stage", "training"], "--format boamps"),
        (["--format", "json", "--boamps-publisher", "Lab"], "--format boamps"),
        (["--format", "lab-summary", "--run", "est-1"], "select runs for"),
        (["--format", "boamps", "--experiment", "mixed"], "one environment"),
    ],
)
def test_refusals(args: list[str], needle: str) -> None:
    target = store()
    save_record(target, replace(estimated("est-1"), experiment="mixed"))
    save_record(target, replace(estimated("est-2", zone="DE"), experiment="mixed"))
    assert_one_line_error(cli("export", *args), needle)


def test_run_and_experiment_select_csv_and_json_too() -> None:
    target = store()
    save_record(target, replace(estimated("est-1"), experiment="e1"))
    save_record(target, replace(estimated("est-2"), experiment="e2"))
    runs = json.loads(cli("export", "--format", "json", "--experiment", "e2").stdout)
    assert [r["id"] for r in runs] == ["est-2"]
    csv_text = cli("export", "--format", "csv", "--run", "est-1").stdout
    assert "est-1" in csv_text and "est-2" not in csv_text


@pytest.mark.parametrize("form", ["flag", "env", "toml"])
def test_publisher_setting(form: str) -> None:
    """``boamps_publisher`` as ``--boamps-publisher``, IMPACTLIB_BOAMPS_PUBLISHER or a line
    of impactlib.toml names the header's publisher; without it there is no publisher."""
    save_record(store(), estimated("est-1"))
    assert "publisher" not in export("--run", "est-1")["header"]
    args, env = [], {}
    if form == "flag":
        args = ["--boamps-publisher", "Lab of Energy"]
    elif form == "env":
        env = {"IMPACTLIB_BOAMPS_PUBLISHER": "Lab of Energy"}
    else:
        Path("impactlib.toml").write_text('boamps_publisher = "Lab of Energy"\n')
    result = cli("export", "--format", "boamps", "--run", "est-1", *args, env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert_valid(report)
    assert report["header"]["publisher"] == {
        "name": "Lab of Energy",
        "confidentialityLevel": "public",
    }


def test_a_calibrated_idle_floor_is_the_calibration_measure() -> None:
    """The host power model's idle power, as energy over the run: BoAmps' calibration
    fields; a floor only observed during the run is no calibration and is not given."""
    base = make_record("cal-1")
    assert base.footprint is not None
    cpu, gpu = base.footprint.components
    cpu = replace(cpu, idle_floor_w=30.0, idle_floor_source="calibrated")
    fp = replace(base.footprint, components=(cpu, gpu))
    save_record(store(), replace(base, footprint=fp))
    measures = {m["measurementMethod"]: m for m in export("--run", "cal-1")["measures"]}
    calibrated = measures["impactlib/rapl cpu:package-0"]
    assert calibrated["powerCalibrationMeasurement"] == pytest.approx(30.0 * 7200 / 3.6e6)
    assert calibrated["durationCalibrationMeasurement"] == pytest.approx(7200.0)
    assert "powerCalibrationMeasurement" not in measures["impactlib/nvml-energy gpu:GPU-1234"]
