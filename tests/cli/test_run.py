"""``impactlib run``: its options before the command only, the command's own arguments
untouched, the run id in the command's environment, exit codes and signals passed through,
and bad input as one line with exit 2."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
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


# --- a store that fails never swallows a run --------------------------------------------------


def fallback_path() -> Path:
    """Where conftest's private home puts this user's fallback store."""
    return Path(os.environ["XDG_DATA_HOME"]) / "impactlib" / "impactlib-fallback.db"


def warning_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("impactlib: warning:")]


def saved_to(stderr: str) -> str:
    """What the summary's last line names (a long path is folded onto the next line)."""
    assert stderr.count("saved to") == 1, stderr
    return " ".join(stderr.split("saved to", 1)[1].split())


def assert_ran_into_the_fallback(result: subprocess.CompletedProcess[str], broken: str) -> str:
    """The command ran and passed its exit code through; one warning line named the broken
    store and the fallback one; the summary says the run was saved to the fallback store."""
    assert result.returncode == 0, result.stderr
    assert "the command ran" in result.stdout
    (warning,) = warning_lines(result.stderr)
    assert broken in warning and str(fallback_path()) in warning
    assert saved_to(result.stderr) == str(fallback_path())
    (run_id,) = [r for r in stored_ids(fallback_path())]
    return run_id


def stored_ids(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [str(row[0]) for row in conn.execute("SELECT id FROM runs")]
    finally:
        conn.close()


def damage(path: Path) -> None:
    """Grow a real store past a few pages (copies of its one run), then write garbage over a
    page in the middle of the file, as a bad disk or a crashed copy leaves it."""
    conn = sqlite3.connect(path)
    columns = [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
    others = ", ".join(c for c in columns if c != "id")
    for n in range(300):
        conn.execute(
            f"INSERT INTO runs (id, {others}) SELECT id || '{n}', {others} FROM runs LIMIT 1"
        )
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    size = path.stat().st_size
    assert size > 20 * 4096
    with path.open("r+b") as fh:
        fh.seek(size // 2 // 4096 * 4096)
        fh.write(bytes(range(256)) * 16)


RAN = "print('the command ran')"


def test_a_damaged_store_is_never_reported_as_saved_to(env: dict[str, str], tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    assert cli("run", "-q", "--store", str(store), "--", "true", env=env).returncode == 0
    damage(store)
    before = store.read_bytes()
    result = cli("run", "--store", str(store), "--", sys.executable, "-c", RAN, env=env)
    run_id = assert_ran_into_the_fallback(result, str(store))
    assert "damaged" in warning_lines(result.stderr)[0]
    assert store.read_bytes() == before  # nothing written into the damaged file
    # Once the damaged file is moved aside, as the warning says, the run is reported...
    store.rename(tmp_path / "store.db.damaged")
    shown = cli("report", "--store", str(store), "--format", "json", env=env)
    assert shown.returncode == 0, shown.stderr
    assert [r["id"] for r in json.loads(shown.stdout)] == [run_id]
    (notice,) = shown.stderr.strip().splitlines()
    assert str(fallback_path()) in notice and str(store) in notice
    # ...and synced to the lab's store.
    central = tmp_path / "central.db"
    synced = cli("sync", "--store", str(store), "--to", str(central), env=env)
    assert synced.returncode == 0, synced.stderr
    assert str(fallback_path()) in synced.stdout
    assert stored_ids(central) == [run_id]


def test_the_api_keeps_a_run_its_damaged_store_cannot_take(
    env: dict[str, str], tmp_path: Path
) -> None:
    store = tmp_path / "store.db"
    assert cli("run", "-q", "--store", str(store), "--", "true", env=env).returncode == 0
    damage(store)
    code = "import impactlib; t = impactlib.init(); t.start(); t.stop(); print(t.run_id)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env, "IMPACTLIB_STORE": str(store)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert stored_ids(fallback_path()) == [result.stdout.strip()]
    (warning,) = [line for line in result.stderr.splitlines() if "ImpactWarning" in line]
    assert "damaged" in warning and str(fallback_path()) in warning


def test_an_unreachable_postgresql_store_still_runs_the_command(
    env: dict[str, str], postgres_server: str
) -> None:
    """The server answers, but the database is not there yet: the run goes to the fallback
    store; once the database exists, ``report`` on it shows the run."""
    import sqlalchemy

    url = postgres_server + "later"
    result = cli("run", "--", sys.executable, "-c", RAN, env={**env, "IMPACTLIB_STORE": url})
    run_id = assert_ran_into_the_fallback(result, url.split("://")[0])
    admin = sqlalchemy.create_engine(postgres_server + "postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text("CREATE DATABASE later"))
    admin.dispose()
    shown = cli("report", "--format", "json", env={**env, "IMPACTLIB_STORE": url})
    assert shown.returncode == 0, shown.stderr
    assert [r["id"] for r in json.loads(shown.stdout)] == [run_id]
    assert str(fallback_path()) in shown.stderr


def test_a_store_lost_during_a_run_keeps_the_whole_run_elsewhere(
    env: dict[str, str], postgres_url: str
) -> None:
    """The database goes away while the script trains: the run, started there, ends in
    the fallback store with every figure, and one warning says where."""
    server, database = postgres_url.rsplit("/", 1)
    code = textwrap.dedent(
        f"""
        import sqlalchemy, impactlib
        t = impactlib.init(store={postgres_url!r})
        t.start()
        admin = sqlalchemy.create_engine({server + "/postgres"!r}, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text("DROP DATABASE {database} WITH (FORCE)"))
        fp = t.stop()
        print(t.run_id, fp.energy_j)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    run_id, energy_j = result.stdout.split()
    (warning,) = [line for line in result.stderr.splitlines() if "ImpactWarning" in line]
    assert str(fallback_path()) in warning
    conn = sqlite3.connect(fallback_path())
    stored = conn.execute("SELECT status, footprint FROM runs WHERE id = ?", (run_id,)).fetchone()
    conn.close()
    assert stored[0] == "completed"
    assert json.loads(stored[1])["energy_j"] == pytest.approx(float(energy_j))


def test_an_unwritable_store_path_still_runs_the_command(
    env: dict[str, str], tmp_path: Path
) -> None:
    """A store path SQLite cannot open (here a directory: a typo in a flag whose folder is
    missing is refused instead, tests/cli/test_store_directory.py) keeps the run elsewhere."""
    store = tmp_path / "a-directory"
    store.mkdir()
    result = cli("run", "--store", str(store), "--", sys.executable, "-c", RAN, env=env)
    assert_ran_into_the_fallback(result, str(store))
    assert "is a directory" in warning_lines(result.stderr)[0]


def test_a_store_given_on_the_command_line_reaches_the_command(
    env: dict[str, str], tmp_path: Path
) -> None:
    """So that ``impactlib metrics`` inside the command finds its run."""
    store = tmp_path / "elsewhere.db"
    show = "import os; print(os.environ['IMPACTLIB_STORE'])"
    result = cli("run", "-q", "--store", str(store), "--", sys.executable, "-c", show, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(store)
