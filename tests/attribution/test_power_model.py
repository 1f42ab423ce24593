"""The host power model: robust fit, when it refuses, merge rules, files that round-trip or
fail soft, and the text people read."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import asdict, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from impactlib.attribution import power_model as pm
from impactlib.attribution.power_model import (
    DomainPowerModel,
    HostPowerModel,
    PowerPoint,
    fit,
    load_power_model,
    merge,
    save_power_model,
    try_fit,
)
from impactlib.config import Config, load_config

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
PACKAGE = "cpu:package-0"


def line_points(
    idle_w: float, per_cpu_w: float, n: int = 40, max_busy: float = 2.0, noise_w: float = 0.3
) -> list[PowerPoint]:
    """Points on ``idle + per_cpu x busy`` over 0..max_busy busy CPUs, with small noise."""
    rng = random.Random(8)
    out = []
    for i in range(n):
        busy = max_busy * i / (n - 1)
        out.append(PowerPoint(idle_w + per_cpu_w * busy + rng.uniform(-noise_w, noise_w), busy))
    return out


def model(
    method: pm.FitMethod = "calibrated",
    *,
    days_old: float = 1.0,
    span: float = 2.0,
    r2: float = 0.99,
    idle_w: float = 10.0,
    domain: str = PACKAGE,
) -> DomainPowerModel:
    return DomainPowerModel(
        domain=domain,
        idle_w=idle_w,
        w_per_busy_cpu=15.0,
        method=method,
        fitted_at=(NOW - timedelta(days=days_old)).isoformat(timespec="seconds"),
        r2=r2,
        points=30,
        busy_cpus_min=0.0,
        busy_cpus_max=span,
    )


def config_at(path: Path) -> Config:
    return load_config({"power_model": str(path)})


# --- fitting ----------------------------------------------------------------------------------


def test_fit_recovers_idle_and_slope_despite_outliers() -> None:
    points = line_points(10.0, 15.0)
    # A quarter of the points are wild: counter hiccups, a turbo burst, a half-read interval.
    for i in range(0, 40, 4):
        points[i] = PowerPoint(points[i].power_w + (60.0 if i % 8 else -9.0), points[i].busy_cpus)
    m = fit(points, PACKAGE, "calibrated")
    assert m is not None
    assert m.idle_w == pytest.approx(10.0, abs=0.5)
    assert m.w_per_busy_cpu == pytest.approx(15.0, rel=0.03)
    assert m.r2 > 0.99  # over the points on the line
    assert m.points == 40 and m.method == "calibrated" and m.domain == PACKAGE
    assert m.busy_cpus_min == pytest.approx(0.0, abs=0.1)
    assert m.busy_cpus_max == pytest.approx(2.0, abs=0.1)


def test_a_fit_keeps_its_residual_as_the_floors_spread(tmp_path: Path) -> None:
    """The RMS residual of the points on the line is the idle floor's spread in a
    footprint's range (issue 18); a file written before it was kept loads without one."""
    noisy = fit(line_points(10.0, 15.0, noise_w=2.0), PACKAGE, "calibrated")
    clean = fit(line_points(10.0, 15.0, noise_w=0.1), PACKAGE, "calibrated")
    assert noisy is not None and clean is not None
    assert noisy.residual_w is not None and clean.residual_w is not None
    assert 0.5 < noisy.residual_w < 2.0 and clean.residual_w < 0.1
    assert clean.floor_spread is not None and noisy.floor_spread is not None
    assert clean.floor_spread < noisy.floor_spread
    assert noisy.floor_spread == pytest.approx(noisy.residual_w / noisy.idle_w)
    config = config_at(tmp_path / "model.json")
    save_power_model(HostPowerModel("node1", {PACKAGE: noisy}), config)
    loaded, _ = load_power_model(config, "node1")
    assert loaded is not None and loaded.floor_spread(PACKAGE) == noisy.floor_spread
    old = json.loads((tmp_path / "model.json").read_text())
    del old["domains"][0]["residual_w"]
    (tmp_path / "model.json").write_text(json.dumps(old))
    loaded, problem = load_power_model(config, "node1")
    assert problem is None and loaded is not None and loaded.floor_spread(PACKAGE) is None


