"""The Python API says what makes its figures less than measured, once, where the user looks:
an :class:`ImpactWarning` under Python's default filters, at the user's own line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import impactlib

    first = impactlib.init(interval=0.05)
    first.start()
    second = impactlib.init(interval=0.05)
    second.start()
    second.stop()
    first.stop()
    """
)


def _run_script(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python script.py``, plainly: Python's default warning filters, no ``-W``."""
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS",)}
    return subprocess.run(
        [sys.executable, str(script)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )


def _warnings(stderr: str) -> list[str]:
    """The ``file:line: Category: message`` lines of Python's warning display."""
    return [line for line in stderr.splitlines() if re.match(r".+:\d+: \w+Warning: ", line)]


def test_an_estimated_cpu_and_the_world_average_are_each_said_once_at_the_users_line(
    tmp_path: Path,
) -> None:
    env = {
        "IMPACTLIB_POWERCAP_ROOT": str(tmp_path / "no-powercap"),  # no meter: the TDP model
        "TZ": "UTC",  # no country to guess from: the world average
    }
    result = _run_script(tmp_path, env)
    assert result.returncode == 0, result.stderr
    shown = _warnings(result.stderr)
    estimated = [w for w in shown if "CPU energy is estimated" in w]
    world = [w for w in shown if "world average" in w]
    assert len(estimated) == 1 and len(world) == 1, result.stderr  # two trackers, said once
    for line in (*estimated, *world):
        assert line.startswith(f"{tmp_path / 'train.py'}:5: EstimateWarning: impactlib: "), line


def test_an_estimate_warning_is_an_impact_warning_shown_by_default() -> None:
    import warnings

    from impactlib import EstimateWarning, ImpactWarning

    assert issubclass(EstimateWarning, ImpactWarning) and issubclass(ImpactWarning, UserWarning)
    with warnings.catch_warnings():
        warnings.resetwarnings()
        warnings.simplefilter("default")  # what `python script.py` starts with for user warnings
        assert not any(
            action == "ignore" and issubclass(EstimateWarning, category)
            for action, _, category, _, _ in warnings.filters
        )


def test_a_measured_cpu_in_a_located_place_says_nothing(tmp_path: Path) -> None:
    from powercap import FakePowercap

    fake = FakePowercap(tmp_path / "sys")
    fake.add_package(0)
    env = {"IMPACTLIB_POWERCAP_ROOT": str(fake.root), "IMPACTLIB_COUNTRY": "FR"}
    result = _run_script(tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert not [w for w in _warnings(result.stderr) if "EstimateWarning" in w], result.stderr


def test_an_unknown_variable_is_one_warning_naming_the_setting_meant(tmp_path: Path) -> None:
    env = {
        "IMPACTLIB_POWERCAP_ROOT": str(tmp_path / "no-powercap"),
        "IMPACTLIB_COUNTRY": "FR",
        "IMPACTLIB_SAVE_INTERVALL": "3",
    }
    result = _run_script(tmp_path, env)
    assert result.returncode == 0, result.stderr
    (line,) = [w for w in _warnings(result.stderr) if "IMPACTLIB_SAVE_INTERVALL" in w]
    assert "ImpactWarning" in line and "did you mean IMPACTLIB_SAVE_INTERVAL?" in line
    assert line.startswith(f"{tmp_path / 'train.py'}:4: ")
