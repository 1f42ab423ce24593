"""``impactlib run`` in a batch script, signalled as SLURM signals it: the record ends
``cancelled``, with the time it ran up to the signal, whether ``impactlib run`` was a line of
the script or ``exec``ed, whether the shell alone or the whole step was signalled; outside
SLURM, and for Ctrl-C, the statuses stay what the command died of.

Each test starts a real bash script in a session of its own, as slurmstepd starts a batch
script, with a command that says when it started (and who its parent is), then signals it
as SLURM does: ``scancel`` and a time limit send SIGTERM to the batch shell only (22.05), then
SIGKILL to the step after ``KillWait``; ``scancel --full`` signals every process of the step.
SLURM's presence is its environment (``SLURM_JOB_ID``); nothing of SLURM itself runs here
(``tests/slurm/test_real_cluster.py`` does that).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from clihelp import cli
from fakejob import JOB_ID

from impactlib.cli.run_signals import CANCEL_GRACE_S

TICK_S = 0.25  # the sampling interval of these runs: what a finish may lose or add
RUNS_FOR_S = 1.0  # how long the command runs before the signal
# Says it started (its pid and its parent's, impactlib run's), then waits to be ended.
COMMAND = textwrap.dedent(
    """
    import os, signal, sys, time
    if sys.argv[2] == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with open(sys.argv[1] + ".tmp", "w") as fh:
        fh.write(f"{os.getpid()} {os.getppid()}")
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    time.sleep(120)
    """
)
# How the batch script runs impactlib run: a line of it, exec'ed, or in the background with
# SIGTERM passed on by a trap (what docs/slurm.md advises for a script that goes on after it).
SCRIPTS = {
    "line": "{run}\necho script ended\n",
    "exec": "exec {run}\n",
    "trap": "{run} &\npid=$!\ntrap 'kill -TERM $pid; wait $pid' TERM\nwait $pid\n"
    "echo script ended\n",
}
SLURM = {"SLURM_JOB_ID": JOB_ID, "SLURM_JOB_ACCOUNT": "vision", "SLURMD_NODENAME": "node07"}


@dataclass
class Job:
    """A batch script running ``impactlib run`` (one of :data:`SCRIPTS`) and its command."""

    shell: subprocess.Popen[bytes]
    store: Path
    launched_at: float  # monotonic, when the shell was started
    started_at: float  # monotonic, when the command said it had started
    command_pid: int
    impactlib_pid: int

    def signal_shell(self, signum: int) -> float:
        """Signal the batch shell alone, as slurmstepd does on scancel; when it was sent."""
        sent = time.monotonic()
        os.kill(self.shell.pid, signum)
        return sent

    def signal_step(self, signum: int) -> float:
        """Signal every process of the script (``scancel --full``)."""
        sent = time.monotonic()
        os.killpg(self.shell.pid, signum)
        return sent

    def record(self) -> dict[str, Any]:
        """The run, as ``impactlib report --format json`` shows it."""
        shown = cli("report", "--store", str(self.store), "--format", "json")
        assert shown.returncode == 0, shown.stderr
        (run,) = json.loads(shown.stdout)
        return dict(run)

    def output(self) -> str:
        return (self.store.parent / "job.out").read_text()


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, waiting for its parent to reap it, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def wait_until(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not after {timeout_s:g} s"
        time.sleep(0.02)


@pytest.fixture
def batch(tmp_path: Path) -> Iterator[Any]:
    """Start batch scripts; whatever is left of them is SIGKILLed at the end, as SLURM
    kills what remains of a job."""
    started: list[Job] = []

    def start(*, form: str, slurm: bool, command: str = "wait") -> Job:
        store, marker = tmp_path / "store.db", tmp_path / "started"
        run = [sys.executable, "-m", "impactlib.cli.main", "run", "--store", str(store), "--"]
        line = subprocess.list2cmdline([*run, sys.executable, "-c", COMMAND, str(marker), command])
        script = tmp_path / "job.sh"
        script.write_text("#!/bin/bash\n" + SCRIPTS[form].format(run=line))
        env = {
            **os.environ,
            "IMPACTLIB_POWERCAP_ROOT": str(tmp_path / "no-powercap"),
            "IMPACTLIB_COUNTRY": "DE",
            "IMPACTLIB_INTERVAL": str(TICK_S),
            **(SLURM if slurm else {}),
        }
        with (tmp_path / "job.out").open("wb") as out:
            launched = time.monotonic()
            shell = subprocess.Popen(
                ["bash", str(script)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        wait_until(marker.exists, 60, "the command started")
        command_pid, impactlib_pid = (int(n) for n in marker.read_text().split())
        job = Job(shell, store, launched, time.monotonic(), command_pid, impactlib_pid)
        started.append(job)
        time.sleep(RUNS_FOR_S)
        return job

    yield start
    for job in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job.shell.pid, signal.SIGKILL)
        job.shell.wait()


def assert_cancelled_at(job: Job, sent: float, grace_s: float = 0.0) -> None:
    """The record is finished as cancelled and its duration is the time up to the signal
    (plus ``grace_s``), within one tick: the run started before its command did, and after
    ``impactlib run`` itself."""
    run = job.record()
    assert run["status"] == "cancelled", run["status"]
    assert run["ended_at"] is not None
    latest = sent - job.launched_at + grace_s + TICK_S
    earliest = sent - job.started_at + grace_s - TICK_S
    assert earliest <= run["duration_s"] <= latest, (earliest, run["duration_s"], latest)


# --- under SLURM: cancelled -------------------------------------------------------------


def test_scancel_of_a_script_whose_line_is_impactlib_run(batch: Any) -> None:
    """SLURM 22.05 signals the batch shell alone: it dies, and slurmstepd SIGKILLs what is
    left of the step milliseconds later (which a real cluster shows, and this test does not
    model). impactlib run learns it from its parent's death: the record is finished, the
    command is told, and both end by themselves."""
    job = batch(form="line", slurm=True)
    assert job.impactlib_pid != job.shell.pid
    sent = job.signal_shell(signal.SIGTERM)
    assert job.shell.wait(timeout=10) == -signal.SIGTERM
    wait_until(lambda: not alive(job.command_pid), 10, "the command ended")
    wait_until(lambda: not alive(job.impactlib_pid), 10, "impactlib run ended")
    assert_cancelled_at(job, sent)


def test_the_shells_death_finishes_the_record_at_once(batch: Any) -> None:
    """SLURM's SIGKILL follows the shell's death within milliseconds: the record does not
    wait for a command that takes its time (here: forever) to end."""
    job = batch(form="line", slurm=True, command="ignore-term")
    sent = job.signal_shell(signal.SIGTERM)
    job.shell.wait(timeout=10)
    wait_until(lambda: job.record()["status"] != "running", 5, "the record finished")
    assert alive(job.command_pid) and alive(job.impactlib_pid)
    assert_cancelled_at(job, sent)


def test_scancel_of_an_execed_impactlib_run(batch: Any) -> None:
    """``exec impactlib run``: it is the batch shell, gets the SIGTERM, passes it on, and
    dies of it as its command did."""
    job = batch(form="exec", slurm=True)
    assert job.impactlib_pid == job.shell.pid
    sent = job.signal_shell(signal.SIGTERM)
    assert job.shell.wait(timeout=10) == -signal.SIGTERM
    assert not alive(job.command_pid)
    assert_cancelled_at(job, sent)
    assert "cancelled" in job.output()  # the summary says so too


@pytest.mark.parametrize("form", ["line", "exec"])
def test_a_signal_to_every_process_of_the_step(batch: Any, form: str) -> None:
    """``scancel --full``, or a time limit where the site signals the whole step."""
    job = batch(form=form, slurm=True)
    sent = job.signal_step(signal.SIGTERM)
    job.shell.wait(timeout=10)
    wait_until(lambda: not alive(job.impactlib_pid), 10, "impactlib run ended")
    assert_cancelled_at(job, sent)


def test_scancel_of_a_script_that_passes_sigterm_on(batch: Any) -> None:
    """The shell traps SIGTERM and passes it to impactlib run, then waits for it: the step
    lives on until the record is finished, as with exec."""
    job = batch(form="trap", slurm=True)
    sent = job.signal_shell(signal.SIGTERM)
    assert job.shell.wait(timeout=10) == 0
    assert not alive(job.command_pid) and not alive(job.impactlib_pid)
    assert_cancelled_at(job, sent)
    assert "script ended" in job.output()


def test_a_command_that_ignores_sigterm_has_a_grace_then_the_record_ends(batch: Any) -> None:
    """The exec'ed run passes SLURM's SIGTERM on and waits for its command to end, counting
    its energy meanwhile, but no longer than the grace: SLURM's SIGKILL comes at KillWait."""
    job = batch(form="exec", slurm=True, command="ignore-term")
    sent = job.signal_shell(signal.SIGTERM)
    wait_until(lambda: job.record()["status"] != "running", CANCEL_GRACE_S + 10, "finished")
    assert alive(job.command_pid)  # the command goes on until SLURM's SIGKILL
    assert_cancelled_at(job, sent, grace_s=CANCEL_GRACE_S)


