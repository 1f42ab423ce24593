"""The record vocabulary: records written by earlier versions load, words are checked where
a record is made, labels come from the words, and the stored JSON is the same text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from impactlib.footprint import (
    ChargedTo,
    Component,
    ComponentEnergy,
    Extent,
    FloorSource,
    Footprint,
    LocatedBy,
    Method,
    Quality,
    Status,
    Word,
    charged_label,
)

# A tracker's record as version 0.x stored it: free-text scopes and zone location.
OLD_TRACKER_RECORD: dict[str, Any] = {
    "run_id": "a" * 32,
    "scope": "tree",
    "idle_policy": "usage",
    "started_at": "2026-11-02T10:00:00Z",
    "ended_at": "2026-11-02T11:00:00Z",
    "duration_s": 3600.0,
    "components": [
        {
            "domain": "cpu:package-0",
            "component": "cpu",
            "method": "rapl",
            "scope": "tree (of machine)",
            "quality": "attributed",
            "measured_j": 7200.0,
            "dynamic_j": 3000.0,
            "idle_j": 600.0,
            "unattributed_j": 3600.0,
            "note": "/sys/class/powercap/intel-rapl:0",
            "idle_floor_w": 10.0,
            "idle_floor_source": "calibrated",
            "energy_j": 3600.0,
            "energy_kwh": 0.001,
        },
        {
            "domain": "gpu:GPU-1",
            "component": "gpu",
            "method": "nvml-energy",
            "scope": "tree (of device)",
            "quality": "measured",
            "measured_j": 900.0,
            "dynamic_j": 900.0,
            "idle_j": 0.0,
            "unattributed_j": 0.0,
        },
    ],
    "pue": 1.0,
    "emissions_kg": 0.01,
    "carbon": {
        "source": "static",
        "zone": "FR",
        "mean_g_per_kwh": 56.0,
        "detail": "table",
        "fallback": None,
        "located_by": "configured country (argument)",
    },
    "warnings": [],
    "energy_j": 4500.0,
    "energy_kwh": 0.00125,
}


def old_slurm_record() -> dict[str, Any]:
    """A SLURM job ingested by 0.x: whole-node energy, located by the timezone."""
    return {
        **OLD_TRACKER_RECORD,
        "scope": "slurm-job",
        "components": [
            {
                "domain": "node:slurm",
                "component": "node",
                "method": "slurm-exclusive",
                "scope": "slurm job (whole nodes)",
                "quality": "measured",
                "measured_j": 5.0,
                "dynamic_j": 5.0,
                "idle_j": 0.0,
                "unattributed_j": 0.0,
            },
            {
                "domain": "cpu:green-algorithms",
                "component": "cpu",
                "method": "green-algorithms",
                "scope": "slurm job (allocation)",
                "quality": "estimated",
                "measured_j": 5.0,
                "dynamic_j": 5.0,
                "idle_j": 0.0,
                "unattributed_j": 0.0,
            },
        ],
        "carbon": {
            **OLD_TRACKER_RECORD["carbon"],
            "located_by": "guessed from the system timezone Europe/Paris; set IMPACTLIB_COUNTRY "
            "to be sure",
        },
    }


def test_a_record_from_an_earlier_version_loads_with_its_words() -> None:
    fp = Footprint.from_dict(OLD_TRACKER_RECORD)
    assert fp.charged_to is ChargedTo.TREE
    cpu, gpu = fp.components
    assert (cpu.component, cpu.method, cpu.extent, cpu.quality, cpu.idle_floor_source) == (
        Component.CPU,
        Method.RAPL,
        Extent.MACHINE,
        Quality.ATTRIBUTED,
        FloorSource.CALIBRATED,
    )
    assert (gpu.extent, gpu.idle_floor_source) == (Extent.DEVICE, FloorSource.OBSERVED)
    # ``measured_j``, the old name of the domain's energy, is read as ``domain_j``.
    assert (cpu.domain_j, gpu.domain_j) == (7200.0, 900.0)
    assert cpu.dynamic_j + cpu.idle_j + cpu.unattributed_j == pytest.approx(cpu.domain_j)
    assert fp.carbon is not None and fp.carbon.located_by is LocatedBy.CONFIGURATION
    assert fp.carbon.located_detail == "configured country (argument)"
    assert fp.energy_j == pytest.approx(4500.0) and fp.metered_j == pytest.approx(4500.0)


def test_old_slurm_and_codecarbon_records_load() -> None:
    slurm = Footprint.from_dict(old_slurm_record())
    assert slurm.charged_to is ChargedTo.SLURM_JOB
    node, estimate = slurm.components
    assert (node.component, node.extent) == (Component.NODE, Extent.MACHINE)
    assert estimate.extent is Extent.ALLOCATION and not estimate.quality.metered
    assert (node.domain_j, estimate.domain_j) == (5.0, 5.0)
    assert slurm.carbon is not None and slurm.carbon.located_by is LocatedBy.TIMEZONE
    old_import = {
        **OLD_TRACKER_RECORD,
        "scope": "process",
        "components": [
            {
                **OLD_TRACKER_RECORD["components"][0],
                "domain": "codecarbon:cpu",
                "method": "codecarbon",
                "scope": "process",
                "quality": "estimated",
            }
        ],
        "carbon": {**OLD_TRACKER_RECORD["carbon"], "located_by": "CodeCarbon"},
    }
    imported = Footprint.from_dict(old_import)
    assert imported.charged_to is ChargedTo.PROCESS
    assert imported.components[0].quality is Quality.IMPORTED
    assert imported.carbon is not None and imported.carbon.located_by is LocatedBy.IMPORTED
    assert imported.metered_j == 0.0


def test_the_stored_json_is_the_same_text_and_round_trips() -> None:
    fp = Footprint.from_dict(OLD_TRACKER_RECORD)
    stored = json.loads(json.dumps(fp.to_dict()))
    assert stored["charged_to"] == "tree"
    assert [c["quality"] for c in stored["components"]] == ["attributed", "measured"]
    assert [c["extent"] for c in stored["components"]] == ["machine", "device"]
    assert stored["carbon"]["located_by"] == "configuration"
    assert Footprint.from_dict(stored) == fp


def test_no_component_key_claims_a_meter() -> None:
    """A domain's energy is ``domain_j`` whatever its quality: an estimate (SLURM's Green
    Algorithms terms) or an import carries no ``measured_*`` key in its stored JSON."""
    for record in (old_slurm_record(), OLD_TRACKER_RECORD):
        stored = json.loads(json.dumps(Footprint.from_dict(record).to_dict()))
        for component in stored["components"]:
            assert not [k for k in component if "measured" in k], component
            assert component["domain_j"] > 0


def test_a_word_outside_the_vocabulary_is_refused_where_the_record_is_made() -> None:
    with pytest.raises(ValueError, match="'node' is not a valid Extent"):
        ComponentEnergy("x:0", "cpu", "rapl", "node", "measured", 1.0, 1.0, 0.0, 0.0)
    plain = ComponentEnergy("x:0", "cpu", "rapl", "machine", "measured", 1.0, 1.0, 0.0, 0.0)
    assert plain.quality is Quality.MEASURED and plain.component is Component.CPU


def test_unknown_words_of_a_newer_record_never_read_as_measured() -> None:
    newer = {
        **OLD_TRACKER_RECORD,
        "scope": "pod",
        "components": [
            {**OLD_TRACKER_RECORD["components"][0], "quality": "sampled", "method": "ipmi"}
        ],
    }
    (comp,) = Footprint.from_dict(newer).components
    assert comp.quality is Quality.ESTIMATED and comp.method is Method.UNKNOWN


@pytest.mark.parametrize(
    "vocabulary", [Component, Method, Quality, FloorSource, Status, ChargedTo, Extent, LocatedBy]
)
def test_every_word_has_its_own_label_and_prints_as_its_value(vocabulary: type[Word]) -> None:
    labels = [word.label for word in vocabulary]
    assert all(labels) and len(set(labels)) == len(labels)
    for word in vocabulary:
        assert f"{word}" == str(word) == word.value
    assert Quality.IMPORTED.label != LocatedBy.IMPORTED.label  # equal values, own labels


def test_only_meter_read_qualities_are_metered() -> None:
    assert {q for q in Quality if q.metered} == {Quality.MEASURED, Quality.ATTRIBUTED}


def test_charged_labels_compose_what_was_charged_and_what_was_seen() -> None:
    assert charged_label(ChargedTo.MACHINE, Extent.MACHINE) == "machine"
    assert charged_label(ChargedTo.TREE, Extent.DEVICE) == "process tree (of device)"


@pytest.mark.filterwarnings("ignore::impactlib.errors.ImpactWarning")  # estimated CPU here
@pytest.mark.parametrize("form", ["argument", "environment"])
def test_a_configured_country_is_recorded_as_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str
) -> None:
    """``init(country="FR")`` or ``IMPACTLIB_COUNTRY=FR``: the record says the location was
    configured (a report must not say it was guessed), and which setting gave it."""
    import impactlib

    monkeypatch.setenv("IMPACTLIB_STORE", str(tmp_path / "runs.db"))
    settings: dict[str, Any] = {"powercap_root": str(tmp_path / "none"), "interval": 0.1}
    if form == "argument":
        settings["country"] = "FR"
    else:
        monkeypatch.setenv("IMPACTLIB_COUNTRY", "FR")
    with impactlib.track(**settings) as tracker:
        pass
    fp = tracker.footprint
    assert fp is not None and fp.carbon is not None
    assert fp.carbon.zone == "FR" and fp.carbon.located_by is LocatedBy.CONFIGURATION
    assert fp.carbon.located_detail.startswith("configured country")
    assert LocatedBy.CONFIGURATION.label == "configured"
