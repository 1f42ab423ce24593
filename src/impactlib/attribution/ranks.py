"""Multi-rank jobs: one measurement per node, never one per rank.

Under ``torchrun`` or ``srun --ntasks-per-node=N`` every rank runs the same script, so a
naive tracker measures the node N times. Ranks of one job on one node race for a lock file
named after the job; the winner (the node leader) measures the tree of its parent (the
torchrun agent or slurmstepd), which holds every local rank; the others are followers and
record nothing: their energy is inside the leader's figure. The lock is an ``flock``,
released by the kernel even if the leader is killed; the leader writes its PID into the
file so that a follower can say who measures the node.

Ranks do not end together: on a busy node one may still be working when the leader's own
work is done, and whatever it does after the leader stops measuring would be counted by
nobody. So each follower holds a shared ``flock`` on a second file until it ends, and the
leader, before its last sample, waits for the exclusive lock (every follower gone), at most
:data:`SETTLE_S`; a follower that outlives that wait is said in the leader's record.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from .scope import Scope, TreeScope

SETTLE_S = 60.0  # longest a leader waits for the other ranks to end before it stops
_POLL_S = 0.1


@dataclass
class Single:
    """Not part of a multi-rank job: the tracker measures its own scope."""

    def release(self) -> None:
        """Nothing to release."""

    def settle(self, warnings: list[str], status: str) -> None:
        """No other rank to wait for."""


@dataclass
class Leader:
    """This rank measures the node: the tree of ``scope_pid`` holds every local rank."""

    job_key: str
    scope_pid: int
    _fd: int | None = field(default=None, repr=False)
    _ranks_path: str = ""

    def release(self) -> None:
        """Drop the node lock."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def settle(self, warnings: list[str], status: str, limit_s: float = SETTLE_S) -> None:
        """Wait until every follower has ended (at most ``limit_s``), so that the leader's
        last sample holds their work; where one still runs, say so in ``warnings``. Only
        when the leader's work ended by itself: a cancelled job's ranks are being killed,
        and its record has milliseconds to be written."""
        if status not in ("completed", "failed"):
            return
        try:
            fd = os.open(self._ranks_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return
        deadline = time.monotonic() + limit_s
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except OSError:
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(_POLL_S)
        finally:
            os.close(fd)
        warnings.append(
            f"rank leader in job {self.job_key}: other ranks were still running {limit_s:g} s "
            "after this one ended; what they did after that is not counted"
        )


@dataclass
class Follower:
    """Another rank (``leader_pid``, when known) measures this node."""

    job_key: str
    leader_pid: int | None
    _fd: int | None = field(default=None, repr=False)  # the shared lock: "still working"

    def release(self) -> None:
        """This rank has ended: the leader need not wait for it any more."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def settle(self, warnings: list[str], status: str) -> None:
        """A follower measures nothing, so waits for nobody."""

    def explanation(self) -> str:
        """Why this rank's figures are zero, in one line."""
        who = f"process {self.leader_pid}" if self.leader_pid else "another rank"
        return (
            f"rank follower in job {self.job_key}: {who} measures this node and its record "
            "holds this rank's energy; this rank reports 0 so that nothing is counted twice"
        )


RankRole = Single | Leader | Follower


def job_key(environ: Mapping[str, str], whole_job: bool = False) -> str | None:
    """An identifier shared by the ranks of one job step, or None for a single process.

    ``whole_job``: the process measures its SLURM job's cgroup on this node, which holds
    every process of the job there; any other tracker of the job on the node (another
    ``impactlib run`` in the batch script, one in an ``srun`` step) would measure it too, so
    they share one key, whatever their step or number of tasks."""
    if whole_job and environ.get("SLURM_JOB_ID"):
        return f"slurm-{environ['SLURM_JOB_ID']}-job"
    if "LOCAL_RANK" in environ or "TORCHELASTIC_RUN_ID" in environ:
        run = environ.get("TORCHELASTIC_RUN_ID") or environ.get("MASTER_PORT", "")
        return f"torch-{run}-{os.getppid()}"
    tasks = environ.get("SLURM_STEP_NUM_TASKS") or environ.get("SLURM_NTASKS") or "1"
    if "SLURM_LOCALID" in environ and tasks.isdigit() and int(tasks) > 1:
        return f"slurm-{environ.get('SLURM_JOB_ID', '')}-{environ.get('SLURM_STEP_ID', '')}"
    return None


def claim(
    environ: Mapping[str, str] | None = None,
    lock_dir: str | None = None,
    whole_job: bool = False,
) -> Single | Leader | Follower:
    """Decide whether this process measures the node (``whole_job``: see :func:`job_key`)."""
    environ = os.environ if environ is None else environ
    key = job_key(environ, whole_job)
    if key is None:
        return Single()
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", key)
    # TMPDIR, not tempfile.gettempdir(): the tempfile module costs milliseconds to import.
    folder = lock_dir or os.environ.get("TMPDIR") or "/tmp"
    path = os.path.join(folder, f"impactlib-{os.getuid()}-{safe}.lock")
    ranks_path = path.removesuffix(".lock") + ".ranks"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        leader = _read_pid(fd)
        os.close(fd)
        return Follower(key, leader, _working(ranks_path))
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return Leader(key, os.getppid(), fd, ranks_path)


def _working(ranks_path: str) -> int | None:
    """A follower's shared lock, held while it works (None where it cannot be taken: a
    leader already waiting at its end, or an unwritable folder)."""
    try:
        fd = os.open(ranks_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def measured_scope(role: RankRole, scope: Scope) -> Scope:
    """The scope a rank measures: a node leader measures the tree of its parent, which holds
    every local rank; any other rank (and any scope but a tree) is measured as chosen."""
    if isinstance(role, Leader) and isinstance(scope, TreeScope):
        return replace(scope, pid=role.scope_pid)  # what the job holds stays
    return scope
