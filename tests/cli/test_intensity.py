"""``impactlib intensity`` and ``impactlib schedule`` end to end, against the replay server."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from replay_server import ALL_ROUTES, ReplayServer, clean_env

from impactlib.cli.main import main


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ReplayServer]:
    clean_env(monkeypatch, tmp_path)
    with ReplayServer(ALL_ROUTES) as srv:
        for key in ("RTE_URL", "GB_URL", "ELECTRICITYMAPS_URL"):
            monkeypatch.setenv(f"IMPACTLIB_{key}", srv.url)
        yield srv


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
    out, err = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 0), out, err


def test_intensity_json(server: ReplayServer, capsys: pytest.CaptureFixture[str]):
    code, out, _ = cli(
        ["intensity", "--zone", "FR", "--at", "2024-01-15T19:05Z", "--format", "json"], capsys
    )
    assert code == 0
    data = json.loads(out)
    assert data["zone"] == "FR" and data["unit"] == "gCO2e/kWh"
    assert data["now"] == {
        "g_per_kwh": 63.0,
        "kind": "estimated",
        "start": "2024-01-15T19:00:00Z",
        "source": "rte",
    }
    assert data["history"]["source"] == "rte" and data["history"]["fallback"] is None
    assert "production" in data["history"]["basis"]
    assert data["forecast"] is None


def test_intensity_csv_with_forecast(server: ReplayServer, capsys: pytest.CaptureFixture[str]):
    code, out, _ = cli(
        ["intensity", "-z", "GB-13", "--forecast", "--at", "2024-01-15T18:00Z", "--format", "csv"],
        capsys,
    )
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    forecast = [r for r in rows if r["series"] == "forecast"]
    assert len(forecast) == 96 and forecast[0]["zone"] == "GB-13"
    assert {r["kind"] for r in forecast} == {"forecast"}
    assert rows[0].keys() == {"series", "start", "end", "g_per_kwh", "kind", "source", "zone"}


def test_intensity_table_has_a_chart(server: ReplayServer, capsys: pytest.CaptureFixture[str]):
    code, out, _ = cli(["intensity", "-z", "GB", "--forecast", "--at", "2024-01-15T20:00Z"], capsys)
    assert code == 0
    assert "zone GB" in out and "gCO2e/kWh" in out
    assert any(ch in out for ch in "▁▂▃▄▅▆▇█")
    assert "next 46 h" in out and "last 8 h" in out  # the recorded forecast ends 46 h on


def test_intensity_falls_back_and_says_so(server: ReplayServer, capsys: pytest.CaptureFixture[str]):
    server.fail = "500"
    code, out, err = cli(["intensity", "-z", "FR", "--format", "json"], capsys)
    assert code == 0
    assert json.loads(out)["history"]["source"] == "static"
    assert "rte failed" in err and "HTTP 500" in err


def test_intensity_list(capsys: pytest.CaptureFixture[str]):
    code, out, _ = cli(["intensity", "--list", "--format", "json"], capsys)
    assert code == 0
    zones = {z["zone"] for z in json.loads(out)}
    assert {"FR", "DE", "US-CA", "SE3"} <= zones


@pytest.mark.parametrize(
    ("args", "env", "text"),
    [
        (["intensity", "--zone", "XX"], {}, "unknown zone 'XX'"),
        (
            ["intensity", "--zone", "DE"],
            {"IMPACTLIB_INTENSITY_SOURCE": "electricitymaps"},
            "IMPACTLIB_ELECTRICITYMAPS_KEY",
        ),
        (["schedule", "--duration", "6x", "--zone", "GB"], {}, "bad duration '6x'"),
        (["schedule", "--duration", "6h", "--within", "soon", "--zone", "GB"], {}, "bad duration"),
        (["schedule", "--duration", "1h", "--zone", "XX"], {}, "unknown zone 'XX'"),
        (["schedule", "--duration", "1h", "--zone", "DE"], {}, "no forecast for zone DE"),
        (
            ["schedule", "--duration", "1h", "--zone", "DE"],
            {"IMPACTLIB_INTENSITY_SOURCE": "electricitymaps"},
            "IMPACTLIB_ELECTRICITYMAPS_KEY",
        ),
        (
            ["schedule", "--duration", "3d", "--zone", "GB", "--now", "2024-01-15T18:00Z"],
            {},
            "reaches only 2d ahead",
        ),
        (["intensity", "--format", "xml"], {}, "bad --format"),
    ],
)
def test_errors_are_one_line_and_exit_2(
    server: ReplayServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    env: dict[str, str],
    text: str,
):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    code, out, err = cli(args, capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("impactlib: error: ")
    assert text in err


def test_exit_2_through_a_real_process(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMPACTLIB_")}
    env["IMPACTLIB_CACHE_DIR"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "impactlib.cli.main", "schedule", "--duration", "soon"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "bad duration 'soon'" in proc.stderr


def test_schedule_json(server: ReplayServer, capsys: pytest.CaptureFixture[str]):
    code, out, _ = cli(
        [
            "schedule",
            "-d",
            "6h",
            "-w",
            "24h",
            "-z",
            "GB",
            "--format",
            "json",
            "--now",
            "2024-01-15T18:10Z",
        ],
        capsys,
    )
    assert code == 0
    data = json.loads(out)
    for key in ("start", "end", "mean_intensity", "now_intensity", "saving_pct"):
        assert key in data
    start = datetime.fromisoformat(data["start"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(data["end"].replace("Z", "+00:00"))
    assert data["start"].endswith("Z") and (end - start).total_seconds() == 6 * 3600
    assert data["mean_intensity"] < data["now_intensity"]
    assert data["saving_pct"] == pytest.approx(
        100 * (1 - data["mean_intensity"] / data["now_intensity"]), abs=0.01
    )


def test_schedule_prints_scheduler_lines(server: ReplayServer, capsys: pytest.CaptureFixture[str]):
    code, out, _ = cli(
        [
            "schedule",
            "-d",
            "2h",
            "-z",
            "GB-13",
            "--now",
            "2024-01-15T18:00Z",
            "--print",
            "--",
            "echo",
            "hello world",
        ],
        capsys,
    )
    assert code == 0
    assert "at -t " in out and "systemd-run --user --on-calendar=" in out
    assert "sbatch --begin=" in out and "'hello world'" in out


def test_schedule_runs_the_command_and_passes_its_exit_code(
    server: ReplayServer, capsys: pytest.CaptureFixture[str]
):
    # The recorded forecast is in the past, so the chosen start has passed: it runs at once.
    code, _, err = cli(
        [
            "schedule",
            "-d",
            "1h",
            "-z",
            "GB",
            "--now",
            "2024-01-15T18:00Z",
            "--",
            sys.executable,
            "-c",
            "raise SystemExit(5)",
        ],
        capsys,
    )
    assert code == 5
    assert "waiting until" in err
