"""``impactlib run``: its options before the command only, the command's own arguments
untouched, the run id in the command's environment, exit codes and signals passed through,
and bad input as one line with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from clihelp import assert_one_line_error, cli

from impactlib.config import KEYS

PRINT_ARGV = "import sys; print(sys.argv)"
PRINT_RUN_ID = "import os; print(os.environ['IMPACTLIB_RUN_ID'])"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """No RAPL (model estimates only), a static intensity table, fast sampling."""
    return {
        "IMPACTLIB_POWERCAP_ROOT": str(tmp_path / "no-powercap"),
        "IMPACTLIB_COUNTRY": "DE",
        "IMPACTLIB_INTERVAL": "0.05",
    }


def stored(run_id: str) -> dict[str, Any]:
    """The run as ``report --format json`` shows it."""
    result = cli("report", "--run", run_id, "--format", "json")
    assert result.returncode == 0, result.stderr
    (run,) = json.loads(result.stdout)
    return dict(run)


def test_arguments_after_the_command_belong_to_it(env: dict[str, str]) -> None:
    result = cli("run", sys.executable, "-c", PRINT_ARGV, "-e", "50", "-q", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "['-c', '-e', '50', '-q']\n"
    assert result.stderr  # -q was the command's: impactlib still printed its summary
    (run,) = json.loads(cli("report", "--format", "json").stdout)
    assert run["experiment"] == ""  # and -e 50 did not name the experiment


def test_options_before_the_command_are_impactlibs(env: dict[str, str]) -> None:
    result = cli(
        "run", "-e", "exp", "-q", "--", sys.executable, "-c", PRINT_ARGV, "--", "-q", env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "['-c', '--', '-q']\n"  # only the first -- is impactlib's
    assert result.stderr == ""
    (run,) = json.loads(cli("report", "--format", "json").stdout)
    assert run["experiment"] == "exp"


def test_the_commands_help_is_the_commands(env: dict[str, str]) -> None:
    result = cli("run", sys.executable, "-c", PRINT_ARGV, "--help", env=env)
    assert result.returncode == 0 and result.stdout == "['-c', '--help']\n", result.stderr


def test_usage_line_shows_the_command_after_double_dash() -> None:
    result = cli("run", "--help", env={"COLUMNS": "100"})
    assert result.returncode == 0
    assert "impactlib run [OPTIONS] -- CMD [ARGS]..." in result.stdout


def test_the_command_finds_its_run_id(env: dict[str, str]) -> None:
    result = cli("run", "-q", "--", sys.executable, "-c", PRINT_RUN_ID, env=env)
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.strip()
    assert stored(run_id)["id"] == run_id


def test_the_run_id_is_not_a_setting(env: dict[str, str]) -> None:
    """An outer run's id (``impactlib run`` inside a measured script) names no later run."""
    assert "run_id" not in KEYS
    result = cli(
        "run", "-q", "--", sys.executable, "-c", PRINT_RUN_ID, env={**env, "IMPACTLIB_RUN_ID": "x"}
    )
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.strip()
    assert run_id != "x" and stored(run_id)["id"] == run_id


def test_exit_code_passes_through_and_summary_goes_to_stderr(env: dict[str, str]) -> None:
    code = "import sys; print('hi'); sys.exit(7)"
    result = cli("run", "--", sys.executable, "-c", code, env=env)
    assert result.returncode == 7
    assert result.stdout == "hi\n"  # the command's output is untouched
    assert result.stderr
    (run,) = json.loads(cli("report", "--format", "json").stdout)
    assert run["status"] == "failed"


def test_signal_death_passes_through(env: dict[str, str]) -> None:
    code = "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"
    result = cli("run", "-q", "--", sys.executable, "-c", code, env=env)
    assert result.returncode == -15
    (run,) = json.loads(cli("report", "--format", "json").stdout)
    assert run["status"] == "interrupted"