def test_a_busy_machine_calibrates_by_extrapolation() -> None:
    # Background work keeps 3 to 5 CPUs busy throughout: the line is the same line.
    points = [PowerPoint(p.power_w + 45.0, p.busy_cpus + 3.0) for p in line_points(10.0, 15.0)]
    m = fit(points, PACKAGE, "calibrated")
    assert m is not None
    assert m.idle_w == pytest.approx(10.0, abs=1.0)
    assert m.busy_cpus_min == pytest.approx(3.0, abs=0.1)


def test_too_narrow_a_load_range_is_refused_with_the_reason() -> None:
    points = line_points(10.0, 15.0, max_busy=0.4)
    outcome = try_fit(points, PACKAGE, "learned")
    assert outcome.model is None
    assert outcome.problem is not None and "0.5" in outcome.problem and PACKAGE in outcome.problem
    assert fit(points, PACKAGE, "learned") is None


def test_a_few_wide_points_do_not_make_a_span() -> None:
    # 38 points at one load and two far away: the middle 80 % spans nothing.
    points = [PowerPoint(25.0, 1.0)] * 38 + [PowerPoint(10.0, 0.0), PowerPoint(40.0, 2.0)]
    assert fit(points, PACKAGE, "learned") is None


def test_a_counter_that_never_moves_is_refused_with_the_reason() -> None:
    points = [PowerPoint(0.0, i / 10) for i in range(20)]
    outcome = try_fit(points, PACKAGE, "calibrated")
    assert outcome.model is None and outcome.problem is not None
    assert "did not move" in outcome.problem


def test_too_few_points_are_refused() -> None:
    outcome = try_fit(line_points(10.0, 15.0, n=pm.MIN_POINTS - 1), PACKAGE, "calibrated")
    assert outcome.model is None and outcome.problem is not None and "points" in outcome.problem


def test_erratic_power_is_refused() -> None:
    rng = random.Random(3)
    points = [PowerPoint(rng.uniform(5.0, 80.0), 2.0 * i / 39) for i in range(40)]
    outcome = try_fit(points, PACKAGE, "learned")
    assert outcome.model is None and outcome.problem is not None and "erratic" in outcome.problem


def test_a_negative_idle_power_is_refused() -> None:
    points = [PowerPoint(-5.0 + 20.0 * b, b) for b in (1.0 + i / 20 for i in range(30))]
    outcome = try_fit(points, PACKAGE, "calibrated")
    assert outcome.model is None and outcome.problem is not None and "negative" in outcome.problem


def test_a_domain_the_cpus_do_not_drive_is_flat_at_its_median() -> None:
    # DRAM under a compute loop: constant power, noise gives a slightly negative slope.
    points = [PowerPoint(3.0 - 0.05 * p.busy_cpus, p.busy_cpus) for p in line_points(0, 0)]
    m = fit(points, "dram:package-0", "calibrated")
    assert m is not None
    assert m.w_per_busy_cpu == 0.0
    assert m.idle_w == pytest.approx(2.95, abs=0.06)


def test_a_gpu_has_idle_watts_only_and_is_never_learned() -> None:
    points = [PowerPoint(60.0 + (i % 3) * 0.5, i / 10) for i in range(20)]
    m = fit(points, "gpu:GPU-1234", "calibrated")
    assert m is not None and m.w_per_busy_cpu == 0.0
    assert m.idle_w == pytest.approx(60.5)
    outcome = try_fit(points, "gpu:GPU-1234", "learned")
    assert outcome.model is None and outcome.problem is not None and "GPU" in outcome.problem


def test_long_series_are_fitted_fast_and_right() -> None:
    import time

    points = line_points(40.0, 25.0, n=2048, max_busy=16.0, noise_w=2.0)
    start = time.process_time()
    m = fit(points, PACKAGE, "learned")
    assert time.process_time() - start < 0.5
    assert m is not None
    assert m.idle_w == pytest.approx(40.0, abs=1.0)
    assert m.w_per_busy_cpu == pytest.approx(25.0, rel=0.02)


