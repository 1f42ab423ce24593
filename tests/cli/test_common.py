"""The run summary: one unit scale, "of X measured" only for meters, models name themselves."""

from __future__ import annotations

import re

from impactlib.cli.common import summary_lines, wrap_lines
from impactlib.footprint import CarbonInfo, ComponentEnergy, Footprint

# The notes as the model meters write them (meters/model.py)
CPU_MODEL_NOTE = (
    "estimated: P = TDP x (0.12 + 0.88 x utilisation); CPU model 'AMD EPYC' not in the bundled "
    "tables: Green Algorithms default 12 W/core x 2 core(s); set cpu_tdp_w to be exact; no meter "
    "because no powercap tree at /sys/class/powercap; idle floor 2.88 W"
)


def footprint(*components: ComponentEnergy) -> Footprint:
    return Footprint(
        "0123456789abcdef0123456789abcdef",
        "tree",
        "usage",
        "2026-03-01T10:00:00.000+00:00",
        "2026-03-01T10:00:00.108+00:00",
        0.108,
        components,
        1.0,
        6.4e-8,
        CarbonInfo("static", "FR", 56.0, "OWID / Ember, year 2023"),
        embodied_kg=8.5e-7,
    )


def test_model_says_what_it_is_and_meters_say_of_what() -> None:
    model = ComponentEnergy(
        "cpu:model", "cpu", "model-tdp", "machine", "estimated",
        1.48, 0.33, 0.15, 1.0, CPU_MODEL_NOTE, 2.88, "model",
    )  # fmt: skip
    rapl = ComponentEnergy(
        "cpu:package-0", "cpu", "rapl", "machine", "attributed",
        7200.0, 3000.0, 600.0, 3600.0, "/sys/class/powercap/intel-rapl:0", 10.0, "calibrated",
    )  # fmt: skip
    lines = summary_lines(footprint(model, rapl), "0123456789abcdef", "completed", "/tmp/s.db")
    text = "\n".join(lines)
    assert lines[0] == (
        "impactlib: run 01234567 completed in 0.108 s (scope tree, idle policy usage)"
    )
    [model_line] = [line for line in lines if "cpu:model" in line]
    assert "measured" not in model_line  # nothing was measured for a model to be a share of
    assert "0.133 mWh" in model_line and "[model-tdp, estimated]" in model_line
    assert "idle floor 2.88 W (model)" in model_line
    constants = lines[lines.index(model_line) + 1]
    assert "model: P = TDP x (0.12 + 0.88 x utilisation)" in constants
    assert "12 W/core x 2 core(s)" in constants and "no meter because" not in constants
    [rapl_line] = [line for line in lines if "cpu:package-0" in line]
    assert "1 Wh of 2 Wh measured  [rapl, attributed]" in rapl_line
    assert "idle floor 10 W (calibrated)" in rapl_line
    # the emissions with their range (issue 18), the embodied part apart
    assert re.search(r"emissions 0\.064 mg CO2e \(\S+\u2013\S+\)", text), text
    assert "embodied (separate, not in emissions): 0.85 mg" in text
    assert not re.search(r"\d\.0{4}|\de-\d", text)  # no 0.0000 padding, no scientific notation


def test_the_summary_folds_to_the_terminal_and_loses_no_word() -> None:
    model = ComponentEnergy(
        "cpu:model", "cpu", "model-tdp", "machine", "estimated",
        1.48, 0.33, 0.15, 1.0, CPU_MODEL_NOTE, 2.88, "model",
    )  # fmt: skip
    long_path = "/scratch/" + "x" * 90 + "/runs.db"
    lines = summary_lines(footprint(model), "0123456789abcdef", "completed", long_path)
    folded = wrap_lines(lines, 80)
    assert all(len(line) <= 80 for line in folded if long_path not in line)
    assert " ".join(" ".join(folded).split()) == " ".join(" ".join(lines).split())
    model_at = next(i for i, line in enumerate(folded) if "model: P" in line)
    label_end = folded[model_at].index("model: ") + len("model: ")
    assert folded[model_at + 1].startswith(" " * label_end)  # continued under the label
