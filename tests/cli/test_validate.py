"""``impactlib validate --reference FILE --run ID``: a run's machine energy against a
reference power series, through the CLI: a run measured on fake RAPL counters against a
synthetic wattmeter, stored runs with exact figures, every accepted shape of the series and
every refusal (one line, exit 2), and ``--save`` in each of its settings' forms."""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clihelp import assert_one_line_error, cli
from raplrun import rapl_run
from sample_runs import make_record, save_record

from impactlib._time import parse_utc
from impactlib.store import open_store

# make_record's run: 10:00 to 12:00 UTC; a 3.6 MJ RAPL package read as 7.2 MJ for the
# machine (extent machine) and a 7.2 MJ GPU: 14.4 MJ = 4 kWh of machine energy, 2000 W.
START = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
DURATION_S = 7200.0
MACHINE_KWH = 4.0


def figures(stdout: str) -> dict[str, float]:
    """The numbers of the comparison's lines: reference, measured, error, host factor."""
    found = {}
    for name in ("reference", "measured", "error", "host factor"):
        match = re.search(rf"^\s*{name}\s+([-+\d.eE]+)", stdout, re.MULTILINE)
        assert match, stdout
        found[name] = float(match.group(1))
    return found


def series(
    path: Path,
    watts: float,
    *,
    step_s: float = 10.0,
    start: datetime = START,
    seconds: float = DURATION_S,
    stamp: str = "epoch",
    skip: tuple[float, float] = (0, 0),
    header: bool = True,
) -> Path:
    """A constant-power series from 5 s before ``start`` to 5 s after ``start + seconds``,
    without readings between ``skip`` (seconds from start)."""
    lines = ["timestamp,watts"] if header else []
    t = -5.0
    while t <= seconds + 5.0:
        if not skip[0] < t < skip[1]:
            when = start + timedelta(seconds=t)
            text = {
                "epoch": f"{when.timestamp():.3f}",
                "iso": when.isoformat(),
                "naive": when.replace(tzinfo=None).isoformat(sep=" "),
            }[stamp]
            lines.append(f"{text},{watts}")
        t += step_s
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def stored() -> str:
    save_record(open_store(os.environ["IMPACTLIB_STORE"]), make_record("run-a"))
    return "run-a"


