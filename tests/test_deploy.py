"""The systemd units in ``deploy/`` do what their comments and the docs say.

systemd itself is not run here (tests run unprivileged, often without it): the sync unit's
command line is expanded as systemd expands it, from an environment file written as
docs/ges1point5.md tells an admin to, and run through the real CLI.
"""

from __future__ import annotations

import configparser
import re
import shlex
import subprocess
import sys
from pathlib import Path

from sample_runs import make_record, save_record

from impactlib.store import open_store

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
INSTALLED_BINARY = "/opt/impactlib/bin/impactlib"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    parser.read_string((DEPLOY / name).read_text())
    return parser


def expand(command: str, env: dict[str, str]) -> list[str]:
    """``ExecStart`` as systemd runs it: ``${NAME}`` is one word, the variable's value."""
    words = shlex.split(command)
    return [re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], word) for word in words]


def test_the_timer_starts_the_sync_service_periodically() -> None:
    timer = unit("impactlib-sync.timer")
    assert (DEPLOY / "impactlib-sync.service").exists()  # a timer starts its namesake
    assert "OnCalendar" in timer["Timer"] and timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"
    assert unit("impactlib-sync.service")["Service"]["Type"] == "oneshot"


def test_the_sync_unit_copies_this_nodes_runs(tmp_path: Path) -> None:
    local, central = tmp_path / "node.db", tmp_path / "central.db"
    record = make_record("node-run")
    save_record(open_store(str(local)), record)
    env_file = tmp_path / "sync.env"  # what the admin writes in /etc/impactlib/sync.env
    env_file.write_text(f"IMPACTLIB_SYNC_TO={central}\nIMPACTLIB_STORE={local}\n")
    service = unit("impactlib-sync.service")["Service"]
    assert service["EnvironmentFile"] == "%E/impactlib/sync.env"
    env = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    command = expand(service["ExecStart"], env)
    assert command[0] == INSTALLED_BINARY
    cli = [sys.executable, "-m", "impactlib.cli.main"]
    for _ in range(2):  # twice is the same as once
        done = subprocess.run(
            # systemd gives the unit its user's HOME: a private one here, so no fallback
            # store of the machine running the tests is swept in (sync reads fallbacks too)
            cli + command[1:],
            env={**env, "PATH": "", "HOME": str(tmp_path / "home")},
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
    assert [r.id for r in open_store(str(central)).list_runs()] == [record.id]
