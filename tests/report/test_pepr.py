"""PePR results for people: the formula line, the table and the plot, in display units."""

from __future__ import annotations

import re
from typing import Any

from impactlib.planning.pepr import pepr_table
from impactlib.report.pepr import explanation, plot_svg, rich_table

ROWS: list[dict[str, Any]] = [
    {"model": "small", "acc": 0.80, "energy_kwh": 1.0},
    {"model": "mid", "acc": 0.90, "energy_kwh": 3.0},
    {"model": "big", "acc": 0.92, "energy_kwh": 5.0},
    {"model": "bad", "acc": 0.70, "energy_kwh": 4.0},
]


def test_explanation_names_the_set_and_its_bounds() -> None:
    text = explanation(pepr_table(ROWS, "acc", "energy_kwh"))
    assert text.startswith("PePR-E = P / (1 + R), P = acc")
    assert "min 1 kWh, max 5 kWh" in text and "4 rows" in text


def test_plot_in_display_units() -> None:
    result = pepr_table(ROWS, "acc", "energy_kwh")
    svg = plot_svg(result)
    assert svg.startswith("<svg") and svg.count('class="point"') == 4
    assert 'class="pareto-front"' in svg and svg.count('class="guide"') == 4
    assert "energy_kwh (kWh)" in svg
    small = [{**row, "energy_kwh": row["energy_kwh"] / 1000} for row in ROWS]  # 1-5 Wh
    assert "energy_kwh (Wh)" in plot_svg(pepr_table(small, "acc", "energy_kwh"))


def test_table_has_units_and_no_scientific_notation() -> None:
    from rich.console import Console

    tiny = [
        {"model": "a", "acc": 0.8, "energy_kwh": 0.0000123},
        {"model": "b", "acc": 0.9, "energy_kwh": 0.0000456},
    ]
    result = pepr_table(tiny, "acc", "energy_kwh")
    assert explanation(result).endswith("min 12.3 mWh, max 45.6 mWh")
    console = Console(width=160, record=True)
    console.print(rich_table(result))
    text = console.export_text()
    assert "12.3 mWh" in text and "45.6 mWh" in text
    assert not re.search(r"\d[eE][-+]?\d", text), text


def test_markup_in_labels_is_kept() -> None:
    from rich.console import Console

    rows = [
        {"model": "[bold]a", "acc": 0.8, "energy [kWh]": 1.0},
        {"model": "b", "acc": 0.9, "energy [kWh]": 2.0},
    ]
    console = Console(width=160, record=True)
    console.print(rich_table(pepr_table(rows, "acc", "energy [kWh]")))
    text = console.export_text()
    assert "[bold]a" in text and "energy [kWh]" in text
