"""HTML report: self-contained, short ids, human numbers, charts that do not invent data."""

from __future__ import annotations

import re

from renderhelp import render
from sample_runs import make_record, make_series, sample

from impactlib.report import html
from impactlib.store.records import SeriesRow

LONG_ID = "0123456789abcdef0123456789abcdef"


def test_html_is_self_contained_with_charts() -> None:
    records, series, g = sample()
    page = render(html, records, series, g)
    assert page.startswith("<!DOCTYPE html>")
    # nothing fetched: no scripts, links, images or imported styles (cited URLs are only text)
    for needle in ("<script", "<link", "<img", "src=", "href=", "@import", "url(http"):
        assert needle not in page, needle
    assert page.count("<svg") == 3  # two runs' time charts + energy per project
    assert page.count('class="series"') == 6  # cpu, gpu, dram lines in each run's chart
    assert page.count('class="bar"') == 3  # vision: cpu+gpu, nlp: cpu
    assert "Multi-criteria assessment" in page
    assert '<ul class="notes">' in page


def test_short_ids_and_human_numbers() -> None:
    record = make_record(LONG_ID, cpu_j=0.48, gpu_j=0.01, pue=1.0)
    page = render(html, [record], {LONG_ID: make_series(LONG_ID, 5)})
    assert LONG_ID not in page and LONG_ID[:8] in page
    text = re.sub(r"<[^>]+>", " ", page)
    assert not re.search(r"\d[eE][-+]?\d", text)  # no scientific notation anywhere shown
    assert "0.136 mWh" in text


def test_a_missing_minute_breaks_the_line() -> None:
    rows = [
        SeriesRow("a", f"2026-03-01T10:{m:02d}:00+00:00", "cpu", 600.0) for m in (0, 1, 2, 6, 7)
    ]
    page = render(html, [make_record("a")], {"a": rows})
    assert page.count('class="series"') == 2  # minutes 0-2, then 6-7: nothing drawn between
    assert "minutes since 2026-03-01 10:00 UTC" in page


def test_one_short_run_gets_its_components_not_a_dot() -> None:
    rows = [SeriesRow("a", "2026-03-01T10:00:00+00:00", k, 60.0) for k in ("cpu", "gpu")]
    page = render(html, [make_record("a")], {"a": rows})
    assert 'class="series"' not in page and "too short for a curve" in page
    chart = page.split("<h2>Energy by component</h2>", 1)[1]
    assert "Energy by component, run a" in chart
    assert chart.count('class="bar"') == 2  # one bar per component of the run
    assert ">CPU</text>" in chart and ">GPU</text>" in chart


def test_runs_of_one_project_get_a_bar_each() -> None:
    records = [make_record(f"run-{i}") for i in range(3)]
    page = render(html, records, {})
    assert "Energy per run by component, project vision" in page
    assert page.count('class="bar"') == 6  # cpu + gpu for each run


def test_html_many_runs_summed_into_one_chart() -> None:
    records = [make_record(f"r{i}", project=f"p{i % 2}") for i in range(6)]
    series = {r.id: make_series(r.id, 5) for r in records}
    page = render(html, records, series)
    assert "6 runs summed" in page and page.count("<svg") == 2
    assert "Energy per project by component" in page


def test_energy_series_sums_per_minute() -> None:
    rows = [
        SeriesRow("a", "2026-03-01T10:00:00+00:00", "cpu", 3600.0),
        SeriesRow("b", "2026-03-01T10:00:00+00:00", "cpu", 7200.0),
        SeriesRow("a", "2026-03-01T10:02:00+00:00", "cpu", 360.0),
    ]
    assert html.energy_series(rows) == {"cpu": [(0.0, 10800.0), (2.0, 360.0)]}
