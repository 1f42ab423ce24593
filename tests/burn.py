"""Real CPU-burning child processes for attribution tests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from impactlib.config import Config
from impactlib.footprint import Footprint
from impactlib.tracker import Tracker

BURN = textwrap.dedent(
    """
    import sys, time
    end = time.monotonic() + float(sys.argv[1])
    x = 0
    while time.monotonic() < end:
        x += 1
    """
)

CPU_BURN = textwrap.dedent(
    """
    import sys, time
    end = time.process_time() + float(sys.argv[1])  # CPU time: the same however busy
    while time.process_time() < end:
        pass
    """
)

SPAWN_SHORT_LIVED = textwrap.dedent(
    """
    import subprocess, sys, time
    # children that burn CPU and exit between two samples
    for _ in range(int(sys.argv[2])):
        subprocess.run([sys.executable, "-c", sys.argv[3], sys.argv[1]], check=True)
    time.sleep(1.0)  # stay alive so a last sample sees the reaped time
    """
)


def burn(seconds: float) -> subprocess.Popen[bytes]:
    """A child that keeps one CPU busy for ``seconds``."""
    return subprocess.Popen([sys.executable, "-c", BURN, str(seconds)])


def burn_in_children(seconds_each: float, count: int) -> subprocess.Popen[bytes]:
    """A parent that runs ``count`` short-lived burning children one after another."""
    return subprocess.Popen(
        [sys.executable, "-c", SPAWN_SHORT_LIVED, str(seconds_each), str(count), BURN]
    )


def track_child(config: Config, args: list[str]) -> tuple[Footprint, float]:
    """Run ``python -c ARGS`` under a tracker the way ``impactlib run`` does; return the
    footprint and the child's CPU seconds from ``wait4``."""
    tracker = Tracker(config, new_process=True, command="test")
    tracker.start()
    child = subprocess.Popen([sys.executable, "-c", *args])
    tracker.attach(child.pid)
    _, _, usage = os.wait4(child.pid, 0)
    cpu_s = usage.ru_utime + usage.ru_stime
    tracker.account_exit(cpu_s)
    footprint = tracker.stop()
    assert footprint is not None
    return footprint, cpu_s
