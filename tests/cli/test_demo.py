"""``impactlib demo``: two real trainings measured end to end, then read as a new user would."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from clihelp import assert_one_line_error, cli
from prose import NOT_PROSE
from rich.console import Console

from impactlib.cli import demo
from impactlib.units import J_PER_KWH, format_energy_j, format_mass_kg


def result(model: str, quality: str, energy_kwh: float) -> dict[str, object]:
    return {
        "model": model,
        "params": 301_066,
        "accuracy": 0.971,
        "wall_s": 24.1,
        "energy_kwh": energy_kwh,
        "emissions_kg": energy_kwh * 0.475,
        "quality": quality,
    }


def rendered(results: list[dict[str, object]], scores: list[float | None]) -> str:
    out = io.StringIO()
    Console(file=out, width=80).print(demo._table(results, scores))
    return out.getvalue()


def test_table_fits_80_columns_with_every_figure() -> None:
    same = rendered(
        [result("mlp-small", "estimated", 1.5e-7), result("mlp-large", "estimated", 1e-5)],
        [0.871, 0.486],
    )
    assert max(len(line) for line in same.splitlines()) <= 80
    assert "(estimated)" in same.splitlines()[0]  # one quality: said once, in the title
    for figure in ("0.15 mWh", "10 mWh", "0.0712 mg", "4.75 mg", "301,066", "0.871", "24.1 s"):
        assert figure in same, figure
    mixed = rendered(
        [result("[b]a[/b]", "measured", 1e-5), result("b", "estimated", 2e-5)], [None, 0.5]
    )
    assert "quality" in mixed and "[b]a[/b]" in mixed  # names are text, never markup
    assert max(len(line) for line in mixed.splitlines()) <= 80


def test_epochs_must_be_positive() -> None:
    pytest.importorskip("sklearn")
    assert_one_line_error(cli("demo", "--epochs", "0"), "--epochs must be >= 1")


@pytest.mark.slow
def test_demo_then_report_as_a_new_user(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    env = {"IMPACTLIB_POWERCAP_ROOT": str(tmp_path / "no-rapl"), "COLUMNS": "80"}
    run = cli("demo", "--epochs", "3", env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "mlp-small" in run.stdout and "mlp-large" in run.stdout and "PePR" in run.stdout
    assert "[model-tdp, estimated]" in run.stderr  # the summary's tag survives the console
    assert "measured" not in run.stderr.split("note:")[0]  # models are not "of X measured"
    runs = json.loads(cli("report", "--project", "impactlib-demo", "--format", "json").stdout)
    assert len(runs) == 2 and all(r["energy_kwh"] > 0 for r in runs)

    table = cli("report", env={"COLUMNS": "80"}).stdout
    assert max(len(line) for line in table.splitlines()) <= 80, table
    runs_table = table.split("Totals per", 1)[0]  # the runs, before totals and task metrics
    for r in runs:
        [row] = [line for line in runs_table.splitlines() if line.startswith(r["id"][:8])]
        for figure in (
            format_energy_j(r["energy_kwh"] * J_PER_KWH),
            format_mass_kg(r["emissions_kg"]),
        ):
            assert figure in row and float(figure.split()[0].replace(",", "")) > 0, (figure, row)
    assert "0.000" not in table and "e-0" not in table

    markdown = cli("report", "--format", "markdown").stdout
    paragraph = markdown.split("## Methods\n\n", 1)[1].split("\n\n", 1)[0]
    # no meter here (no RAPL): the runs were tracked and estimated, never "measured"
    assert paragraph.startswith("We tracked 2 runs of project impactlib-demo")
    assert NOT_PROSE.search(paragraph) is None, NOT_PROSE.search(paragraph)
    assert "not measured but estimated" in paragraph
