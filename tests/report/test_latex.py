"""LaTeX fragment: escaped, booktabs tables, notes as comments the paper does not print."""

from __future__ import annotations

from renderhelp import render
from sample_runs import MODEL, make_record, sample

from impactlib.report import latex


def test_latex_escapes_and_tables() -> None:
    records, series, g = sample()
    records[0] = make_record("run_a%1", model=MODEL)
    text = render(latex, records, series, g)
    typeset = [line for line in text.splitlines() if not line.startswith("%")]
    assert r"run\_a\%1" in text and not [line for line in typeset if "run_a%1" in line]
    assert r"\begin{tabular}" in text and r"\toprule" in text
    assert r"CO\textsubscript{2}e" in text
    assert text.count(r"\begin{table}") == 2


def test_notes_are_comments() -> None:
    records, series, _ = sample()
    lines = render(latex, records, series).splitlines()
    start = lines.index("% Notes behind these figures (for the authors, not typeset):")
    notes = lines[start + 1 : lines.index(r"\begin{table}[t]")]
    assert notes and all(line.startswith("% - ") for line in notes)
