"""Safe store: concurrent writers, kill -9, SIGTERM/SIGINT, exports, PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from clihelp import cli

from impactlib.store import open_store, with_liveness

WRITER = textwrap.dedent(
    """
    import impactlib, time, sys
    t = impactlib.init(project="concurrent", interval=0.05, save_interval=0.1)
    t.start()
    time.sleep(float(sys.argv[1]))
    t.stop()
    """
)


def test_sixteen_concurrent_trackers_lose_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "IMPACTLIB_POWERCAP_ROOT": str(tmp_path), "IMPACTLIB_COUNTRY": "FR"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, "1.5"], env=env, stderr=subprocess.PIPE, text=True
        )
        for _ in range(16)
    ]
    errors = [p.communicate()[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    assert not any("locked" in e or "Traceback" in e or "could not save" in e for e in errors), (
        errors
    )
    runs = open_store(os.environ["IMPACTLIB_STORE"]).list_runs(project="concurrent")
    assert len(runs) == 16
    assert all(
        r.status == "completed" and r.footprint and r.footprint.duration_s > 1.4 for r in runs
    )


def _start_run(tmp_path: Path, save_interval: float, seconds: float) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "IMPACTLIB_POWERCAP_ROOT": str(tmp_path),
        "IMPACTLIB_COUNTRY": "FR",
        "IMPACTLIB_INTERVAL": "0.1",
        "IMPACTLIB_SAVE_INTERVAL": str(save_interval),
    }
    burn = f"import time\nend=time.monotonic()+{seconds}\nwhile time.monotonic()<end: pass"
    return subprocess.Popen(
        [sys.executable, "-m", "impactlib.cli.main", "run", "--", sys.executable, "-c", burn],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_kill_9_loses_at_most_one_save_interval(tmp_path: Path) -> None:
    save_interval = 1.0
    proc = _start_run(tmp_path, save_interval, 30)
    time.sleep(4.5)
    os.killpg(proc.pid, signal.SIGKILL)  # the launcher and the command, no chance to clean up
    proc.wait()
    killed_after = 4.5
    runs = open_store(os.environ["IMPACTLIB_STORE"]).list_runs()
    assert len(runs) == 1
    run = runs[0]
    assert run.status == "running"  # as stored: reading the store probes no process
    assert with_liveness(run).status == "killed"  # left "running" by a dead process
    shown = json.loads(cli("report", "--format", "json").stdout)
    assert [r["status"] for r in shown] == ["killed"]  # and so every report shows it
    assert run.footprint is not None
    # Startup of the interpreter eats a little of the 4.5 s; the rest minus one interval is saved.
    assert run.footprint.duration_s >= killed_after - save_interval - 1.0
    assert run.footprint.energy_j > 0
    assert open_store(os.environ["IMPACTLIB_STORE"]).series(run.id)


@pytest.mark.parametrize(
    ("sig", "expected"), [(signal.SIGTERM, "interrupted"), (signal.SIGINT, "interrupted")]
)
def test_sigterm_and_sigint_lose_nothing(tmp_path: Path, sig: int, expected: str) -> None:
    proc = _start_run(tmp_path, 60.0, 30)  # no checkpoint would happen before the signal
    time.sleep(2.5)
    sent = time.monotonic()
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == -sig, stderr  # the command's fate passes through
    runs = open_store(os.environ["IMPACTLIB_STORE"]).list_runs()
    assert len(runs) == 1 and runs[0].status == expected
    fp = runs[0].footprint
    assert fp is not None and fp.ended_at is not None
    assert fp.duration_s >= 1.5  # everything up to the signal was kept
    assert time.monotonic() - sent < 10
    assert "impactlib: run" in stderr  # the summary was printed


def test_exports_csv_codecarbon_columns_first_and_json(tmp_path: Path) -> None:
    import impactlib
    from impactlib.report.csvexport import CODECARBON_COLUMNS, to_csv
    from impactlib.report.jsonexport import to_json

    with impactlib.track(powercap_root=str(tmp_path), country="FR", project="exp") as t:
        sum(range(500_000))
    store = open_store(os.environ["IMPACTLIB_STORE"])
    records = store.list_runs()
    rows = list(csv.DictReader(io.StringIO(to_csv(records))))
    header = to_csv(records).splitlines()[0].split(",")
    assert header[: len(CODECARBON_COLUMNS)] == list(CODECARBON_COLUMNS)
    assert rows[0]["run_id"] == t.run_id and rows[0]["project_name"] == "exp"
    assert float(rows[0]["energy_consumed"]) == pytest.approx(t.energy_consumption)
    assert rows[0]["cpu_quality"] == "estimated" and rows[0]["intensity_source"] == "static"
    data = json.loads(to_json(records))
    assert data[0]["id"] == t.run_id and data[0]["components"][0]["method"] == "model-tdp"


def test_unwritable_store_is_a_clear_error(tmp_path: Path) -> None:
    from impactlib.errors import StoreError

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot open the store at .*IMPACTLIB_STORE"):
        open_store(str(blocker / "sub" / "x.db"))


# --- PostgreSQL, a real server started by the test --------------------------------------------


@pytest.mark.postgres
def test_postgresql_store_round_trip(postgres_url: str, tmp_path: Path) -> None:
    import impactlib

    with impactlib.track(
        powercap_root=str(tmp_path), country="FR", store=postgres_url, project="lab"
    ) as t:
        sum(range(800_000))
    store = open_store(postgres_url)
    record = store.get_run(t.run_id)
    assert record is not None and record.status == "completed" and record.project == "lab"
    assert record.footprint is not None
    assert record.footprint.energy_kwh == pytest.approx(t.energy_consumption)
    assert store.series(t.run_id)
    assert [r.id for r in store.list_runs(project="lab")] == [t.run_id]
    assert store.list_runs(project="other") == []
    assert "password" not in store.location


# --- fallback when the configured store cannot be opened ---------------------------------------


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system temp dir, redirected so fallback files land under this test's tmp_path."""
    import tempfile

    folder = tmp_path / "systmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _usable(store: object) -> bool:
    from sample_runs import make_record

    from impactlib.store import Store

    assert isinstance(store, Store)
    record = make_record("fallback-run")
    store.insert_run(record, save_interval=10.0)
    return store.get_run(record.id) is not None


