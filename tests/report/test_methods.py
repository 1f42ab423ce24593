"""The figures table and the methods text: units by magnitude, prose a reviewer accepts."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from prose import NOT_PROSE
from sample_runs import MODEL, make_record, sample

from impactlib.footprint import CarbonInfo, ComponentEnergy, LocatedBy
from impactlib.report import methods
from impactlib.store.records import RunRecord

CPU_MODEL_NOTE = (
    "estimated: P = TDP x (0.12 + 0.88 x utilisation); TDP 150 W x 2 socket(s) for 'Intel Xeon "
    "Gold 6148' (cpu_tdp.csv); no meter because no powercap tree at /sys/class/powercap "
    "([Errno 2] No such file or directory); idle floor 36.00 W"
)


def words(text: str) -> int:
    return len(text.split())


def modelled(run_id: str) -> RunRecord:
    """A run on a machine with no readable meter, no location configured and a dead provider."""
    base = make_record(run_id, cpu_j=1800.0, gpu_j=0.0, pue=1.0, g_per_kwh=475.0)
    assert base.footprint is not None
    cpu = ComponentEnergy(
        "cpu:model", "cpu", "model-tdp", "machine", "estimated",
        3600.0, 1500.0, 300.0, 1800.0, CPU_MODEL_NOTE, 36.0, "model",
    )  # fmt: skip
    carbon = CarbonInfo(
        "static",
        "WORLD",
        475.0,
        "IEA 2019 world average via Green Algorithms CI_aggregated v3.0",
        "rte: [Errno -2] Name or service not known (https://odre.opendatasoft.com)",
        LocatedBy.WORLD_AVERAGE,
        "no location configured: world average; set IMPACTLIB_COUNTRY or --country",
    )
    fp = replace(
        base.footprint,
        components=(cpu,),
        carbon=carbon,
        warnings=("CPU energy is estimated: fix: `sudo modprobe intel_rapl_msr`",),
        embodied_note="x hours / (lifetime h x use ratio) = 8.55e-07 kg (arXiv:2211.02001)",
    )
    return replace(base, footprint=fp, host="node2", config={"hardware": "CPU Xeon; 64 GB memory"})


def test_figures_table_by_hand() -> None:
    records, _, _ = sample()
    table = methods.figures(records)
    assert table.columns == (
        "Run", "Duration (h)", "Energy (kWh)", "Energy range (kWh)", "CPU (kWh)", "GPU (kWh)",
        "PUE", "Intensity (gCO2e/kWh)", "CO2e (g)", "CO2e range (g)", "Quality",
        "Embodied CO2e (g)", "CPU time (h)", "GPU time (h)", "Params", "FLOPs/forward",
    )  # fmt: skip
    # run-a: (1 + 2) kWh x PUE 1.5 = 4.5 kWh; x 56 g = 252 g
    row = dict(zip(table.columns, table.rows[0], strict=True))
    assert row["Energy (kWh)"] == "4.5" and row["CO2e (g)"] == "252"
    assert row["CPU (kWh)"] == "1.5" and row["GPU (kWh)"] == "3" and row["PUE"] == "1.5"
    assert row["Params"] == "11.7 M" and row["FLOPs/forward"] == "3.64 G"
    assert row["Intensity (gCO2e/kWh)"] == "56 (FR)" and row["Embodied CO2e (g)"] == "12.3"
    # RAPL and NVML's counter +-5 %; the annual FR average +-30 % on top for CO2e
    assert row["Energy range (kWh)"] == "4.27\u20134.73" and row["Quality"] == "high"
    assert row["CO2e range (g)"] == "167\u2013344"  # 252 x .95 x .7, 252 x 1.05 x 1.3, outward
    assert table.total is not None
    total = dict(zip(table.columns, table.total, strict=True))
    # run-b: 0.5 kWh x 1.5 = 0.75 kWh, 42 g
    assert total["Energy (kWh)"] == "5.25" and total["Duration (h)"] == "4"
    assert total["CO2e (g)"] == "294" and total["Run"] == "Total"
    assert total["Energy range (kWh)"] == "4.98\u20135.52"  # the runs' bounds added


def test_figures_of_short_runs_are_readable() -> None:
    records = [
        make_record("0123456789abcdef0123", cpu_j=0.48, gpu_j=0.01, pue=1.0),
        make_record("fedcba98765432100123", cpu_j=35.0, gpu_j=0.02, pue=1.0),
    ]
    table = methods.figures(records)
    assert "Energy (mWh)" in table.columns and "CO2e (mg)" in table.columns
    assert [row[0] for row in table.rows] == ["01234567", "fedcba98"]  # short run ids
    cells = [c for row in (*table.rows, table.total or ()) for c in row]
    for cell in cells:
        assert not re.fullmatch(r"-?0(\.0*)?", cell), cells  # nothing non-zero shown as 0
        assert not re.search(r"\d[eE][-+]?\d", cell), cells  # no scientific notation


def test_one_configuration_is_one_paragraph_of_prose() -> None:
    records, _, _ = sample()
    text = methods.methods_text(records)
    [paragraph] = text.paragraphs
    assert 100 <= words(paragraph) <= 190, (words(paragraph), paragraph)
    assert NOT_PROSE.search(paragraph) is None, NOT_PROSE.search(paragraph)
    for needle in (
        "We measured 2 runs of projects nlp and vision",
        "5.25 kWh (4.98\u20135.52) of electricity",  # with its range (issue 18)
        "294 g CO2e (195\u2013402)",
        "RAPL energy counters",
        "NVIDIA driver",
        "process tree's share",
        "56 gCO2e/kWh for zone FR, from the bundled annual table",
        "(2023 values)",
        "power usage effectiveness (PUE) of 1.5",
        "Embodied emissions, 24.6 g CO2e for the 2 runs, are reported separately",
        "Xeon Gold 6148",
        "11.7 M parameters",
        "counting a multiply-add as 2 operations",
    ):
        assert needle in paragraph, needle


def test_notes_take_what_prose_cannot_say() -> None:
    text = methods.methods_text([modelled("0123456789abcdef")])
    [paragraph] = text.paragraphs
    assert NOT_PROSE.search(paragraph) is None, NOT_PROSE.search(paragraph)
    assert "CPU energy was not measured but estimated from thermal design power (TDP)" in paragraph
    assert "150 W per socket for 2 sockets" in paragraph and "12 % of TDP when idle" in paragraph
    assert "the world average" in paragraph and "as no location was configured" in paragraph
    assert "after the live source failed" in paragraph
    assert paragraph.startswith("We tracked 1 run")  # nothing a meter read is "measured"
    assert "measured" not in paragraph.replace("not measured", "")
    notes = "\n".join(text.notes)
    for needle in ("sudo modprobe", "Errno -2", "https://odre", "IMPACTLIB_COUNTRY", "arXiv"):
        assert needle in notes, needle


def test_configurations_get_a_paragraph_each() -> None:
    records, _, _ = sample()
    text = methods.methods_text([*records, modelled("0123456789abcdef")])
    opening, measured, estimated = text.paragraphs[:3]
    assert opening.startswith("We measured 3 runs")
    assert measured.startswith("Runs run-a and run-b ran on host node1")
    assert estimated.startswith("Run 01234567 ran on host node2: CPU Xeon, 64 GB memory.")
    assert "RAPL" in measured and "RAPL" not in estimated
    assert "TDP" in estimated and "TDP" not in measured
    for paragraph in text.paragraphs:
        assert NOT_PROSE.search(paragraph) is None, paragraph


def test_idle_floor_source_is_stated() -> None:
    record = make_record("run-a")
    assert record.footprint is not None
    observed = methods.methods_text([record]).paragraphs[0]
    assert "lowest observed during the run, which may understate the idle share" in observed
    calibrated = replace(
        record.footprint,
        components=tuple(
            replace(c, idle_floor_w=10.0, idle_floor_source="calibrated")
            for c in record.footprint.components
        ),
    )
    text = methods.methods_text([replace(record, footprint=calibrated)]).paragraphs[0]
    assert "calibration of the host" in text and "lowest observed" not in text


def test_machine_scope_and_no_carbon() -> None:
    record = make_record("run-a")
    assert record.footprint is not None
    fp = replace(record.footprint, charged_to="machine", carbon=None)
    text = methods.methods_text([replace(record, footprint=fp)]).paragraphs[0]
    assert "The whole machine's energy was charged to the run, which had it to itself." in text
    assert "No carbon intensity was available" in text


def test_model_metrics_logged_as_metrics_count() -> None:
    record = make_record("run-a", model={"metrics": {"accuracy": 0.9, "params": 2410}})
    assert "The model had 2,410 parameters." in methods.methods_text([record]).paragraphs[0]
    table = methods.figures([record])
    cells = dict(zip(table.columns, table.rows[0], strict=True))
    assert cells["Params"] == "2,410" and cells["accuracy"] == "0.9"  # a task metric's column
    assert "FLOPs/forward" not in table.columns and "params" not in table.columns


def test_human_summary() -> None:
    records, _, _ = sample()
    assert methods.human_summary(records).startswith(
        "5.25 kWh (4.98\u20135.52) and 294 g CO2e (195\u2013402) in 2 runs. About"
    )


def test_model_constants_drop_what_is_said_elsewhere() -> None:
    assert methods.model_constants(CPU_MODEL_NOTE) == (
        "P = TDP x (0.12 + 0.88 x utilisation); TDP 150 W x 2 socket(s) for 'Intel Xeon "
        "Gold 6148' (cpu_tdp.csv)"
    )


def test_fmt_count() -> None:
    counts = (None, 2410, 301_066, 11.7e6, MODEL["forward_flops"])
    assert [methods.fmt_count(v) for v in counts] == ["-", "2,410", "301,066", "11.7 M", "3.64 G"]


@pytest.mark.parametrize(
    ("how", "said"),
    [
        (LocatedBy.CONFIGURATION, None),
        (LocatedBy.TIMEZONE, "for a location guessed from the system timezone"),
        (LocatedBy.WORLD_AVERAGE, "as no location was configured"),
        (LocatedBy.IMPORTED, "for the location the imported record gives"),
    ],
)
def test_how_the_zone_was_found_is_said_from_the_record(how: LocatedBy, said: str | None) -> None:
    record = make_record("run-a")
    assert record.footprint is not None and record.footprint.carbon is not None
    detail = "configured country (env IMPACTLIB_COUNTRY)" if said is None else "x"
    carbon = replace(record.footprint.carbon, located_by=how, located_detail=detail)
    text = methods.methods_text(
        [replace(record, footprint=replace(record.footprint, carbon=carbon))]
    )
    paragraph, notes = text.paragraphs[0], " ".join(text.notes)
    if said is None:  # configured: nothing to add, and never called guessed
        assert "guessed" not in paragraph and "Location" not in notes
    else:
        assert said in paragraph and f"Location (FR): {detail}" in notes
