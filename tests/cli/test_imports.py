"""`impactlib import codecarbon`: files CodeCarbon itself wrote (2.8.4 and 3.3.2) import with
the same energy and emissions per row, once per run_id; a bad file writes nothing."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from clihelp import assert_one_line_error, cli

from impactlib.store import open_store

DATA = Path(__file__).parent.parent / "data" / "codecarbon"
FILES = sorted(DATA.glob("emissions-*.csv"))


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_codecarbon_file_imports_with_the_same_energy_and_emissions(
    path: Path, tmp_path: Path
) -> None:
    store = tmp_path / "s.db"
    for _ in range(2):  # idempotent on run_id
        result = cli("import", "codecarbon", str(path), "--store", str(store), "--user", "eve")
        assert result.returncode == 0, result.stderr
    runs = {r.id: r for r in open_store(str(store)).list_runs()}
    rows = _rows(path)
    assert len(runs) == len(rows) == 2
    for row in rows:
        run = runs[row["run_id"]]
        fp = run.footprint
        assert fp is not None and run.user == "eve" and run.project == row["project_name"]
        assert fp.energy_kwh == pytest.approx(float(row["energy_consumed"]), rel=1e-12)
        assert fp.emissions_kg == pytest.approx(float(row["emissions"]), rel=1e-12)
        assert fp.duration_s == pytest.approx(float(row["duration"]))
        assert fp.component_kwh("cpu") == pytest.approx(float(row["cpu_energy"]), rel=1e-12)
        assert {c.method for c in fp.components} == {"codecarbon"}
        assert {c.quality for c in fp.components} == {"imported"}  # never called measured
        assert fp.carbon is not None and fp.carbon.located_by == "imported"
        assert run.config["source"] == "imported from CodeCarbon"
        assert run.config["codecarbon_version"] == row["codecarbon_version"]
        assert "imported from CodeCarbon " + row["codecarbon_version"] in fp.warnings[0]


def test_missing_columns_are_one_line_and_nothing_is_written(tmp_path: Path) -> None:
    good = FILES[0]
    bad = tmp_path / "emissions.csv"
    rows = _rows(good)
    with bad.open("w", newline="") as fh:
        writer = csv.DictWriter(
            fh, [c for c in rows[0] if c not in ("emissions", "duration")], extrasaction="ignore"
        )
        writer.writeheader()
        writer.writerows(rows)
    store = tmp_path / "s.db"
    result = cli("import", "codecarbon", str(good), str(bad), "--store", str(store))
    assert_one_line_error(result, str(bad), "missing column(s) duration, emissions")
    assert not store.exists()  # the good file before it was not written either


def test_host_and_utc_options(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    result = cli(
        "import", "codecarbon", str(FILES[0]), "--store", str(store), "--host", "laptop7", "--utc"
    )
    assert result.returncode == 0, result.stderr
    runs = open_store(str(store)).list_runs()
    row = _rows(FILES[0])[0]
    first = next(r for r in runs if r.id == row["run_id"])
    assert first.host == "laptop7"
    assert first.ended_at is not None and first.ended_at.startswith(row["timestamp"])