def test_floor_comes_with_its_method() -> None:
    host = HostPowerModel("h", {PACKAGE: model("learned", idle_w=12.5)})
    assert host.floor_w(PACKAGE) == (12.5, "learned")
    assert host.floor_w("dram:package-0") is None


# --- merging ----------------------------------------------------------------------------------


def merged(old: DomainPowerModel, new: DomainPowerModel) -> DomainPowerModel:
    return merge(HostPowerModel("h", {PACKAGE: old}), {PACKAGE: new}, now=NOW).domains[PACKAGE]


def test_a_calibration_always_replaces() -> None:
    old = model("learned", days_old=1, span=8.0, r2=1.0)
    new = model("calibrated", days_old=0, span=1.0, r2=0.9, idle_w=11.0)
    assert merged(old, new) is new
    assert merged(model("calibrated", span=8.0), new) is new


def test_a_learned_fit_does_not_override_a_recent_calibration_unless_clearly_better() -> None:
    calibration = model("calibrated", days_old=2, span=2.0, r2=0.98)
    assert merged(calibration, model("learned", days_old=0, span=3.0, r2=0.99)) is calibration
    assert merged(calibration, model("learned", days_old=0, span=4.0, r2=0.97)) is calibration
    better = model("learned", days_old=0, span=4.0, r2=0.99)
    assert merged(calibration, better) is better


def test_a_stale_calibration_yields_to_a_learned_fit_as_wide() -> None:
    stale = model("calibrated", days_old=pm.STALE_DAYS + 1, span=2.0, r2=0.98)
    assert merged(stale, model("learned", days_old=0, span=1.5, r2=0.99)) is stale
    wide = model("learned", days_old=0, span=2.0, r2=0.99)
    assert merged(stale, wide) is wide


def test_a_learned_fit_refines_an_older_learned_one_of_comparable_range() -> None:
    old = model("learned", days_old=3, span=4.0)
    comparable = model("learned", days_old=0, span=2.0, r2=0.5)
    assert merged(old, comparable) is comparable
    narrow = model("learned", days_old=0, span=1.0)
    assert merged(old, narrow) is old
    stale = model("learned", days_old=pm.STALE_DAYS + 1, span=4.0)
    assert merged(stale, narrow) is narrow


def test_merge_keeps_other_domains_and_starts_from_nothing() -> None:
    dram = model(domain="dram:package-0")
    first = merge(None, {PACKAGE: model()}, host="node1", now=NOW)
    assert first.host == "node1" and set(first.domains) == {PACKAGE}
    both = merge(first, {"dram:package-0": dram}, now=NOW)
    assert both.host == "node1" and both.domains["dram:package-0"] is dram
    assert both.domains[PACKAGE] is first.domains[PACKAGE]


# --- files ------------------------------------------------------------------------------------


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    config = config_at(tmp_path / "model.json")
    original = HostPowerModel(
        "node1", {PACKAGE: model(), "gpu:GPU-1": replace(model(domain="gpu:GPU-1"), r2=0.0)}
    )
    path = save_power_model(original, config)
    assert path == tmp_path / "model.json"
    assert (path.stat().st_mode & 0o777) == 0o644  # readable by every user's tracker
    loaded, problem = load_power_model(config, "node1")
    assert problem is None
    assert loaded == original


def test_a_missing_file_is_no_model_and_no_problem(tmp_path: Path) -> None:
    assert load_power_model(config_at(tmp_path / "none.json"), "h") == (None, None)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("{not json", "not JSON"),
        ('{"format": "something else"}', "format"),
        (json.dumps({"format": pm.FILE_FORMAT, "version": 99, "domains": []}), "version 99"),
        (
            json.dumps(
                {
                    "format": pm.FILE_FORMAT,
                    "version": 1,
                    "domains": [{**asdict(model()), "idle_w": -3}],
                }
            ),
            "idle_w",
        ),
        (
            json.dumps(
                {
                    "format": pm.FILE_FORMAT,
                    "version": 1,
                    "domains": [{**asdict(model()), "method": "guessed"}],
                }
            ),
            "method",
        ),
    ],
)
def test_a_corrupt_file_is_no_model_and_one_problem_line(
    tmp_path: Path, text: str, needle: str
) -> None:
    path = tmp_path / "model.json"
    path.write_text(text)
    loaded, problem = load_power_model(config_at(path), "h")
    assert loaded is None
    assert problem is not None and "\n" not in problem
    assert str(path) in problem and needle in problem and "impactlib calibrate" in problem