def test_ctrl_c_under_slurm_is_still_an_interruption(batch: Any) -> None:
    """``srun --pty``: Ctrl-C is the user's, not the scheduler's."""
    job = batch(form="line", slurm=True)
    job.signal_step(signal.SIGINT)
    job.shell.wait(timeout=10)
    wait_until(lambda: not alive(job.impactlib_pid), 10, "impactlib run ended")
    assert job.record()["status"] == "interrupted"


def test_a_cancelled_run_is_waste_and_every_output_says_cancelled(batch: Any) -> None:
    job = batch(form="exec", slurm=True)
    job.signal_shell(signal.SIGTERM)
    job.shell.wait(timeout=10)
    store = str(job.store)
    waste = cli("report", "--store", store, "--by", "user", "--waste", "--format", "json")
    assert waste.returncode == 0, waste.stderr
    assert "cancelled run" in waste.stdout
    for form in ("table", "csv", "markdown", "html", "latex"):
        shown = cli("report", "--store", store, "--format", form)
        assert shown.returncode == 0, shown.stderr
        assert "cancelled" in shown.stdout, form


# --- outside SLURM: what the command died of, as before -----------------------------------


def test_sigterm_outside_slurm_is_an_interruption(batch: Any) -> None:
    job = batch(form="exec", slurm=False)
    job.signal_shell(signal.SIGTERM)
    assert job.shell.wait(timeout=10) == -signal.SIGTERM
    assert job.record()["status"] == "interrupted"


