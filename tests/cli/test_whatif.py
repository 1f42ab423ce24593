"""``impactlib report --what-if``: on a replayed RTE series with a known clean trough, the
saving of moving each run to its cleanest start within 24 h equals the hand computation;
``pue=`` and ``zone=`` equal theirs; runs that cannot be priced are listed with why; a bad
spec is one line, exit 2."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from clihelp import assert_one_line_error, cli
from replay_server import ReplayServer
from whatif_lab import (
    ANN_MOVED,
    ANN_RUN,
    BEN_MOVED,
    BEN_RUN,
    PUE,
    SHIFT_HEADLINE,
    kg,
    replayed_lab,
    report_json,
)

from impactlib.carbon.select import static_series


@pytest.fixture
def lab(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ReplayServer]:
    """:func:`whatif_lab.seed`'s runs in the store, RTE replayed on 127.0.0.1."""
    with replayed_lab(monkeypatch, tmp_path) as server:
        yield server


def test_shift_24h_saves_what_the_hand_computation_says(lab: ReplayServer) -> None:
    ann_run, ann_moved, ben_run, ben_moved = ANN_RUN, ANN_MOVED, BEN_RUN, BEN_MOVED
    data = report_json("--what-if", "shift=24h")
    runs = {r["id"]: r for r in data["runs"]}
    assert set(runs) == {"run-ann", "run-ben"}
    assert runs["run-ann"]["baseline_kg"] == pytest.approx(ann_run)
    assert runs["run-ann"]["whatif_kg"] == pytest.approx(ann_moved)
    assert runs["run-ann"]["moved_by_s"] == 16 * 3600
    assert runs["run-ben"]["baseline_kg"] == pytest.approx(ben_run)
    assert runs["run-ben"]["whatif_kg"] == pytest.approx(ben_moved)
    assert runs["run-ben"]["moved_by_s"] == (14 * 60 + 30) * 60
    total = ann_run + ben_run - ann_moved - ben_moved
    assert data["total"]["saving_kg"] == pytest.approx(total)
    assert data["total"]["saving_pct"] == pytest.approx(100 * total / (ann_run + ben_run))
    by_user = {g["user"]: g for g in data["by_user"]}
    assert by_user["ann"]["saving_kg"] == pytest.approx(ann_run - ann_moved)
    by_project = {g["project"]: g for g in data["by_project"]}
    assert by_project["nlp"]["saving_kg"] == pytest.approx(ben_run - ben_moved)
    assert by_project["nlp"]["runs"] == 1  # cat's run is listed apart, not counted
    why = {u["id"]: u["reason"] for u in data["not_priced"]}
    assert set(why) == {"run-cat", "run-dan"}
    assert "annual value" in why["run-cat"] and "per-minute" in why["run-dan"]
    said = " ".join(data["assumptions"])
    assert "order of jobs, queueing and deadlines are ignored" in said
    assert "rte FR, 15-minute values" in said
    assert all(p.endswith("/records") for p in lab.paths())


def test_shift_table_shows_the_same_saving_per_user_and_project(lab: ReplayServer) -> None:
    result = cli("report", "--what-if", "shift=24h", env={"COLUMNS": "100"})
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert text.startswith(SHIFT_HEADLINE)
    for heading in ("Savings per user", "Savings per project", "Runs not priced (2)"):
        assert heading in text
    assert "queueing and deadlines are ignored" in text


def test_a_series_that_does_not_cover_the_run_is_said(lab: ReplayServer) -> None:
    lab.fail = "500"
    data = report_json("--what-if", "shift=6h")
    assert data["runs"] == [] and data["total"]["saving_kg"] == 0
    why = {u["id"]: u["reason"] for u in data["not_priced"]}
    assert "no rte history for FR" in why["run-ann"], why
    # never "0 g saved of 0 g", which would read as a finding
    assert data["headline"] == (
        f"What if shift=6h: no run could be priced ({len(why)} listed below, with why)"
    )


def test_pue_scales_the_recorded_emissions(lab: ReplayServer) -> None:
    data = report_json("--what-if", "pue=1.2")
    runs = {r["id"]: r for r in data["runs"]}
    assert set(runs) == {"run-ann", "run-ben", "run-cat", "run-dan"}  # no series needed
    fr = static_series("FR").points[0].g_per_kwh
    assert runs["run-ann"]["whatif_kg"] == pytest.approx(1.0 * 1.2 * fr / 1000)
    assert data["total"]["saving_pct"] == pytest.approx(100 * (1 - 1.2 / PUE))
    assert lab.paths() == []  # nothing to fetch


def test_zone_prices_the_same_energy_in_another_zone(lab: ReplayServer) -> None:
    data = report_json("--what-if", "zone=se", "--project", "vision")
    se = static_series("SE").points[0].g_per_kwh
    fr = static_series("FR").points[0].g_per_kwh
    runs = {r["id"]: r for r in data["runs"]}
    assert runs["run-ann"]["whatif_kg"] == pytest.approx(kg(1.0, se))
    assert runs["run-ann"]["baseline_kg"] == pytest.approx(kg(1.0, fr))
    assert runs["run-dan"]["whatif_kg"] == pytest.approx(kg(0.5, se))  # one annual value
    assert data["what_if"] == "zone=SE"


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("shift=abc", "shift=abc"),
        ("shift=30d", "at most"),
        ("speed=2", "shift=..."),
        ("shift", "shift=..."),
        ("pue=0.8", ">= 1.0"),
        ("zone=Atlantis", "Atlantis"),
    ],
)
def test_a_bad_spec_is_one_line_exit_2(spec: str, needle: str) -> None:
    assert_one_line_error(cli("report", "--what-if", spec), needle)


def test_what_if_refuses_options_it_would_ignore() -> None:
    assert_one_line_error(cli("report", "--what-if", "pue=1.2", "--by", "user"), "--by")
    assert_one_line_error(cli("report", "--what-if", "pue=1.2", "--format", "csv"), "table")