def test_an_explicit_path_in_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    from impactlib.errors import ImpactError

    with pytest.raises(ImpactError, match="no such directory"):
        save_power_model(HostPowerModel("h", {PACKAGE: model()}), config_at(tmp_path / "x" / "m"))


def test_default_places_system_first_then_per_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_env: Path
) -> None:
    monkeypatch.delenv("IMPACTLIB_POWER_MODEL")  # conftest's private file: not here
    monkeypatch.setattr(pm, "SYSTEM_DIR", tmp_path / "var" / "power-model")
    config = load_config()
    saved = save_power_model(HostPowerModel("node1", {PACKAGE: model()}), config)
    assert saved == tmp_path / "var" / "power-model" / "node1.json"
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setattr(pm, "SYSTEM_DIR", blocker / "power-model")  # cannot be created
    saved = save_power_model(HostPowerModel("node1", {PACKAGE: model()}), config)
    assert saved.name == "node1.json" and isolated_env in saved.parents


def test_loading_reads_both_places_and_the_rules_pick_per_domain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IMPACTLIB_POWER_MODEL")
    monkeypatch.setattr(pm, "SYSTEM_DIR", tmp_path / "system")
    (tmp_path / "system").mkdir()
    system, user = pm.model_locations(load_config(), "node1")
    user.parent.mkdir(parents=True)
    calibration = model("calibrated", days_old=5, idle_w=10.0)
    older_learned = model("learned", days_old=9, idle_w=30.0)  # e.g. left by a tracker
    newer_learned = model("learned", days_old=1, idle_w=11.0, domain="dram:package-0")
    save_power_model(HostPowerModel("node1", {PACKAGE: calibration}), config_at(system))
    both = {PACKAGE: older_learned, "dram:package-0": newer_learned}
    save_power_model(HostPowerModel("node1", both), config_at(user))
    loaded, problem = load_power_model(load_config(), "node1")
    assert problem is None and loaded is not None
    assert loaded.domains[PACKAGE] == calibration
    assert loaded.domains["dram:package-0"] == newer_learned
    user.write_text("garbage")  # one bad file: the other still counts, the problem is named
    loaded, problem = load_power_model(load_config(), "node1")
    assert loaded is not None and loaded.domains[PACKAGE] == calibration
    assert problem is not None and str(user) in problem


def test_the_environment_variable_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMPACTLIB_POWER_MODEL", str(tmp_path / "env.json"))
    assert pm.model_locations(load_config(), "h") == [tmp_path / "env.json"]


# --- text -------------------------------------------------------------------------------------


def test_the_table_fits_80_columns_and_shows_method_and_age() -> None:
    gpu = "gpu:GPU-8932f937-d72c-4106-c12f-20bd9faed9f6"
    old = model(domain="dram:package-10", days_old=999, span=256.0)
    host = HostPowerModel(
        "h", {PACKAGE: model(), gpu: model(domain=gpu, days_old=3), old.domain: old}
    )
    lines = pm.table_lines(host, now=NOW)
    assert all(len(line) <= pm.TEXT_WIDTH for line in lines), lines
    assert gpu in lines  # a long id gets its own line, uncut
    package = next(line for line in lines if line.startswith(PACKAGE))
    assert "10.00" in package and "15.00" in package and "calibrated, 24 h" in package


def test_ages_read_naturally() -> None:
    assert pm.age_text(NOW.isoformat(), now=NOW) == "just now"
    assert pm.age_text((NOW - timedelta(minutes=12)).isoformat(), now=NOW) == "12 min"
    assert pm.age_text((NOW - timedelta(days=40)).isoformat(), now=NOW) == "40 days"
    assert pm.age_text("yesterday", now=NOW) == "unknown"


