"""How a stored run is shown: a run left ``running`` by a dead process is ``killed``, decided
by whoever shows it, never by reading the store."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sample_runs import make_record, save_record

from impactlib._time import iso_utc, now_utc
from impactlib.footprint import Status
from impactlib.identity import host_name
from impactlib.store import RunRecord, open_store, with_liveness


def _running(pid: int, host: str, updated_ago_s: float = 0.0) -> RunRecord:
    updated = iso_utc(now_utc() - timedelta(seconds=updated_ago_s))
    return dataclasses.replace(
        make_record("r1"),
        status=Status.RUNNING,
        pid=pid,
        host=host,
        updated_at=updated,
        save_interval=10.0,
    )


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_run_whose_process_is_gone_on_this_host_is_killed() -> None:
    assert with_liveness(_running(_dead_pid(), host_name())).status == "killed"
    assert with_liveness(_running(os.getpid(), host_name())).status == "running"


def test_a_run_on_another_host_is_killed_when_its_checkpoints_stopped() -> None:
    assert with_liveness(_running(1, "elsewhere", updated_ago_s=5.0)).status == "running"
    assert with_liveness(_running(1, "elsewhere", updated_ago_s=3 * 10 + 61)).status == "killed"


def test_finished_runs_are_shown_as_they_ended() -> None:
    done = make_record("r2")
    assert with_liveness(done) is done


def test_reading_the_store_probes_no_process(monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(os.environ["IMPACTLIB_STORE"])
    save_record(store, _running(_dead_pid(), host_name()))

    def no_probe(pid: int, sig: int) -> None:
        raise AssertionError(f"reading the store probed pid {pid}")

    monkeypatch.setattr(os, "kill", no_probe)
    (run,) = store.list_runs()
    assert run.status == "running" and store.get_run(run.id) == run
    assert run.save_interval == 10.0


def test_the_report_command_shows_a_dead_run_killed(tmp_path: Path) -> None:
    from clihelp import cli

    store = open_store(os.environ["IMPACTLIB_STORE"])
    save_record(store, _running(_dead_pid(), host_name()))
    listed = cli("report")
    assert listed.returncode == 0, listed.stderr
    assert "killed" in listed.stdout and "running" not in listed.stdout
