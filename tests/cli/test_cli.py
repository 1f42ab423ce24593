"""The command line beyond ``run``, ``report`` and ``demo`` (their own files): hardware, a light
import."""

from __future__ import annotations

import itertools
import re
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


# --- say it once, where the user looks ------------------------------------------------------


def test_version() -> None:
    import impactlib

    result = cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"impactlib {impactlib.__version__}\n"


def _help_screens() -> dict[str, str]:
    """Every command's ``--help``, at 80 columns."""
    import typer.main

    from impactlib.cli.main import build_app

    root = typer.main.get_command(build_app())
    names = [()] + [
        (name, *((sub,) if sub else ()))
        for name, command in root.commands.items()  # type: ignore[attr-defined]
        for sub in (getattr(command, "commands", None) or [None])
    ]
    screens = {}
    for words in names:
        result = cli(*words, "--help", env={"COLUMNS": "80"})
        assert result.returncode == 0, result.stderr
        screens[" ".join(words)] = result.stdout
    return screens


# A value at the end of a line whose unit begins the next: "default: 7 │ │ days ago".
_VALUE_AT_END = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?$")
_UNIT_AT_START = re.compile(r"^(?:[^\W\d]|%)")


def split_values(lines: list[str]) -> list[str]:
    """Lines that end with a number whose unit (the next word) starts the next line."""
    text = [line.strip(" │|").strip() for line in lines]
    return [
        f"{a!r} / {b!r}"
        for a, b in itertools.pairwise(text)
        if _VALUE_AT_END.search(a) and _UNIT_AT_START.search(b)
    ]


def test_help_shows_no_type_for_a_flag_and_keeps_values_with_units() -> None:
    screens = _help_screens()
    assert "run" in screens and "slurm ingest" in screens
    for name, text in screens.items():
        assert "<bool>" not in text, name
        assert split_values(text.splitlines()) == [], name
        assert max(len(line) for line in text.splitlines()) <= 80, name


def test_the_run_summary_keeps_each_value_with_its_unit_at_every_width(tmp_path: Path) -> None:
    from impactlib.cli.common import wrap_lines

    env = {
        "IMPACTLIB_POWERCAP_ROOT": str(tmp_path / "none"),  # a model: notes with numbers
        "IMPACTLIB_COUNTRY": "FR",
        "IMPACTLIB_INTERVAL": "0.05",
        "COLUMNS": "80",
    }
    result = cli("run", "--", "true", env=env)
    assert result.returncode == 0, result.stderr
    printed = result.stderr.splitlines()
    assert split_values(printed) == []
    unwrapped = cli("run", "--", "true", env={**env, "COLUMNS": "10000"}).stderr.splitlines()
    assert any(re.search(r"\d W/core", line) for line in unwrapped)
    for width in range(40, 121):
        assert split_values(wrap_lines(unwrapped, width)) == [], width


def test_an_unknown_variable_is_one_warning_line_and_the_command_goes_on() -> None:
    result = cli("report", env={"IMPACTLIB_PROJCT": "vision"})
    assert result.returncode == 0, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("impactlib: warning: environment variable IMPACTLIB_PROJCT")
    assert "did you mean IMPACTLIB_PROJECT?" in line


def test_an_unknown_file_key_stays_an_error_naming_the_closest_key(tmp_path: Path) -> None:
    """The file is written for impactlib: a typo there would change what is measured."""
    (tmp_path / "impactlib.toml").write_text("projet = 'vision'\n")
    result = subprocess.run(
        [sys.executable, "-m", "impactlib.cli.main", "report"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert_one_line_error(result, "unknown key 'projet'", "did you mean project")