def test_hardware_lines_name_the_fix_when_there_is_no_model(tmp_path: Path) -> None:
    config = config_at(tmp_path / "m.json")
    lines = pm.hardware_lines(config, "node1")
    text = " ".join(" ".join(lines).split())
    assert "None for node1" in text and "impactlib calibrate" in text
    assert str(tmp_path / "m.json") in text
    save_power_model(HostPowerModel("node1", {PACKAGE: model()}), config)
    lines = pm.hardware_lines(config, "node1")
    assert "Idle floors of node1" in lines[0]
    assert any(line.strip().startswith(PACKAGE) and "calibrated" in line for line in lines)
    assert all(len(line) <= 80 and line.startswith("  ") for line in lines), lines


def test_hardware_lines_name_an_unusable_file(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text("[]")
    text = " ".join(" ".join(pm.hardware_lines(config_at(tmp_path / "m.json"), "node1")).split())
    assert "None for node1" in text and "Problem:" in text and "not a valid" in text


# --- refining one file from several places at once --------------------------------------------

DRAM = "dram:package-0"


def test_runs_learning_at_the_same_moment_keep_each_others_fits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs end together, each with a fit for its own domain. Each one's read of the
    saved model is held until the other has had the chance to read too (the interleaving
    that loses an update: both merge into the same old model). Both fits are kept."""
    config = config_at(tmp_path / "model.json")
    has_read = {PACKAGE: threading.Event(), DRAM: threading.Event()}
    real_load = pm.load_power_model

    def held_load(config: Config, host: str) -> tuple[HostPowerModel | None, str | None]:
        found = real_load(config, host)
        me = threading.current_thread().name
        has_read[me].set()
        has_read[DRAM if me == PACKAGE else PACKAGE].wait(timeout=0.5)
        return found

    monkeypatch.setattr(pm, "load_power_model", held_load)
    runs = [
        threading.Thread(
            target=pm.learn, args=({domain: line_points(8.0, 12.0)}, config, "node1"), name=domain
        )
        for domain in (PACKAGE, DRAM)
    ]
    for run in runs:
        run.start()
    for run in runs:
        run.join()
    saved, problem = real_load(config, "node1")
    assert problem is None and saved is not None
    assert set(saved.domains) == {PACKAGE, DRAM}
    assert (tmp_path / "model.json.lock").exists()  # the lock file lives beside the model


REFINER = textwrap.dedent(
    """
    import os, sys, time
    from impactlib.attribution.power_model import PowerPoint, learn
    from impactlib.config import load_config

    path, prefix = sys.argv[1], sys.argv[2]
    open(f"{path}.{prefix}.ready", "w").close()
    while not os.path.exists(path + ".go"):  # every child starts refining at once
        time.sleep(0.001)
    points = [PowerPoint(8.0 + 12.0 * b / 10, b / 10) for b in range(21)]
    for i in range(40):
        learn({f"{prefix}:{i}": points}, load_config({"power_model": path}), "node1")
    """
)


def test_processes_refining_one_file_lose_no_fit(tmp_path: Path) -> None:
    """Real processes (two trackers, or a tracker and the daemon) refining the same file
    many times at once: every fit any of them added is in the file at the end."""
    path = tmp_path / "model.json"
    prefixes = ("cpu", "dram")
    children = [
        subprocess.Popen([sys.executable, "-c", REFINER, str(path), prefix]) for prefix in prefixes
    ]
    deadline = time.monotonic() + 60
    while not all(Path(f"{path}.{prefix}.ready").exists() for prefix in prefixes):
        assert time.monotonic() < deadline, "the children did not start"
        time.sleep(0.001)
    Path(f"{path}.go").touch()
    assert [child.wait(timeout=120) for child in children] == [0, 0]
    saved, problem = load_power_model(config_at(path), "node1")
    assert problem is None and saved is not None
    assert set(saved.domains) == {f"{prefix}:{i}" for prefix in prefixes for i in range(40)}
