"""Running the CLI in a subprocess, and the one-line-error contract, for every CLI test."""

from __future__ import annotations

import os
import subprocess
import sys


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``impactlib ARGS`` in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "impactlib.cli.main", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Exit code 2, one stderr line starting ``impactlib: error:``, no traceback."""
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("impactlib: error:"), result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
