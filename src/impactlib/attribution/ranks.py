"""Multi-rank jobs: one measurement per node, never one per rank.

Under ``torchrun`` or ``srun --ntasks-per-node=N`` every rank runs the same script, so a
naive tracker measures the node N times. Ranks of one job on one node race for a lock file
named after the job; the winner (the node leader) measures the tree of its parent (the
torchrun agent or slurmstepd), which holds every local rank; the others record nothing.
The lock is an ``flock``, released by the kernel even if the leader is killed.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass
class RankRole:
    """This process's role in a multi-rank job."""

    leader: bool
    job_key: str | None
    scope_pid: int | None  # whose tree the leader measures
    _fd: int | None = None

    def release(self) -> None:
        """Drop the node lock."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def job_key(environ: Mapping[str, str]) -> str | None:
    """An identifier shared by the ranks of one job step, or None for a single process."""
    if "LOCAL_RANK" in environ or "TORCHELASTIC_RUN_ID" in environ:
        run = environ.get("TORCHELASTIC_RUN_ID") or environ.get("MASTER_PORT", "")
        return f"torch-{run}-{os.getppid()}"
    tasks = environ.get("SLURM_STEP_NUM_TASKS") or environ.get("SLURM_NTASKS") or "1"
    if "SLURM_LOCALID" in environ and tasks.isdigit() and int(tasks) > 1:
        return f"slurm-{environ.get('SLURM_JOB_ID', '')}-{environ.get('SLURM_STEP_ID', '')}"
    return None


def claim(environ: Mapping[str, str] | None = None, lock_dir: str | None = None) -> RankRole:
    """Decide whether this process measures the node (always True outside multi-rank jobs)."""
    environ = os.environ if environ is None else environ
    key = job_key(environ)
    if key is None:
        return RankRole(leader=True, job_key=None, scope_pid=None)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", key)
    # TMPDIR, not tempfile.gettempdir(): the tempfile module costs milliseconds to import.
    folder = lock_dir or os.environ.get("TMPDIR") or "/tmp"
    path = os.path.join(folder, f"impactlib-{os.getuid()}-{safe}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return RankRole(leader=False, job_key=key, scope_pid=None)
    return RankRole(leader=True, job_key=key, scope_pid=os.getppid(), _fd=fd)
