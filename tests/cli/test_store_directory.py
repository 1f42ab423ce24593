"""``--store`` naming a directory that does not exist is refused, by every command taking
it: one line naming the directory, exit 2, nothing created. A mistyped path once made
``slurm ingest`` write a whole lab's jobs into a new store nobody would look at."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import typer.main
from clihelp import assert_one_line_error, cli

from impactlib.cli.main import build_app

# What each command needs besides --store to get as far as opening it.
REQUIRED: dict[tuple[str, ...], tuple[str, ...]] = {
    ("run",): ("--", sys.executable, "-c", "pass"),
    ("pepr",): ("--performance", "accuracy"),
    ("sync",): ("--to", "lab.db"),
    ("import", "codecarbon"): ("emissions.csv",),
    ("count",): ("5", "--run", "a" * 32),
    ("validate",): ("--reference", "wattmeter.csv", "--run", "a" * 32),
    ("budget", "set"): ("5kg", "--lab", "--year", "2026"),
    ("budget", "rm"): ("--lab", "--year", "2026"),
}


def _commands_with_store() -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []

    def walk(command: object, path: tuple[str, ...]) -> None:
        children = getattr(command, "commands", None)
        if children is not None:
            for name, child in children.items():
                walk(child, (*path, name))
        elif any("--store" in (getattr(p, "opts", None) or []) for p in command.params):  # type: ignore[attr-defined]
            found.append(path)

    walk(typer.main.get_command(build_app()), ())
    return found


COMMANDS = _commands_with_store()


def test_the_commands_taking_store_are_these() -> None:
    """A new command taking --store is checked too (it joins the list below)."""
    assert ("slurm", "ingest") in COMMANDS and ("report",) in COMMANDS
    assert len(COMMANDS) >= 12


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_store_in_a_missing_directory_is_refused(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    if command == ("demo",):
        pytest.importorskip("sklearn")
    missing = tmp_path / "no-such-dir"
    header = "timestamp,project_name,run_id,duration,emissions,energy_consumed\n"
    Path("emissions.csv").write_text(header)  # no rows: valid, nothing to import
    Path("wattmeter.csv").write_text("timestamp,watts\n1790000000,100\n1790000010,100\n")
    result = cli(*command, "--store", str(missing / "lab.db"), *REQUIRED.get(command, ()))
    assert_one_line_error(result, f"--store: the directory {missing} does not exist")
    assert not missing.exists()


def test_a_store_in_an_existing_directory_is_created(tmp_path: Path) -> None:
    result = cli("report", "--store", str(tmp_path / "lab.db"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "lab.db").is_file()


def test_a_store_under_a_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = cli("report", "--store", str(blocker / "lab.db"))
    assert_one_line_error(result, f"--store: {blocker} is a file, not a directory")
    assert blocker.read_text() == "x"
