"""`impactlib report --by ... --since ... --until ...` in every format, and its bad input."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from clihelp import assert_one_line_error, cli
from sample_runs import make_record, save_record

from impactlib.cli.report import FORMATS
from impactlib.store import open_store


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
    assert "13.5" in text or "13.500" in text or "13.5 kWh" in text  # 3 x 4.5 kWh in total


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