def validate(*args: str, env: dict[str, str] | None = None) -> str:
    done = cli("validate", *args, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_run_measured_on_fake_rapl_against_a_wattmeter(tmp_path: Path) -> None:
    """Package 40 W and DRAM 5 W metered; the wall reads 60 W: the factor is 60/45."""
    measured = rapl_run(tmp_path, package_w=40.0, dram_w=5.0)
    fp = measured.record.footprint
    assert fp is not None and fp.ended_at is not None
    start, end = parse_utc(fp.started_at), parse_utc(fp.ended_at)
    seconds = (end - start).total_seconds()
    wall = series(
        tmp_path / "wall.csv", 60.0, step_s=0.1, start=start, seconds=seconds, stamp="iso"
    )
    out = validate("--reference", str(wall), "--run", measured.record.id, "--save")
    shown = figures(out)
    assert shown["reference"] == pytest.approx(60.0 * seconds / 3.6e6, rel=1e-4)
    assert shown["measured"] == pytest.approx(45.0 * seconds / 3.6e6, rel=0.05)
    assert shown["host factor"] == pytest.approx(60.0 / 45.0, rel=0.05)
    assert shown["error"] == pytest.approx(-25.0, abs=4.0)
    assert "cpu:package-0 (rapl)" in out and "dram:package-0 (rapl)" in out
    model = json.loads(Path(os.environ["IMPACTLIB_POWER_MODEL"]).read_text())
    factor = model["host_factor"]
    assert factor["factor"] == pytest.approx(shown["host factor"], rel=1e-3)
    assert (factor["reference"], factor["run_id"]) == ("wall.csv", measured.record.id)
    assert parse_utc(factor["validated_at"]) <= datetime.now(UTC)


def test_exact_figures_of_a_stored_run(stored: str, tmp_path: Path) -> None:
    """2200 W against 2000 W machine energy: 4.4 vs 4 kWh, -9.1 %, factor 1.100; the GPU
    (a device) counts whole, the package whole (not the run's share)."""
    out = validate("--reference", str(series(tmp_path / "w.csv", 2200.0)), "--run", stored)
    assert figures(out) == {
        "reference": pytest.approx(4.4),
        "measured": pytest.approx(MACHINE_KWH),
        "error": pytest.approx(-9.1),
        "host factor": pytest.approx(1.1),
    }
    assert "gpu:GPU-1234 (nvml-energy)" in out
    assert not Path(os.environ["IMPACTLIB_POWER_MODEL"]).exists()  # stored only with --save


@pytest.mark.parametrize("stamp", ["epoch", "iso", "naive"])
@pytest.mark.parametrize("header", [True, False])
def test_accepted_shapes(stored: str, tmp_path: Path, stamp: str, header: bool) -> None:
    """Epoch seconds, ISO 8601 with an offset, or without one (local time, said so)."""
    path = series(tmp_path / "w.csv", 2200.0, stamp=stamp, header=header)
    out = validate("--reference", str(path), "--run", stored, env={"TZ": "UTC"})
    assert figures(out)["host factor"] == pytest.approx(1.1)
    assert ("local time" in out) is (stamp == "naive")


def test_a_gap_is_taken_at_the_mean_power_and_said(stored: str, tmp_path: Path) -> None:
    path = series(tmp_path / "w.csv", 2200.0, skip=(995.0, 1355.0))  # 5 % of the run
    out = validate("--reference", str(path), "--run", stored)
    assert figures(out)["reference"] == pytest.approx(4.4)
    assert "covers 95.0%" in out


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("timestamp,watts,volts\n1772359200,10,230\n1772359210,10,230\n", "3 columns"),
        ("1772359210,10\n1772359200,10\n", "time does not increase"),
        ("1772359200000,10\n1772359210000,10\n", "milliseconds"),
        ("yesterday,10\n1772359210,10\n", "not a time"),
        ("1772359200,-3\n1772359210,10\n", "not a power"),
        ("timestamp,watts\n1772359200,10\n", "1 readings"),
    ],
)
def test_refused_shapes(stored: str, tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "w.csv"
    path.write_text(text)
    assert_one_line_error(cli("validate", "--reference", str(path), "--run", stored), needle)


def test_refusals(stored: str, tmp_path: Path) -> None:
    ok = str(series(tmp_path / "w.csv", 2200.0))
    thin = str(series(tmp_path / "thin.csv", 2200.0, skip=(995.0, 2435.0)))  # 80 % covered
    elsewhere = str(series(tmp_path / "x.csv", 2200.0, start=START + timedelta(days=1)))
    save_record(
        open_store(os.environ["IMPACTLIB_STORE"]),
        replace(make_record("live"), status="running", ended_at=None, pid=os.getpid()),
    )
    for args, needle in (
        (["--reference", ok, "--run", "nope"], "no run 'nope'"),
        (["--reference", str(tmp_path / "missing.csv"), "--run", stored], "no such file"),
        (["--reference", thin, "--run", stored], "covers 80.0%"),
        (["--reference", elsewhere, "--run", stored], "covers 0.0%"),
        (["--reference", ok, "--run", "live"], "has not finished"),
        (["--run", stored], "--reference"),
    ):
        assert_one_line_error(cli("validate", *args), needle)


FORMS = ("flag", "env", "toml")


def given(form: str, key: str, value: str) -> tuple[list[str], dict[str, str]]:
    """``key = value`` as a flag, an IMPACTLIB_* variable or a line of ./impactlib.toml."""
    if form == "flag":
        return ["--" + key.replace("_", "-"), value], {}
    if form == "env":
        return [], {f"IMPACTLIB_{key.upper()}": value}
    with Path("impactlib.toml").open("a", encoding="utf-8") as fh:
        fh.write(f"{key} = {json.dumps(value)}\n")
    return [], {}


@pytest.mark.parametrize("form", FORMS)
def test_store_and_power_model_settings(
    form: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run is read from the store, and the factor saved to the model file, that each
    form names; the fits already in the model are kept."""
    monkeypatch.delenv("IMPACTLIB_STORE")
    monkeypatch.delenv("IMPACTLIB_POWER_MODEL")
    lab = str(tmp_path / "lab.db")
    save_record(open_store(lab), make_record("run-a"))
    model_file = tmp_path / "model.json"
    model_file.write_text(
        json.dumps(
            {
                "format": "impactlib host power model",
                "version": 1,
                "host": "node1",
                "domains": [
                    {
                        "domain": "cpu:package-0",
                        "idle_w": 30.0,
                        "w_per_busy_cpu": 5.0,
                        "method": "calibrated",
                        "fitted_at": "2026-12-01T00:00:00+00:00",
                        "r2": 0.99,
                        "points": 20,
                        "busy_cpus_min": 0.0,
                        "busy_cpus_max": 8.0,
                    }
                ],
            }
        )
    )
    store_args, store_env = given(form, "store", lab)
    model_args, model_env = given(form, "power_model", str(model_file))
    out = validate(
        "--reference",
        str(series(tmp_path / "w.csv", 2200.0)),
        "--run",
        "run-a",
        "--save",
        *store_args,
        *model_args,
        env={**store_env, **model_env},
    )
    assert str(model_file) in out
    saved = json.loads(model_file.read_text())
    assert saved["host_factor"]["factor"] == pytest.approx(1.1)
    assert [d["domain"] for d in saved["domains"]] == ["cpu:package-0"]


def test_hardware_shows_the_saved_factor(stored: str, tmp_path: Path) -> None:
    validate("--reference", str(series(tmp_path / "w.csv", 2200.0)), "--run", stored, "--save")
    shown = cli("hardware")
    assert shown.returncode == 0, shown.stderr
    assert "Host factor 1.100" in shown.stdout and "run run-a" in shown.stdout


def test_later_fits_keep_the_saved_factor(stored: str, tmp_path: Path) -> None:
    """A calibration or a run's learned fit, refined into the model after the validation,
    keeps the factor; a new validation replaces it."""
    from impactlib.attribution.power_model import DomainPowerModel, load_power_model, refine
    from impactlib.config import load_config

    validate("--reference", str(series(tmp_path / "w.csv", 2200.0)), "--run", stored, "--save")
    fit = DomainPowerModel(
        "cpu:package-0", 30.0, 5.0, "calibrated", "2026-12-07T00:00:00+00:00", 0.99, 20, 0, 8
    )
    config = load_config()
    refine(config, "node1", {"cpu:package-0": fit})
    model, problem = load_power_model(config, "node1")
    assert problem is None and model is not None
    assert model.host_factor is not None and model.host_factor.factor == pytest.approx(1.1)
    assert set(model.domains) == {"cpu:package-0"}
    validate("--reference", str(series(tmp_path / "w.csv", 3000.0)), "--run", stored, "--save")
    model, _ = load_power_model(config, "node1")
    assert model is not None and model.host_factor is not None
    assert model.host_factor.factor == pytest.approx(1.5)
    assert set(model.domains) == {"cpu:package-0"}
