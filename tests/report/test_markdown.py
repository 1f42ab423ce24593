"""Markdown report: prose methods, a notes list apart, figures and the grid as pipe tables."""

from __future__ import annotations

from renderhelp import render
from sample_runs import sample

from impactlib.report import markdown


def test_markdown() -> None:
    records, series, g = sample()
    text = render(markdown, records, series, g)
    assert text.startswith("# Energy and carbon report")
    assert "| Run | Duration (h) | Energy (kWh) |" in text
    assert "| run-a | 2 | 4.5 |" in text
    assert "## Multi-criteria assessment" in text
    assert "| Criterion | ResNet-18 fine-tuning |" in text  # one column per method
    assert "| Fairness | rating: partial; Evaluated per site \\| no personal data |" in text
    assert "| Performance | accuracy = 0.91; rating: good |" in text
    assert "| Environmental impact |" in text
    assert "km by car" in text  # 0.294 kg -> car km in the summary


def test_notes_follow_the_methods_prose() -> None:
    records, series, _ = sample()
    text = render(markdown, records, series)
    methods_part = text.split("## Methods\n\n", 1)[1].split("\n\n## Figures", 1)[0]
    prose, notes = methods_part.split("\n\n### Notes\n\n")
    assert "\n" not in prose  # one configuration, one paragraph
    assert notes.startswith("- ") and "A100" in notes  # the embodied note
