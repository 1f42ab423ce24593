"""The command line beyond ``run``, ``report`` and ``demo`` (their own files): hardware, a light
import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from clihelp import assert_one_line_error, cli
from powercap import FakePowercap


def test_hardware_lists_meters_and_fixes(tmp_path: Path) -> None:
    fake = FakePowercap(tmp_path)
    fake.add_package(0, dram=True)
    result = cli("hardware", env={"IMPACTLIB_POWERCAP_ROOT": str(fake.root)})
    assert result.returncode == 0, result.stderr
    assert "cpu:package-0" in result.stdout and "rapl" in result.stdout
    result = cli("hardware", env={"IMPACTLIB_POWERCAP_ROOT": str(tmp_path / "absent")})
    assert "cpu:model" in result.stdout and "fix:" in result.stdout


def test_import_stays_light() -> None:
    code = (
        "import sys, impactlib; heavy = {'pandas', 'matplotlib', 'torch', 'sqlalchemy', 'httpx', "
        "'requests', 'numpy', 'psutil', 'typer', 'rich'}; print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("run", "-p"), "requires an argument"),
        (("nope",), "No such command"),
        (("report", "--since-never"), "No such option"),
        (("run", "--pue", "x", "--", "true"), "option --pue"),
    ],
)
def test_usage_errors_are_one_line_with_exit_2(args: tuple[str, ...], needle: str) -> None:
    assert_one_line_error(cli(*args), needle)
