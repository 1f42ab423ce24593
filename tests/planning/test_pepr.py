"""PePR: hand-computed scores, Pareto front, edge cases, stored runs as rows, human output."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from sample_runs import make_record

from impactlib.errors import UsageError
from impactlib.planning.pepr import (
    guess_variant,
    load_rows,
    pareto_flags,
    pepr_groups,
    pepr_scores,
    pepr_table,
    rows_from_records,
)
from impactlib.store.records import RunRecord

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
    results, alone = pepr_groups(rows, "acc", "e", "exp")
    assert alone == ()
    assert [r.group for r in results] == ["exp = a", "exp = b"]
    assert [r.pepr for r in results[0].rows] == pytest.approx([0.5, 0.25])
    assert [r.pepr for r in results[1].rows] == pytest.approx([0.9, 0.3])


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


def test_a_group_of_one_is_named_not_fatal() -> None:
    rows = [*ROWS, {"model": "lonely", "acc": 0.5, "energy_kwh": 9.0, "task": "other"}]
    rows = [{"task": "digits", **row} for row in rows]
    results, alone = pepr_groups(rows, "acc", "energy_kwh", "task")
    assert [r.group for r in results] == ["task = digits"] and len(results[0].rows) == 4
    assert alone == ("task = other (lonely)",)
    with pytest.raises(UsageError, match="every model has a single row"):
        pepr_groups(ROWS, "acc", "energy_kwh", "model")


def _run(run_id: str, experiment: str, energy_j: float, **metrics: float) -> RunRecord:
    model = {"params": 10, "metrics": metrics} if metrics else None
    record = make_record(run_id, cpu_j=energy_j, gpu_j=0.0, model=model)
    return dataclasses.replace(record, experiment=experiment)


def test_stored_runs_are_labelled_by_experiment() -> None:
    # make_record: PUE 1.5, so 3.6 MJ -> 1.5 kWh
    small = _run("r-small-1", "mlp-small", 3.6e6, acc=0.8)
    big = _run("r-big-2", "mlp-large", 7.2e6, acc=0.9)
    unnamed = _run("r-unnamed-3", "", 7.2e6, acc=0.7)
    rows, lacking = rows_from_records([small, big, unnamed], "acc")
    assert lacking == ()
    assert [r["label"] for r in rows] == ["mlp-small", "mlp-large", "r-unnamed-3"]
    assert [r["energy_kwh"] for r in rows] == pytest.approx([1.5, 3.0, 3.0])
    assert rows[0]["params"] == 10 and rows[1]["acc"] == 0.9
    assert rows[0]["duration_s"] == 7200.0 and rows[0]["cpu_hours"] == 4.0
    (result,), _ = pepr_groups(rows, "acc", "energy_kwh", "project")
    assert [r.pepr for r in result.rows] == pytest.approx([0.8, 0.45, 0.35])
    assert result.group == "project = vision"


def test_repeated_experiments_get_their_run_id() -> None:
    rows, _ = rows_from_records(
        [_run("aaaa1111x", "seed", 1.0, acc=0.8), _run("bbbb2222y", "seed", 2.0, acc=0.8)], "acc"
    )
    assert [r["label"] for r in rows] == ["seed (run aaaa1111)", "seed (run bbbb2222)"]


def test_runs_without_the_metric_are_named() -> None:
    runs = [
        _run("r-1", "a", 1.0, acc=0.8),
        _run("r-2", "b", 2.0, loss=0.1),
        _run("r-3", "c", 3.0, acc=0.9),
        _run("r-4", "d", 4.0),
    ]
    rows, lacking = rows_from_records(runs, "acc")
    assert [r["label"] for r in rows] == ["a", "c"]
    assert lacking == ("b", "d")
    with pytest.raises(
        UsageError,
        match="no stored run has the metric 'f1' \\(metrics found: "
        "acc, loss\\); attach it with `impactlib metrics RUN f1=VALUE`",
    ):
        rows_from_records(runs, "f1")