# --- bad input: one line, exit 2, nothing run ------------------------------------------


@pytest.mark.parametrize(
    ("before", "named"),
    [
        (["--bogus"], "--bogus"),
        (["-x"], "-x"),
        (["-q", "--bogus", "value"], "--bogus"),
        (["--bogus", "--"], "--bogus"),
    ],
)
def test_unknown_option_before_the_command(
    env: dict[str, str], tmp_path: Path, before: list[str], named: str
) -> None:
    marker = tmp_path / "ran"
    touch = f"open({str(marker)!r}, 'w').close()"
    result = cli("run", *before, sys.executable, "-c", touch, env=env)
    assert_one_line_error(result, f"'{named}'")
    assert not marker.exists()
    assert json.loads(cli("report", "--format", "json").stdout) == []


def test_a_command_named_with_a_dash_is_given_by_its_path(
    env: dict[str, str], tmp_path: Path
) -> None:
    """``--`` does not reach us (the parser drops it), so ``-x`` reads as an option of ours:
    the error says how to run such a command, and that way works."""
    marker = tmp_path / "ran"
    script = tmp_path / "-train"
    script.write_text(f"#!{sys.executable}\nopen({str(marker)!r}, 'w').close()\n")
    script.chmod(0o755)
    assert_one_line_error(cli("run", "--", "-train", env=env), "./NAME")
    result = cli("run", "--", str(script), env=env)
    assert result.returncode == 0, result.stderr
    assert marker.exists()


@pytest.mark.parametrize("args", [[], ["--"], ["-q"], ["-p", "x", "--"]])
def test_nothing_to_run(args: list[str]) -> None:
    assert_one_line_error(cli("run", *args), "nothing to run")


def test_command_not_found(env: dict[str, str]) -> None:
    assert_one_line_error(cli("run", "--", "no-such-command-xyz", env=env), "no-such-command-xyz")
    assert_one_line_error(cli("run", "no-such-command-xyz", "-q", env=env), "no-such-command-xyz")


@pytest.mark.parametrize(
    ("option", "value", "key"),
    [
        ("--pue", "abc", "'pue'"),
        ("--interval", "0", "'interval'"),
        ("--save-interval", "-1", "'save_interval'"),
        ("--scope", "galaxy", "'scope'"),
        ("--idle-policy", "fair", "'idle_policy'"),
        ("--intensity-source", "moon", "'intensity_source'"),
    ],
)
def test_bad_option_values(option: str, value: str, key: str) -> None:
    assert_one_line_error(cli("run", option, value, "--", "true"), key, repr(value))


def test_unknown_country() -> None:
    assert_one_line_error(
        cli("run", "--country", "Germny", "--", "true"), "unknown zone 'Germny'", "Germany"
    )


def test_invalid_config_value_from_environment() -> None:
    assert_one_line_error(
        cli("run", "--", "true", env={"IMPACTLIB_PUE": "0.3"}), "IMPACTLIB_PUE", "'pue'", ">= 1.0"
    )


def test_invalid_config_value_from_file(tmp_path: Path) -> None:
    (tmp_path / "impactlib.toml").write_text('idle_policy = "fair"\n')
    result = subprocess.run(
        [sys.executable, "-m", "impactlib.cli.main", "run", "--", "true"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert_one_line_error(result, "impactlib.toml", "'idle_policy'", "usage, allocation or none")


def test_unwritable_store_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_one_line_error(
        cli("run", "--store", str(blocker / "db.sqlite"), "--", "true"), "cannot open the store"
    )


def test_a_store_given_on_the_command_line_reaches_the_command(
    env: dict[str, str], tmp_path: Path
) -> None:
    """So that ``impactlib metrics`` inside the command finds its run."""
    store = tmp_path / "elsewhere.db"
    show = "import os; print(os.environ['IMPACTLIB_STORE'])"
    result = cli("run", "-q", "--store", str(store), "--", sys.executable, "-c", show, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(store)