def test_fallback_store_is_in_the_user_data_dir(private_tmp: Path) -> None:
    from impactlib.store import fallback_store_paths, open_fallback_store

    store = open_fallback_store()
    expected = fallback_store_paths()[0]
    assert expected.name == "impactlib-fallback.db" and expected.exists()
    assert store.location == str(expected)  # what the warning names
    assert _usable(store)


def test_fallback_store_goes_to_a_private_temp_dir_when_home_is_unwritable(
    private_tmp: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from impactlib.store import open_fallback_store

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker))  # the user data dir cannot be made
    store = open_fallback_store()
    location = Path(store.location)
    assert location.parent.parent == private_tmp
    assert location.parent.stat().st_mode & 0o077 == 0  # other users cannot read it
    assert _usable(store)


def test_fallback_store_refuses_a_temp_dir_owned_by_someone_else(
    private_tmp: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from impactlib.store import open_fallback_store

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker))
    other = private_tmp / f"impactlib-{os.geteuid() + 1}"
    other.mkdir()  # made first by "another user": owned by us, but we pretend to be uid + 1
    monkeypatch.setattr(os, "getuid", lambda: os.geteuid() + 1)
    store = open_fallback_store()
    assert store.location.startswith("memory only")
    assert "not a directory of this user's" in store.location
    assert not list(other.iterdir())


def test_fallback_store_is_in_memory_when_no_file_can_be_opened(
    private_tmp: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import tempfile

    from impactlib.store import open_fallback_store

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker))
    monkeypatch.setattr(tempfile, "tempdir", str(blocker))
    store = open_fallback_store()
    assert store.location.startswith("memory only (no fallback file could be opened: ")
    assert str(blocker) in store.location and "\n" not in store.location
    assert _usable(store)
