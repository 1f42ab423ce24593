"""CI is honest about what it skipped: a pytest plugin (its hooks are imported by conftest).

CI (``CI=true``, as root, every extra and server installed by ``.ci/run``) expects no skipped
test: a skip there means an install or a service went missing, and must fail the run rather
than leave it green. Developers without root or an extra still see skips locally, as before.
"""

from __future__ import annotations

import os

import pytest

EXPECTED_SKIPS_ON_CI = 0


def _skipped(session: pytest.Session) -> list[pytest.TestReport]:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    return list(reporter.stats.get("skipped", [])) if reporter is not None else []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """On CI, more skipped tests than expected fail the session."""
    if os.environ.get("CI") == "true" and len(_skipped(session)) > EXPECTED_SKIPS_ON_CI:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say which tests skipped on CI, and why that fails it."""
    skipped = list(terminalreporter.stats.get("skipped", []))
    if os.environ.get("CI") != "true" or len(skipped) <= EXPECTED_SKIPS_ON_CI:
        return
    terminalreporter.section("skipped on CI (expected 0)", red=True)
    for report in skipped:
        where, reason = report.nodeid, report.longrepr
        if isinstance(reason, tuple):  # (file, line, "Skipped: reason")
            where, reason = f"{report.nodeid} ({reason[0]}:{reason[1]})", reason[2]
        terminalreporter.write_line(f"{where}: {reason}")
    terminalreporter.write_line(
        f"CI=true expects {EXPECTED_SKIPS_ON_CI} skipped tests, got {len(skipped)}: "
        "install what they need in .ci/run"
    )
