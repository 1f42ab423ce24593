"""CI fails on a skipped test and names it; a developer's run (no ``CI``) only lists it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parents[1]

SUITE = """
import pytest

def test_runs():
    pass

def test_needs_an_extra():
    pytest.skip("the frobnicate extra is absent")
"""


def run_suite(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_suite.py").write_text(SUITE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "ciskips", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_skip_fails_ci_and_is_named(tmp_path: Path) -> None:
    result = run_suite(tmp_path, "true")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "skipped on CI (expected 0)" in result.stdout
    assert "test_suite.py::test_needs_an_extra" in result.stdout
    assert "the frobnicate extra is absent" in result.stdout


def test_a_developer_run_still_passes_with_skips(tmp_path: Path) -> None:
    result = run_suite(tmp_path, None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 1 skipped" in result.stdout
    assert "skipped on CI" not in result.stdout