def test_ctrl_c_outside_slurm_is_an_interruption(batch: Any) -> None:
    job = batch(form="line", slurm=False)
    job.signal_step(signal.SIGINT)
    job.shell.wait(timeout=10)
    wait_until(lambda: not alive(job.impactlib_pid), 10, "impactlib run ended")
    assert job.record()["status"] == "interrupted"


def test_outside_slurm_the_shells_death_is_no_cancellation(batch: Any) -> None:
    """No scheduler will kill the command: it runs on, measured, after its shell died."""
    job = batch(form="line", slurm=False)
    job.signal_shell(signal.SIGTERM)
    job.shell.wait(timeout=10)
    time.sleep(1.0)
    assert alive(job.command_pid) and alive(job.impactlib_pid)
    assert job.record()["status"] == "running"


# --- the API under SLURM --------------------------------------------------------------------

API_SCRIPT = textwrap.dedent(
    """
    import sys, time, impactlib
    tracker = impactlib.init(store=sys.argv[1])
    tracker.start()
    print(tracker.run_id, flush=True)
    time.sleep(120)
    """
)


@pytest.mark.parametrize(("slurm", "status"), [(True, "cancelled"), (False, "interrupted")])
def test_sigterm_to_a_script_using_the_api(tmp_path: Path, slurm: bool, status: str) -> None:
    """``exec python train.py`` with ``impactlib.init()``: SLURM's SIGTERM is a cancellation."""
    store = tmp_path / "store.db"
    env = {
        **os.environ,
        "IMPACTLIB_POWERCAP_ROOT": str(tmp_path / "none"),
        "IMPACTLIB_COUNTRY": "DE",
    }
    script = subprocess.Popen(
        [sys.executable, "-c", API_SCRIPT, str(store)],
        env={**env, **(SLURM if slurm else {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert script.stdout is not None
    run_id = script.stdout.readline().decode().strip()
    script.send_signal(signal.SIGTERM)
    assert script.wait(timeout=20) == -signal.SIGTERM
    shown = cli("report", "--store", str(store), "--run", run_id, "--format", "json")
    assert json.loads(shown.stdout)[0]["status"] == status


# --- finishing in time ------------------------------------------------------------------------


def test_finishing_a_run_imports_nothing_once_prepared(tmp_path: Path) -> None:
    """On SLURM 22.05 the step's SIGKILL came milliseconds after the batch shell died:
    finishing the record then must not import the modules the final figures need (30-50 ms)."""
    code = textwrap.dedent(
        """
        import sys, impactlib
        from impactlib.cli.run_signals import load_what_finishing_needs
        tracker = impactlib.init(store=sys.argv[1])
        tracker.start()
        load_what_finishing_needs()
        before = set(sys.modules)
        tracker.stop("cancelled")
        print(sorted(set(sys.modules) - before))
        """
    )
    env = {
        **os.environ,
        "IMPACTLIB_POWERCAP_ROOT": str(tmp_path / "none"),
        "IMPACTLIB_COUNTRY": "DE",
    }
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "s.db")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
