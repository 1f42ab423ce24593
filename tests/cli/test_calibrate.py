"""``impactlib calibrate`` on fake hosts drawing 10 W + 15 W per busy CPU of a fake ``/proc``
whose load sweeps by itself (:class:`SweepingHost`: whatever else loads the real machine, the
truth is known): it finds both numbers, saves them where each option, variable and config
file says, fails in one line with the fix, and never leaves a burner behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clihelp import assert_one_line_error, cli
from fakehost import SweepingHost, one_package
from powercap import FakePowercap

from impactlib.attribution.power_model import load_power_model
from impactlib.config import load_config

IDLE_W, PER_CPU_W = 10.0, 15.0
PACKAGE = "cpu:package-0"
# The shortest calibration that still fits: two levels of 3 s give six one-second points,
# the least a fit accepts.
SHORT = ("--steps", "2", "--seconds", "3")


@pytest.fixture
def host(tmp_path: Path) -> FakePowercap:
    return one_package(tmp_path / "sys")


def saved_package(path: Path) -> tuple[float, float]:
    model, problem = load_power_model(load_config({"power_model": str(path)}), "any")
    assert problem is None and model is not None, problem
    package = model.domains[PACKAGE]
    assert package.method == "calibrated"
    return package.idle_w, package.w_per_busy_cpu


@pytest.mark.slow
def test_finds_idle_and_watts_per_cpu_and_hardware_shows_them(tmp_path: Path) -> None:
    host = SweepingHost(tmp_path, IDLE_W, PER_CPU_W)
    target = tmp_path / "model.json"
    with host:
        result = cli(
            "calibrate",
            "--power-model",
            str(target),
            "--powercap-root",
            str(host.powercap.root),
            "--steps",
            "3",
            "--seconds",
            "3",
            env={"IMPACTLIB_PROCFS_ROOT": str(host.procfs)},  # no flag: a setting of the host
        )
    assert result.returncode == 0, result.stderr
    idle_w, per_cpu_w = saved_package(target)
    assert idle_w == pytest.approx(IDLE_W, rel=0.10)
    assert per_cpu_w == pytest.approx(PER_CPU_W, rel=0.10)
    assert "level 3/3:" in result.stderr  # progress, on stderr
    assert "already running only adds points" in result.stderr
    assert f"saved to {target}" in result.stdout
    assert any(line.startswith(PACKAGE) for line in result.stdout.splitlines())
    table = [line for line in result.stdout.splitlines() if not line.startswith("saved to")]
    assert all(len(line) <= 80 for line in table), result.stdout  # a path is never cut
    shown = cli("hardware", env={"IMPACTLIB_POWER_MODEL": str(target), "COLUMNS": "80"})
    assert shown.returncode == 0, shown.stderr
    section = shown.stdout.split("Host power model\n", 1)[1]
    assert PACKAGE in section and "calibrated, just now" in section


@pytest.mark.slow
@pytest.mark.parametrize("form", ["environment", "config file"])
def test_settings_from_environment_and_config_file(form: str, tmp_path: Path) -> None:
    # A host whose load sweeps by itself: the fit succeeds however busy this machine is.
    host = SweepingHost(tmp_path, IDLE_W, PER_CPU_W)
    target = tmp_path / "from-settings.json"
    settings = {
        "powercap_root": str(host.powercap.root),
        "procfs_root": str(host.procfs),
        "power_model": str(target),
    }
    if form == "environment":
        env = {f"IMPACTLIB_{key.upper()}": value for key, value in settings.items()}
    else:
        env = {"IMPACTLIB_POWER_MODEL": ""}  # conftest's private path must not win here
        toml = "".join(f'{key} = "{value}"\n' for key, value in settings.items())
        (Path.cwd() / "impactlib.toml").write_text(toml)
    with host:
        result = cli("calibrate", *SHORT, env=env)
    assert result.returncode == 0, result.stderr
    idle_w, per_cpu_w = saved_package(target)
    assert idle_w == pytest.approx(IDLE_W, rel=0.05)
    assert per_cpu_w == pytest.approx(PER_CPU_W, rel=0.05)


def test_no_measured_domain_is_one_line_naming_why_and_the_fix(tmp_path: Path) -> None:
    empty = tmp_path / "powercap"
    empty.mkdir()
    result = cli("calibrate", "--powercap-root", str(empty))
    assert_one_line_error(result, "nothing to calibrate", str(empty), "--powercap-root")
    # The same through the environment variable.
    result = cli("calibrate", env={"IMPACTLIB_POWERCAP_ROOT": str(tmp_path / "none")})
    assert_one_line_error(result, "nothing to calibrate", str(tmp_path / "none"))


@pytest.mark.parametrize(
    ("args", "needle"),
    [(("--steps", "1"), "--steps 1"), (("--seconds", "0.5"), "--seconds 0.5")],
)
def test_bad_options_are_one_line(args: tuple[str, ...], needle: str) -> None:
    assert_one_line_error(cli("calibrate", *args), needle, "at least")


def test_a_counter_that_never_moves_fails_and_saves_nothing(
    host: FakePowercap, tmp_path: Path
) -> None:
    target = tmp_path / "model.json"
    result = cli(
        "calibrate", *SHORT, "--powercap-root", str(host.root), "--power-model", str(target)
    )
    # Progress lines came first; the failure is the last line, with its fix, no traceback.
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("impactlib: error: calibration failed, nothing saved"), last
    assert "did not move" in last and "impactlib hardware" in last
    assert not target.exists()


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (every thread's ``children`` file)."""
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as fh:
            out += [int(word) for word in fh.read().split()]
    return out


def alive(pid: int) -> bool:
    """Running or sleeping, not gone or a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_burners_die_with_the_command(host: FakePowercap, tmp_path: Path, signum: int) -> None:
    target = tmp_path / "model.json"
    command = [sys.executable, "-m", "impactlib.cli.main", "calibrate", "--steps", "2"]
    proc = subprocess.Popen(
        [*command, "--seconds", "3", "--powercap-root", str(host.root)],
        env={**os.environ, "IMPACTLIB_POWER_MODEL": str(target)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 40
        burners: list[int] = []
        while not burners and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            burners = children(proc.pid)
        assert burners, "no burner started"
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "interrupted; nothing saved" in err
    assert not any(alive(pid) for pid in burners)
    assert not target.exists()
