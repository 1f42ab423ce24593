"""Ranks of one job on one node: the leader's last sample waits for the other ranks."""

from __future__ import annotations

from pathlib import Path

from impactlib.attribution.ranks import Follower, Leader, claim

_RANKS = {"LOCAL_RANK": "0", "TORCHELASTIC_RUN_ID": "job7"}


def _pair(tmp_path: Path) -> tuple[Leader, Follower]:
    leader = claim(_RANKS, str(tmp_path))
    follower = claim(_RANKS, str(tmp_path))
    assert isinstance(leader, Leader) and isinstance(follower, Follower)
    return leader, follower


def test_a_leader_waits_for_a_working_follower_and_says_when_it_gave_up(tmp_path: Path) -> None:
    leader, follower = _pair(tmp_path)
    warnings: list[str] = []
    leader.settle(warnings, "completed", limit_s=0.3)
    assert len(warnings) == 1 and "other ranks were still running 0.3 s" in warnings[0]
    follower.release()
    warnings.clear()
    leader.settle(warnings, "completed", limit_s=0.3)
    assert warnings == []
    leader.release()


def test_a_cancelled_leader_does_not_wait(tmp_path: Path) -> None:
    """SLURM is killing the job: its record has milliseconds to be written."""
    leader, follower = _pair(tmp_path)
    warnings: list[str] = []
    leader.settle(warnings, "cancelled", limit_s=5.0)
    assert warnings == []
    follower.release()
    leader.release()
