"""An IPython shell: ``%load_ext impactlib``, ``%%impact`` cells stored as runs, the report."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("IPython", reason="the Jupyter extra is absent: pip install '.[jupyter]'")

from IPython.core.interactiveshell import InteractiveShell

import impactlib
from impactlib.footprint import Footprint
from impactlib.integrations.jupyter import CellFailed, ImpactMagics
from impactlib.store import open_store


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    """A fresh shell with the extension loaded; the session's run is finished afterwards."""
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("IMPACTLIB_POWERCAP_ROOT", str(tmp_path / "none"))
    monkeypatch.setenv("IMPACTLIB_COUNTRY", "FR")
    monkeypatch.setenv("IMPACTLIB_PROJECT", "notebook")
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "impactlib")
    yield ip
    _magics(ip).session.stop()
    InteractiveShell.clear_instance()


def _magics(ip: InteractiveShell) -> ImpactMagics:
    (magics,) = [m for m in ip.magics_manager.registry.values() if isinstance(m, ImpactMagics)]
    return magics


def _runs(project: str) -> list[impactlib.store.RunRecord]:
    return open_store(impactlib.load_config({})).list_runs(project=project)


def test_a_cell_is_a_run_printed_and_kept(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    result = shell.run_cell("%%impact project=cells interval=0.1\ntotal = sum(range(200_000))")
    assert result.success and shell.user_ns["total"] == sum(range(200_000))

    (run,) = _runs("cells")
    assert run.status == "completed" and run.footprint is not None
    kept = shell.user_ns["_impact"]
    assert isinstance(kept, Footprint) and kept.run_id == run.id
    out = capsys.readouterr().out
    assert "impactlib: cell [" in out and "CO2e (cpu estimated" in out

    shell.run_line_magic("impact_report", "")
    report = capsys.readouterr().out.splitlines()
    assert report[0].startswith("impactlib: notebook session (run ")
    assert report[1].endswith(": total = sum(range(200_000))")
    (session,) = _runs("notebook")  # %load_ext started the session's own run
    assert session.status == "running"


def test_loading_twice_keeps_one_session(shell: InteractiveShell) -> None:
    shell.run_line_magic("reload_ext", "impactlib")
    assert len(_runs("notebook")) == 1
    assert _magics(shell).session.status == "running"


def test_a_failing_cell_stores_a_failed_run_and_fails_itself(shell: InteractiveShell) -> None:
    result = shell.run_cell("%%impact project=broken\n1 / 0")
    assert isinstance(result.error_in_exec, CellFailed)  # so "Run all" stops here
    assert "ZeroDivisionError" in str(result.error_in_exec)
    (run,) = _runs("broken")
    assert run.status == "failed"


def test_bad_settings_are_one_line_and_run_nothing(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_cell("%%impact pue=0.5\nran = True")
    shell.run_cell("%%impact project\nran = True")
    err = capsys.readouterr().err
    assert "pue" in err and "key=value" in err and "Traceback" not in err
    assert "ran" not in shell.user_ns
