"""A run of this process tracked on fake GPUs (:mod:`fakes.pynvml`) whose clock follows real
time while it runs: what the GPU attribution tests through the tracker share."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fakes.pynvml import FakeNvml

import impactlib


@contextmanager
def running(
    nvml: FakeNvml, *, busy_after_s: float = 0.0, busy_w: float | None = None
) -> Iterator[None]:
    """Let the fake GPU clock follow real time while the block runs; given ``busy_w``, the
    first GPU's power rises to it after ``busy_after_s`` (so the floor a tracker observes is
    the idle power before)."""
    stop = threading.Event()
    start = time.monotonic()

    def loop() -> None:
        while not stop.wait(0.02):
            if busy_w is not None and time.monotonic() - start >= busy_after_s:
                nvml.gpus[0].power_w = busy_w
            nvml.advance(0.02)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def tracked_on(
    nvml: FakeNvml,
    tmp_path: Path,
    seconds: float,
    *,
    busy_after_s: float = 0.0,
    busy_w: float | None = None,
) -> impactlib.Footprint:
    """The footprint of ``seconds`` of this process, tracked (no RAPL: ``tmp_path`` for its
    powercap tree) while ``nvml`` is :func:`running`; ``nvml`` must already stand for
    ``pynvml``."""
    with (
        running(nvml, busy_after_s=busy_after_s, busy_w=busy_w),
        impactlib.track(powercap_root=str(tmp_path), country="FR", interval=0.1) as t,
    ):
        time.sleep(seconds)
    assert t.footprint is not None
    return t.footprint
