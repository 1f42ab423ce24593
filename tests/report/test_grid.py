"""The criteria grid: methods side by side, each with the figures of its own runs; files read
and checked with one-line errors; and ``report --grid`` through the CLI."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from clihelp import assert_one_line_error, cli
from sample_runs import make_record, save_record

from impactlib.config import load_config
from impactlib.errors import UsageError
from impactlib.report import grid
from impactlib.store import open_store
from impactlib.store.records import RunRecord

THREE_METHODS = """
title = "Bird-song detection: which method?"

[[methods]]
name = "Threshold rule"
experiment = "rule"
performance = { metric = "F1", value = 0.62, rating = "poor" }
fairness = "Same rule at every site"
explainability = { rating = "high", answer = "Two thresholds" }
need = "Baseline"

[[methods]]
name = "Random forest"
experiment = "forest"
performance = { metric = "f1" }

[[methods]]
name = "CNN"
runs = ["cnn-"]
performance = { metric = "f1", rating = "good" }
need = { answer = "Replaces manual annotation", notes = "2,000 h per season" }
"""


def _run(run_id: str, experiment: str, energy_j: float, f1: float | None = None) -> RunRecord:
    """A run of ``energy_j`` on the CPU only (make_record: PUE 1.5, 56 g/kWh, 12.3 g embodied)."""
    model = {"metrics": {"f1": f1}} if f1 is not None else None
    record = make_record(run_id, cpu_j=energy_j, gpu_j=0.0, model=model)
    return dataclasses.replace(record, experiment=experiment)


RUNS = [
    _run("rule-1", "rule", 3600.0),  # 1 Wh, 1.5 Wh with PUE
    _run("forest-1", "forest", 36_000.0, f1=0.8),
    _run("forest-2", "forest", 36_000.0, f1=0.9),
    _run("cnn-1", "neural", 3.6e6, f1=0.95),  # 1 kWh, 1.5 kWh with PUE
    _run("other-1", "unrelated", 7.2e6),
]


def _load(tmp_path: Path, text: str, name: str = "grid.toml") -> grid.Grid:
    path = tmp_path / name
    path.write_text(text)
    return grid.load_grid(path)


def test_one_column_per_method_from_its_own_runs(tmp_path: Path) -> None:
    loaded = _load(tmp_path, THREE_METHODS)
    assert loaded.title == "Bird-song detection: which method?"
    columns, rows = loaded.table(RUNS)
    assert columns == ("Criterion", "Threshold rule", "Random forest", "CNN")
    assert [r[0] for r in rows] == [title for _, title in grid.CRITERIA]
    cells = {r[0]: r[1:] for r in rows}
    rule, forest, cnn = cells["Environmental impact"]
    # each method's own runs only: never the unrelated 7.2 MJ run
    assert rule == "1.5 Wh, 84 mg CO2e + 12.3 g embodied (1 run)"
    assert forest.startswith("30 Wh, 1.68 g CO2e") and forest.endswith("(2 runs)")
    assert cnn.startswith("1.5 kWh, 84 g CO2e") and cnn.endswith("(1 run)")
    assert cells["Performance"] == (
        "F1 = 0.62; rating: poor",
        "f1 = 0.85 (mean of 2 runs)",
        "f1 = 0.95; rating: good",
    )
    assert cells["Explainability / accessibility"][0] == "rating: high; Two thresholds"
    assert cells["Fairness"][1:] == ("(not answered)", "(not answered)")
    assert cells["Need"][2] == "Replaces manual annotation; 2,000 h per season"


def test_a_method_without_runs_says_how_they_were_chosen(tmp_path: Path) -> None:
    loaded = _load(tmp_path, THREE_METHODS)
    _, rows = loaded.table([r for r in RUNS if r.experiment != "forest"])
    environment = dict((r[0], r[1:]) for r in rows)["Environmental impact"]
    assert environment[1] == "no measured runs (experiment = forest)"
    performance = dict((r[0], r[1:]) for r in rows)["Performance"]
    assert performance[1] == "f1: not logged by its runs"


def test_one_method_at_the_top_level_takes_every_run(tmp_path: Path) -> None:
    loaded = _load(
        tmp_path, 'method = "m"\n[explainability]\nanswer = "saliency maps"\nrating = "ok"\n'
    )
    columns, rows = loaded.table(RUNS[:2])
    assert columns == ("Criterion", "m") and loaded.title == ""
    assert rows[3] == ("Explainability / accessibility", "rating: ok; saliency maps")
    assert rows[1][1].endswith("(2 runs)")
    yaml_file = tmp_path / "grid.yaml"
    yaml_file.write_text("accessibility:\n  answer: open weights\n")
    assert grid.load_grid(yaml_file).table().rows[3][1] == "open weights"


def test_yaml_methods(tmp_path: Path) -> None:
    loaded = _load(
        tmp_path,
        "title: t\nmethods:\n  - name: a\n    project: vision\n    need: yes we do\n"
        "  - name: b\n    runs: other-1\n",
        "grid.yml",
    )
    columns, rows = loaded.table(RUNS)
    assert columns == ("Criterion", "a", "b")
    assert rows[1][1].endswith("(5 runs)") and rows[1][2].endswith("(1 run)")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[fairnes]\nanswer = "x"\n', "unknown key 'fairnes' (did you mean fairness"),
        ("[need]\nscore = 3\n", "unknown field 'need.score'"),
        ('[performance]\nvalue = "high"\n', "'performance.value' = 'high' is not a number"),
        ('need = 3\n[[methods]]\nname = "a"\n', "'need' at the top level of a grid with methods"),
        ("methods = 3\n", "'methods' must be a list of tables"),
        ('[[methods]]\nname = "a"\nruns = 3\n', "method 1: 'runs' must be a list"),
        ('[[methods]]\nname = "a"\n[[methods]]\nexperimnt = "b"\n', "method 2: unknown key"),
        ("fairness = [1, 2]\n", "'fairness' must be a table"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        _load(tmp_path, text)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_file_errors(tmp_path: Path) -> None:
    (tmp_path / "grid.txt").write_text("need = 1")
    with pytest.raises(UsageError, match=".toml, .yaml or .yml"):
        grid.load_grid(tmp_path / "grid.txt")
    with pytest.raises(UsageError, match="cannot be read"):
        grid.load_grid(tmp_path / "missing.toml")
    with pytest.raises(UsageError, match="not valid TOML"):
        _load(tmp_path, "[[methods]\n")


def test_report_grid_through_the_cli(tmp_path: Path) -> None:
    store = open_store(load_config())
    for record in RUNS:
        save_record(store, record)
    path = tmp_path / "grid.toml"
    path.write_text(THREE_METHODS)
    for fmt in ("markdown", "latex", "html"):
        result = cli("report", "--format", fmt, "--grid", str(path))
        assert result.returncode == 0, result.stderr
        for needle in ("Threshold rule", "Random forest", "CNN", "f1 = 0.85 (mean of 2 runs)"):
            assert needle in result.stdout, (fmt, needle)
    markdown = cli("report", "--format", "markdown", "--grid", str(path)).stdout
    assert "| Criterion | Threshold rule | Random forest | CNN |" in markdown
    path.write_text('[fairnes]\nanswer = "x"\n')
    assert_one_line_error(
        cli("report", "--format", "markdown", "--grid", str(path)), "unknown key 'fairnes'"
    )


def test_a_method_still_to_be_built_is_not_measured(tmp_path: Path) -> None:
    store = open_store(load_config())
    for record in RUNS:
        save_record(store, record)
    path = tmp_path / "grid.toml"
    path.write_text(
        '[[methods]]\nname = "Rule"\nexperiment = "rule"\n'
        '[[methods]]\nname = "Neural network"\nperformance = { metric = "f1" }\n'
        'need = "Not built yet"\n'
    )
    result = cli("report", "--format", "markdown", "--grid", str(path))
    assert result.returncode == 0, result.stderr
    rows = {line.split(" | ")[0]: line for line in result.stdout.splitlines() if " | " in line}
    assert rows["| Environmental impact"].endswith(" | not measured |")  # never all runs summed
    assert rows["| Performance"].endswith(" | f1: not measured |")
    assert rows["| Environmental impact"].count("(1 run)") == 1  # the rule: its own run
