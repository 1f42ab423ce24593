"""Shared fixtures: every test runs with its own store, config dirs and no IMPACTLIB_* leaks."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from ciskips import pytest_sessionfinish, pytest_terminal_summary  # noqa: E402,F401  (hooks)
from pgserver import postgres_server, postgres_url  # noqa: E402,F401  (shared fixtures)


@pytest.fixture(autouse=True)
def isolated_env(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A private home: store, user config, cache; no inherited IMPACTLIB_* settings."""
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        # SLURM_*: a suite run inside a SLURM job must not measure that job's cgroup
        if name.startswith(("IMPACTLIB_", "SLURM_")):
            monkeypatch.delenv(name)
    for var in ("LOCAL_RANK", "TORCHELASTIC_RUN_ID", "SLURM_LOCALID", "CUDA_VISIBLE_DEVICES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("IMPACTLIB_STORE", str(home / "store.db"))
    # Never the system-wide /var/lib/impactlib model (CI runs as root and could write it).
    monkeypatch.setenv("IMPACTLIB_POWER_MODEL", str(home / "power-model.json"))
    # Never the machine's own wall sensor: a runner with an ACPI power meter would add a
    # platform domain to every record (tests that want one build a fake hwmon tree).
    monkeypatch.setenv("IMPACTLIB_HWMON_ROOT", str(home / "no-hwmon"))
    monkeypatch.chdir(home)
    yield home
