"""``impactlib calibrate --wall-watts`` on a fake host without a wall meter: 40 W of RAPL and
16 GB of modelled memory, 100 W read at the wall. The platform stored is the wall minus both,
labelled with the numbers it came from; a tracker then counts it as an estimated ``platform``
domain of constant power, all of it idle power; bad input is one line."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from clihelp import assert_one_line_error, cli
from fakelab import PACKAGE, ScriptedHost
from fakewall import WallCounter, use_wall

from impactlib.attribution.power_model import load_power_model
from impactlib.cli.calibrate_platform import calibrate_platform
from impactlib.config import load_config
from impactlib.errors import UsageError
from impactlib.footprint import Component, FloorSource, Method, Quality
from impactlib.meters.platform import MODEL_ID
from impactlib.store import open_store
from impactlib.units import MEMORY_W_PER_GB

RAPL_W, WALL_W = 40.0, 100.0
MEMORY_W = MEMORY_W_PER_GB * 16_000_000 * 1024 / 1e9  # the fake host's 16,000,000 kB
PLATFORM_W = WALL_W - RAPL_W - MEMORY_W


@pytest.fixture
def host(tmp_path: Path) -> Iterator[tuple[ScriptedHost, dict[str, str]]]:
    with ScriptedHost(tmp_path / "h", RAPL_W, 0.0, cpus=4) as fake:
        env = {
            "IMPACTLIB_PROCFS_ROOT": str(fake.procfs),
            "IMPACTLIB_POWER_MODEL": str(tmp_path / "model.json"),
            "IMPACTLIB_POWERCAP_ROOT": str(fake.powercap.root),
            "IMPACTLIB_COUNTRY": "FR",
            "IMPACTLIB_INTERVAL": "0.2",
        }
        yield fake, env


def test_the_platform_is_the_wall_minus_the_meters_and_trackers_count_it(
    host: tuple[ScriptedHost, dict[str, str]], tmp_path: Path
) -> None:
    fake, env = host
    done = cli("calibrate", "--wall-watts", "100", "--seconds", "2", env=env)
    assert done.returncode == 0, done.stderr
    assert f"saved to {tmp_path / 'model.json'}" in done.stdout
    saved = json.loads((tmp_path / "model.json").read_text())["platform"]
    assert saved["wall_w"] == WALL_W
    assert saved["parts_w"][PACKAGE] == pytest.approx(RAPL_W, rel=0.02)
    assert saved["parts_w"]["memory:model"] == pytest.approx(MEMORY_W, rel=1e-6)
    assert saved["watts"] == pytest.approx(PLATFORM_W, rel=0.02)
    assert "--wall-watts" in saved["source"] and saved["set_at"]

    shown = cli("hardware", env=env)
    assert f"Platform {saved['watts']:.1f} W" in shown.stdout, shown.stdout

    ran = cli("run", "-q", "--", sys.executable, "-c", "import time; time.sleep(1.5)", env=env)
    assert ran.returncode == 0, ran.stderr
    (run,) = open_store(load_config()).list_runs()
    assert run.footprint is not None
    platform = next(c for c in run.footprint.components if c.domain == MODEL_ID)
    assert platform.component is Component.PLATFORM
    assert platform.method is Method.MODEL_PLATFORM
    assert platform.quality is Quality.ESTIMATED
    assert platform.idle_floor_source is FloorSource.CALIBRATED
    assert platform.idle_floor_w == pytest.approx(saved["watts"])
    assert platform.domain_j == pytest.approx(saved["watts"] * run.footprint.duration_s, rel=0.02)
    assert platform.dynamic_j == pytest.approx(0.0, abs=1e-6)  # all of it idle power
    assert 0 < platform.idle_j < platform.domain_j  # a share, by the idle policy
    assert "100.0 W at the wall" in platform.note


def test_bad_wall_readings_are_one_line(host: tuple[ScriptedHost, dict[str, str]]) -> None:
    _, env = host
    assert_one_line_error(cli("calibrate", "--wall-watts", "-5", env=env), "--wall-watts -5")
    assert_one_line_error(cli("calibrate", "--wall-watts", "inf", env=env), "--wall-watts inf")
    assert_one_line_error(
        cli("calibrate", "--wall-watts", "100", "--steps", "3", env=env), "--steps"
    )
    assert_one_line_error(
        cli("calibrate", "--wall-watts", "100", "--seconds", "0.1", env=env), "--seconds 0.1"
    )
    below = cli("calibrate", "--wall-watts", "30", "--seconds", "1", env=env)
    assert_one_line_error(below, "--wall-watts 30", PACKAGE, "while the machine is idle")
    assert not Path(env["IMPACTLIB_POWER_MODEL"]).exists()  # nothing saved


def test_a_host_with_a_wall_meter_is_told_its_platform_is_measured(
    host: tuple[ScriptedHost, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, env = host
    use_wall(monkeypatch, WallCounter().wall())
    config = load_config(
        {
            "powercap_root": env["IMPACTLIB_POWERCAP_ROOT"],
            "procfs_root": env["IMPACTLIB_PROCFS_ROOT"],
            "power_model": env["IMPACTLIB_POWER_MODEL"],
        }
    )
    with pytest.raises(UsageError, match="has a wall meter"):
        calibrate_platform(config, 100.0, 1.0)
    model, _ = load_power_model(config, "any")
    assert model is None


def test_a_bad_platform_entry_is_named_and_ignored(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    body = {
        "format": "impactlib host power model",
        "version": 1,
        "host": "h",
        "domains": [],
        "platform": {"watts": -3, "wall_w": 100, "parts_w": {}, "source": "x", "set_at": "y"},
    }
    path.write_text(json.dumps(body))
    model, problem = load_power_model(load_config({"power_model": str(path)}), "h")
    assert model is None and problem is not None and "platform: watts = -3" in problem


def test_calibrate_measures_the_platform_with_the_other_domains(
    host: tuple[ScriptedHost, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a wall meter, ``platform:wall`` is a measured domain like RAPL: calibrate reads it
    at the same moment as the others (the wall minus them), so its idle power is fitted too."""
    from impactlib.cli.calibrate import _measured_domains, _read
    from impactlib.meters import MeterSettings, open_meters
    from impactlib.meters.platform import PLATFORM_ID

    fake, env = host
    counter = WallCounter()
    use_wall(monkeypatch, counter.wall())
    config = load_config(
        {
            "powercap_root": env["IMPACTLIB_POWERCAP_ROOT"],
            "procfs_root": env["IMPACTLIB_PROCFS_ROOT"],
        }
    )
    meters = open_meters(MeterSettings.of(config, via_daemon=False))
    try:
        domains = _measured_domains(meters)
        assert domains == [PACKAGE, PLATFORM_ID]
        first = _read(meters, domains)
        fake.powercap.advance(PACKAGE, 40.0)
        counter.advance(100.0)
        last = _read(meters, domains)
    finally:
        meters.close()
    # The memory model drew a little meanwhile: it sits inside the wall, not in the platform.
    platform_j = last.energy_j[PLATFORM_ID] - first.energy_j[PLATFORM_ID]
    package_j = last.energy_j[PACKAGE] - first.energy_j[PACKAGE]
    assert 55.0 < platform_j <= 100.0 - package_j
