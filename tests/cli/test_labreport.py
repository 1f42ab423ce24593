"""`impactlib report --by ... --since ... --until ...` in every format, and its bad input."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from clihelp import assert_one_line_error, cli
from sample_runs import make_record, save_record

from impactlib.report.formats import FORMATS
from impactlib.store import open_store
from impactlib.units import J_PER_KWH, format_energy_j


def _store(tmp_path: Path) -> str:
    path = tmp_path / "lab.db"
    store = open_store(str(path))
    for i, (user, month) in enumerate((("ann", "2026-01"), ("ann", "2026-03"), ("ben", "2026-03"))):
        record = make_record(f"r{i}", project="vision" if i < 2 else "nlp")
        fp = replace(record.footprint, started_at=f"{month}-02T08:00:00+00:00")  # type: ignore[type-var]
        save_record(store, replace(record, user=user, started_at=fp.started_at, footprint=fp))
    return str(path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_has_the_groups_and_the_total(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"lab.{fmt}"
    result = cli(
        "report", "--store", _store(tmp_path), "--by", "user,project", "-f", fmt, "-o", str(out)
    )
    assert result.returncode == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    for needle in ("ann", "ben", "vision", "nlp"):
        assert needle in text, (fmt, text)
    # 3 x 4.5 kWh in total, as raw kWh where scripts read it, else as people read it
    if fmt == "json":
        assert json.loads(text)["total"]["energy_kwh"] == pytest.approx(13.5)
    elif fmt == "csv":
        [total] = [row for row in csv.DictReader(io.StringIO(text)) if row["user"] == "all"]
        assert float(total["energy_kwh"]) == pytest.approx(13.5)
    else:
        assert "13.5 kWh" in text, text


def test_since_until_select_months(tmp_path: Path) -> None:
    store = _store(tmp_path)
    data = json.loads(
        cli(
            "report",
            "--store",
            store,
            "--by",
            "month",
            "-f",
            "json",
            "--since",
            "2026-02",
            "--until",
            "2026-03",
        ).stdout
    )
    assert [g["month"] for g in data["groups"]] == ["2026-03"]
    assert data["total"]["runs"] == 2 and data["since"] == "2026-02"
    year = json.loads(
        cli("report", "--store", store, "--by", "host", "-f", "json", "--until", "2026").stdout
    )
    assert year["total"]["runs"] == 3 and year["until"] == "2026-12"
    runs = json.loads(cli("report", "--store", store, "-f", "json", "--since", "2026-03").stdout)
    assert sorted(r["id"] for r in runs) == ["r1", "r2"]  # plain reports: by start month


def test_filters_combine_with_by(tmp_path: Path) -> None:
    data = json.loads(
        cli(
            "report",
            "--store",
            _store(tmp_path),
            "--by",
            "experiment,user",
            "-f",
            "json",
            "--project",
            "vision",
        ).stdout
    )
    assert [(g["experiment"], g["user"], g["runs"]) for g in data["groups"]] == [("exp", "ann", 2)]


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("--by", "colour"), ("--by", "unknown 'colour'", "user, project, experiment")),
        (("--by", "user,user"), ("--by", "twice")),
        (("--by", "user", "--since", "2026-13"), ("--since", "YYYY-MM")),
        (("--by", "user", "--until", "last week"), ("--until", "YYYY-MM")),
        (("--since", "2026-05", "--until", "2026-03"), ("--since 2026-05 is after", "swap")),
        # options a lab total has no use for are refused, not silently dropped
        (("--by", "user", "--run", "abc"), ("--run", "--by")),
        (("--by", "month", "--reprice"), ("--reprice", "--by")),
        (("--by", "user", "--grid", "g.toml", "-f", "markdown"), ("--grid", "--by")),
        (("--grid", "g.toml"), ("--grid", "--format markdown")),
        (("--grid", "g.toml", "-f", "json"), ("--grid", "not json")),
    ],
)
def test_bad_lab_options_are_one_line(
    tmp_path: Path, args: tuple[str, ...], needles: tuple[str, ...]
) -> None:
    assert_one_line_error(cli("report", "--store", _store(tmp_path), *args), *needles)


def _lab_with_daemon_minutes(tmp_path: Path) -> str:
    """Two users' runs in 2026-11 on node1, where the daemon modelled the CPU (no RAPL) and
    left 187 mWh to nobody's runs."""
    path = tmp_path / "lab.db"
    store = open_store(str(path))
    for i, user in enumerate(("nobody", "alice")):
        record = make_record(f"n{i}", project="vision")
        fp = replace(record.footprint, started_at="2026-11-02T08:00:00+00:00")  # type: ignore[type-var]
        save_record(store, replace(record, user=user, started_at=fp.started_at, footprint=fp))
    store.add_host_minutes(
        [
            {
                "host": "node1",
                "minute": f"2026-11-02T08:{m:02d}:00+00:00",
                "kind": kind,
                "name": "",
                "domain": "cpu:model",
                "quality": "estimated",
                "energy_j": joules,
                "floor_w": None,
            }
            for m in range(3)
            for kind, joules in (("machine", 900.0), ("unattributed", 224.4))  # 3 x 224.4 J
        ]
    )
    return str(path)


@pytest.mark.parametrize("width", ["80", "60"])
def test_by_user_month_keeps_every_cell_whole(tmp_path: Path, width: str) -> None:
    store = _lab_with_daemon_minutes(tmp_path)
    result = cli("report", "--store", store, "--by", "user,month", env={"COLUMNS": width})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= int(width), result.stdout
    data = json.loads(cli("report", "--store", store, "--by", "user,month", "-f", "json").stdout)
    for group in [*data["groups"], {**data["total"], "user": "all", "month": "all"}]:
        energy = format_energy_j(group["energy_kwh"] * J_PER_KWH)
        [row] = [line for line in lines if line.split()[:2] == [group["user"], group["month"]]]
        assert energy in row, (energy, row)  # the value and its unit, on the row's line
    [unattributed] = data["unattributed"]
    assert format_energy_j(unattributed["unattributed_kwh"] * J_PER_KWH) == "187 mWh"
    [row] = [line for line in lines if "187 mWh" in line]
    assert row.split() == ["2026-11", "187", "mWh", "0", "%"]  # its own table: month, energy


def test_unattributed_modelled_energy_is_not_called_measured(tmp_path: Path) -> None:
    store = _lab_with_daemon_minutes(tmp_path)
    for fmt in ("table", "markdown", "html"):
        text = cli("report", "--store", store, "--by", "month", "-f", fmt).stdout
        words = " ".join(text.split())
        assert "measured energy" not in words, (fmt, words)  # the daemon modelled it
        [row] = [line for line in re.split(r"\n|<tr>", text) if "187 mWh" in line]
        assert "0 %" in row and "100 %" not in row, (fmt, row)  # a model's, not a meter's
    data = json.loads(cli("report", "--store", store, "--by", "month", "-f", "json").stdout)
    [line] = data["unattributed"]
    assert line["measured_kwh"] == 0 and line["estimated_kwh"] > 0
