"""Hand-built SVG charts: round ticks, plain labels, lines that break where data is missing."""

from __future__ import annotations

import re

from impactlib.report import svg


def test_nice_ticks() -> None:
    assert svg.nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert svg.nice_ticks(0, 47) == [0, 10, 20, 30, 40]


def test_line_breaks_at_gaps() -> None:
    points = [(0.0, 1.0), (1.0, 2.0), (2.0, 1.5), (5.0, 1.0), (6.0, 1.2), (9.0, 3.0)]
    joined = svg.line_chart({"cpu": points}, title="t", x_label="x", y_label="y")
    assert joined.count('class="series"') == 1
    broken = svg.line_chart({"cpu": points}, title="t", x_label="x", y_label="y", gap=1.0)
    # minutes 0-2 and 5-6 are lines; minute 9 stands alone as a dot
    assert broken.count('class="series"') == 2
    assert broken.count("<circle") == len(points)


def test_labels_are_plain_decimals() -> None:
    chart = svg.bar_chart(["a", "b"], {"cpu": [0.000123, 0.00004]}, title="t", y_label="y")
    labels = re.findall(r">([^<>]*\d[^<>]*)</text>", chart)
    assert "0.000123" in labels
    assert not [label for label in labels if re.search(r"\d[eE][-+]?\d", label)], labels
