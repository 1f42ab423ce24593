"""Markdown, LaTeX and HTML reports from synthetic runs; equivalents; the criteria grid."""

from __future__ import annotations

from pathlib import Path

import pytest
from sample_runs import MODEL, make_record, make_series, sample

from impactlib.errors import UsageError
from impactlib.report import equivalents, grid, html, latex, markdown, methods, svg
from impactlib.store.records import SeriesRow


def test_equivalents_by_hand() -> None:
    # 1 kg = 1000 g: 1000/175 km by car, 1000/917 tree-months, 1000/570000 NY-SF flights
    car = equivalents.equivalent(1.0, "passengerCar_EU_perkm")
    assert car.amount == pytest.approx(5.7142857)
    assert equivalents.equivalent(1.0, "tree_month").amount == pytest.approx(1.0905125)
    assert equivalents.equivalent(570.0, "flight_NY-SF").amount == pytest.approx(1.0)
    assert equivalents.sentence(1.0) == (
        "About as much CO2e as 5.7 km by car (EU average passenger car) or "
        "1.1 tree-months of CO2 uptake."
    )
    assert "flights New York - San Francisco" in equivalents.sentence(100.0)
    assert equivalents.sentence(0.0) == ""
    assert "carbonfootprint" in equivalents.citations(100.0)[0]


def test_figures_table_by_hand() -> None:
    records, _, _ = sample()
    table = methods.figures(records)
    assert table.columns[:5] == ("Run", "Duration (h)", "Energy (kWh)", "CPU (kWh)", "GPU (kWh)")
    # run-a: (1 + 2) kWh x PUE 1.5 = 4.5 kWh; x 56 g = 0.252 kg
    row = dict(zip(table.columns, table.rows[0], strict=True))
    assert row["Energy (kWh)"] == "4.5" and row["CO2e (kg)"] == "0.252"
    assert row["CPU (kWh)"] == "1.5" and row["GPU (kWh)"] == "3"
    assert row["Params"] == "11.7 M" and row["FLOPs/forward"] == "3.64 G"
    assert row["Intensity (gCO2e/kWh)"] == "56 (FR)"
    assert table.total is not None
    total = dict(zip(table.columns, table.total, strict=True))
    # run-b: 0.5 kWh x 1.5 = 0.75 kWh
    assert total["Energy (kWh)"] == "5.25" and total["Duration (h)"] == "4"


def test_methods_paragraph_says_what_a_paper_needs() -> None:
    records, _, _ = sample()
    text = methods.methods_paragraph(records)
    for needle in (
        "2 runs",
        "RAPL",
        "NVML",
        "attributed",
        "measured",
        "FR",
        "OWID / Ember, year 2023",
        "location from configuration",
        "PUE",
        "1.5",
        "Embodied",
        "Xeon Gold 6148",
        "11.7 M parameters",
        "multiply-add counts 2",
    ):
        assert needle in text, needle


def test_markdown() -> None:
    records, series, g = sample()
    text = markdown.render(records, series, g)
    assert text.startswith("# Energy and carbon report")
    assert "| Run | Duration (h) | Energy (kWh) |" in text
    assert "| run-a | 2 | 4.5 |" in text
    assert "## Multi-criteria assessment" in text
    assert "| Fairness | - | partial | Evaluated per site \\| no personal data |" in text
    assert "| Performance | accuracy = 0.91 | good |" in text
    assert "| Environmental impact | 5.25 kWh" in text
    assert "km by car" in text  # 0.294 kg -> car km in the summary


def test_latex_escapes_and_tables() -> None:
    records, series, g = sample()
    records[0] = make_record("run_a%1", model=MODEL)
    text = latex.render(records, series, g)
    assert r"run\_a\%1" in text and "run_a%1" not in text.replace("% impactlib", "")
    assert r"\begin{tabular}" in text and r"\toprule" in text
    assert r"CO\textsubscript{2}e" in text
    assert text.count(r"\begin{table}") == 2


def test_html_is_self_contained_with_charts() -> None:
    records, series, g = sample()
    page = html.render(records, series, g)
    assert page.startswith("<!DOCTYPE html>")
    # nothing fetched: no scripts, links, images or imported styles (cited URLs are only text)
    for needle in ("<script", "<link", "<img", "src=", "href=", "@import", "url(http"):
        assert needle not in page, needle
    assert page.count("<svg") == 3  # two runs' time charts + per-project totals
    assert page.count('class="series"') == 6  # cpu, gpu, dram lines in each run's chart
    assert page.count('class="bar"') == 3  # vision: cpu+gpu, nlp: cpu
    assert "Multi-criteria assessment" in page


def test_html_many_runs_summed_into_one_chart() -> None:
    records = [make_record(f"r{i}", project=f"p{i % 2}") for i in range(6)]
    series = {r.id: make_series(r.id, 5) for r in records}
    page = html.render(records, series)
    assert "6 runs summed" in page and page.count("<svg") == 2


def test_energy_series_sums_per_minute() -> None:
    rows = [
        SeriesRow("a", "2026-03-01T10:00:00+00:00", "cpu", 3600.0),
        SeriesRow("b", "2026-03-01T10:00:00+00:00", "cpu", 7200.0),
        SeriesRow("a", "2026-03-01T10:02:00+00:00", "cpu", 360.0),
    ]
    assert html.energy_series(rows) == {"cpu": [(0.0, 3.0), (2.0, 0.1)]}


def test_nice_ticks() -> None:
    assert svg.nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert svg.nice_ticks(0, 47) == [0, 10, 20, 30, 40]


def test_grid_files(tmp_path: Path) -> None:
    toml = tmp_path / "grid.toml"
    toml.write_text('method = "m"\n[explainability]\nanswer = "saliency maps"\nrating = "ok"\n')
    loaded = grid.load_grid(toml)
    assert loaded.method == "m"
    rows = loaded.rows()
    assert [r[0] for r in rows] == [title for _, title in grid.CRITERIA]
    assert rows[3] == ("Explainability / accessibility", "-", "ok", "saliency maps")
    yaml_file = tmp_path / "grid.yaml"
    yaml_file.write_text("accessibility:\n  answer: open weights\n")
    assert grid.load_grid(yaml_file).rows()[3][3] == "open weights"
    bad = tmp_path / "bad.toml"
    bad.write_text('[fairnes]\nanswer = "x"\n')
    with pytest.raises(UsageError, match="unknown criterion 'fairnes' \\(did you mean fairness"):
        grid.load_grid(bad)
    bad.write_text("[need]\nscore = 3\n")
    with pytest.raises(UsageError, match="unknown field 'need.score'"):
        grid.load_grid(bad)
    (tmp_path / "grid.txt").write_text("need = 1")
    with pytest.raises(UsageError, match=".toml, .yaml or .yml"):
        grid.load_grid(tmp_path / "grid.txt")
