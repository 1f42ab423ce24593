"""Where a tracker's CPU time goes, phase by phase, as the sampler thread really runs them.

Usage: ``python bench/checkpoint_cost.py [--seconds T] [--interval S]``.

``bench/overhead.py`` gives the total CPU per tracked minute; this script splits it. It
starts one tracker (``IMPACTLIB_COUNTRY=FR``, static intensity, a fresh SQLite store),
lets it run ``T`` seconds and times each phase with the calling thread's CPU clock
(``time.thread_time_ns``), wrapping the phases in place: the tick's capture, and the
checkpoint (``Tracker.collect``) with its parts: taking and decoding the ticks, accounting
them, the per-minute series, the footprint, and the store write (its SQL transaction apart).
Only the tracked window counts: what ``start()`` and ``stop()`` cost is ``overhead.py``'s
lifecycle figure.
Phases run cold, between sleeps, as in a real run; that is the point (the same code timed in a
tight loop is 5 to 10 times cheaper). The wrappers add a little to every figure.
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

_PHASES: dict[str, list[int]] = {}


def _timed(owner: Any, name: str, label: str) -> None:
    """Replace ``owner.name`` by a wrapper adding each call's thread CPU time to ``label``."""
    original: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.thread_time_ns()
        try:
            return original(*args, **kwargs)
        finally:
            _PHASES[label].append(time.thread_time_ns() - t0)

    _PHASES[label] = []  # the table lists phases in this order
    setattr(owner, name, wrapper)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=61.0, help="tracked time (default 61)")
    ap.add_argument("--interval", type=float, default=1.0, help="sampling interval (default 1)")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp()
    os.environ.update(
        IMPACTLIB_STORE=os.path.join(tmp, "runs.db"),
        IMPACTLIB_COUNTRY="FR",
        IMPACTLIB_INTENSITY_SOURCE="static",
    )
    import impactlib
    from impactlib import footprint, sampling, tracker
    from impactlib.attribution import window
    from impactlib.store import base, keeper, sqlite

    _timed(sampling.Sampler, "_capture", "tick: capture")
    _timed(tracker.Tracker, "collect", "checkpoint (all)")
    _timed(sampling.Sampler, "take", "  take + decode ticks")
    _timed(window.Window, "account", "  account ticks")
    _timed(keeper.RunKeeper, "series", "  per-minute series")
    _timed(tracker.Tracker, "_build_footprint", "  footprint")
    _timed(footprint.Footprint, "to_dict", "    footprint.to_dict")
    _timed(base.Store, "checkpoint", "  store write")
    _timed(sqlite, "_transaction", "    SQL transaction")

    run = impactlib.init(interval=a.interval)
    run.start()
    for calls in _PHASES.values():
        calls.clear()
    time.sleep(a.seconds)
    phases = {k: list(v) for k, v in _PHASES.items()}  # before stop() adds its own calls
    run.stop()
    per_min = 60.0 / a.seconds
    print(f"{a.seconds:g} s tracked at {a.interval:g} s; thread CPU per phase (cold)")
    print(f"{'phase':26} {'calls':>5} {'median ms':>10} {'max ms':>8} {'ms per min':>11}")
    for label, ns in phases.items():
        if not ns:
            continue
        ms = sorted(x / 1e6 for x in ns)
        median = ms[len(ms) // 2]
        print(f"{label:26} {len(ms):5d} {median:10.3f} {ms[-1]:8.3f} {sum(ms) * per_min:11.2f}")


if __name__ == "__main__":
    main()
