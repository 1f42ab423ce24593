"""PePR: hand-computed scores, Pareto front, edge cases, the CLI and its one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clihelp import assert_one_line_error, cli

from impactlib.errors import UsageError
from impactlib.planning.pepr import (
    guess_variant,
    load_rows,
    pareto_flags,
    pepr_groups,
    pepr_scores,
    pepr_table,
    plot_svg,
    render_text,
)

ROWS = [
    {"model": "small", "acc": 0.80, "energy_kwh": 1.0},
    {"model": "mid", "acc": 0.90, "energy_kwh": 3.0},
    {"model": "big", "acc": 0.92, "energy_kwh": 5.0},
    {"model": "bad", "acc": 0.70, "energy_kwh": 4.0},
]


def test_scores_by_hand() -> None:
    # r = 1, 3, 5, 4 -> R = 0, 0.5, 1, 0.75 over [1, 5]
    result = pepr_table(ROWS, "acc", "energy_kwh")
    expected = [0.80 / 1.0, 0.90 / 1.5, 0.92 / 2.0, 0.70 / 1.75]
    assert [r.pepr for r in result.rows] == pytest.approx(expected)
    assert [r.pepr for r in result.rows] == pytest.approx([0.8, 0.6, 0.46, 0.4])
    assert [r.normalised_resource for r in result.rows] == pytest.approx([0, 0.5, 1, 0.75])
    assert (result.resource_min, result.resource_max) == (1.0, 5.0)
    assert result.name == "PePR-E"
    assert result.best().label == "small"
    assert "min 1, max 5" in result.explanation() and "4 rows" in result.explanation()


def test_bounds_least_keeps_p_most_is_halved() -> None:
    scores = pepr_scores([0.6, 0.6, 0.6], [10.0, 20.0, 30.0])
    assert scores == pytest.approx([0.6, 0.4, 0.3])


def test_scores_depend_on_the_set() -> None:
    # adding a dearer model changes the others' R and so their scores
    before = pepr_scores([0.9, 0.8], [2.0, 1.0])
    after = pepr_scores([0.9, 0.8, 0.95], [2.0, 1.0, 3.0])
    assert before == pytest.approx([0.45, 0.8])
    assert after[:2] == pytest.approx([0.9 / 1.5, 0.8])


def test_pareto_front() -> None:
    assert pareto_flags([0.8, 0.9, 0.92, 0.7], [1, 3, 5, 4]) == [True, True, True, False]
    # equal points do not dominate each other
    assert pareto_flags([0.5, 0.5], [1, 1]) == [True, True]


def test_all_equal_resources_is_an_error() -> None:
    with pytest.raises(UsageError, match="all 3 resources are equal"):
        pepr_scores([0.1, 0.2, 0.3], [2.0, 2.0, 2.0])


@pytest.mark.parametrize("p", [1.2, -0.1, 87.0])
def test_performance_outside_unit_interval(p: float) -> None:
    with pytest.raises(UsageError, match="outside \\[0, 1\\]"):
        pepr_scores([0.5, p], [1.0, 2.0])


def test_percentage_hint() -> None:
    with pytest.raises(UsageError, match="percentage"):
        pepr_scores([50.0, 60.0], [1.0, 2.0])


def test_single_row_and_non_numeric() -> None:
    with pytest.raises(UsageError, match="at least two"):
        pepr_table(ROWS[:1], "acc", "energy_kwh")
    rows = [dict(ROWS[0]), {**ROWS[1], "acc": "n/a"}]
    with pytest.raises(UsageError, match="row 2 \\(mid\\): 'acc' = 'n/a' is not a number"):
        pepr_table(rows, "acc", "energy_kwh")
    with pytest.raises(UsageError, match="missing column 'acuracy' \\(did you mean acc"):
        pepr_table(ROWS, "acuracy", "energy_kwh")


def test_variants_guessed_and_forced() -> None:
    assert guess_variant("energy_kwh") == "E"
    assert guess_variant("co2_g") == "C"
    assert guess_variant("train_time") == "T"
    assert guess_variant("memR") == "M"
    assert guess_variant("cost") == ""
    assert pepr_table(ROWS, "acc", "energy_kwh", variant="t").name == "PePR-T"
    with pytest.raises(UsageError, match="unknown PePR variant"):
        pepr_table(ROWS, "acc", "energy_kwh", variant="X")


def test_groups_are_scored_separately() -> None:
    rows = [
        {"exp": "a", "acc": 0.5, "e": 1},
        {"exp": "a", "acc": 0.5, "e": 3},
        {"exp": "b", "acc": 0.9, "e": 10},
        {"exp": "b", "acc": 0.6, "e": 20},
    ]
    results = pepr_groups(rows, "acc", "e", "exp")
    assert [r.group for r in results] == ["exp = a", "exp = b"]
    assert [r.pepr for r in results[0].rows] == pytest.approx([0.5, 0.25])
    assert [r.pepr for r in results[1].rows] == pytest.approx([0.9, 0.3])


def test_text_and_plot() -> None:
    result = pepr_table(ROWS, "acc", "energy_kwh")
    text = render_text([result])
    assert "0.4600" in text and "PePR-E" in text
    svg = plot_svg(result)
    assert svg.startswith("<svg") and svg.count('class="point"') == 4
    assert 'class="pareto-front"' in svg and svg.count('class="guide"') == 4


def test_load_csv_and_json(tmp_path: Path) -> None:
    csv_file = tmp_path / "r.csv"
    csv_file.write_text("model,acc,energy_kwh\nsmall,0.8,1\nbig,0.9,2\n")
    assert load_rows(csv_file) == [
        {"model": "small", "acc": 0.8, "energy_kwh": 1},
        {"model": "big", "acc": 0.9, "energy_kwh": 2},
    ]
    json_file = tmp_path / "r.json"
    json_file.write_text(json.dumps({"rows": ROWS}))
    assert load_rows(json_file) == ROWS
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(UsageError, match="not valid JSON"):
        load_rows(tmp_path / "bad.json")


def test_cli_json_adds_pepr_to_input_rows(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    path.write_text("model,acc,energy_kwh,note\nsmall,0.8,1,x\nmid,0.9,3,y\nbig,0.92,5,z\n")
    result = cli(
        "pepr", str(path), "--performance", "acc", "--resource", "energy_kwh", "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["model"] for r in rows] == ["small", "mid", "big"]
    assert [r["note"] for r in rows] == ["x", "y", "z"]
    assert [r["pepr"] for r in rows] == pytest.approx([0.8, 0.6, 0.46])


def test_cli_text_prints_set_normalisation_and_plot(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(ROWS))
    plot = tmp_path / "pepr.svg"
    result = cli(
        "pepr", str(path), "--performance", "acc", "--resource", "energy_kwh", "--plot", str(plot)
    )
    assert result.returncode == 0, result.stderr
    flat = " ".join(result.stdout.split())
    assert "PePR-E = P / (1 + R)" in flat and "min 1, max 5" in flat
    assert "0.4600" in result.stdout and "small (best)" in result.stdout
    assert plot.read_text().startswith("<svg")


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("model,acc,energy_kwh\na,0.8,2\nb,0.9,2\n")
    assert_one_line_error(
        cli("pepr", str(path), "--performance", "acc", "--resource", "energy_kwh"),
        "resources are equal",
    )
    path.write_text("model,acc,energy_kwh\na,80,1\nb,90,2\n")
    assert_one_line_error(
        cli("pepr", str(path), "--performance", "acc", "--resource", "energy_kwh"),
        "outside [0, 1]",
    )
    path.write_text("model,acc,energy_kwh\na,0.8,1\nb,high,2\n")
    assert_one_line_error(
        cli("pepr", str(path), "--performance", "acc", "--resource", "energy_kwh"),
        "'acc' = 'high' is not a number",
    )
    assert_one_line_error(
        cli("pepr", str(path), "--performance", "acc", "--resource", "energy"),
        "missing column 'energy'",
        "energy_kwh",
    )
    assert_one_line_error(
        cli("pepr", str(tmp_path / "nope.csv"), "--performance", "acc"), "cannot be read"
    )


def test_rows_from_stored_records_grouped_by_experiment() -> None:
    from sample_runs import make_record

    from impactlib.planning.pepr import rows_from_records

    small = make_record(
        "r-small", cpu_j=3.6e6, gpu_j=0.0, model={"params": 10, "metrics": {"acc": 0.8}}
    )
    big = make_record(
        "r-big", cpu_j=3.6e6, gpu_j=3.6e6, model={"params": 99, "metrics": {"acc": 0.9}}
    )
    rows = rows_from_records([small, big])
    assert rows[0]["energy_kwh"] == pytest.approx(1.5) and rows[1]["energy_kwh"] == pytest.approx(
        3.0
    )
    assert rows[0]["params"] == 10 and rows[1]["acc"] == 0.9
    (result,) = pepr_groups(rows, "acc", "energy_kwh", "experiment")
    assert [r.pepr for r in result.rows] == pytest.approx([0.8, 0.45])
    assert result.group == "experiment = exp"
