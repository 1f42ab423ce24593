"""A run measured through the CLI on a fake RAPL package and DRAM drawing known power."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NamedTuple

from clihelp import cli
from powercap import FakePowercap

from impactlib.store import RunRecord, open_store

PRINT_ID_AND_SLEEP = "import os, time; print(os.environ['IMPACTLIB_RUN_ID']); time.sleep({s})"


class MeasuredRun(NamedTuple):
    """The stored record, and the watts its fake package and DRAM drew throughout."""

    record: RunRecord
    package_w: float
    dram_w: float


def rapl_run(
    tmp_path: Path, package_w: float = 40.0, dram_w: float = 5.0, seconds: float = 1.5
) -> MeasuredRun:
    """``impactlib run`` around a sleep while the fake counters advance at constant power,
    priced in France from the static table; the record as stored."""
    fake = FakePowercap(tmp_path / "rapl")
    fake.add_package(0, dram=True)
    env = {
        "IMPACTLIB_POWERCAP_ROOT": str(fake.root),
        "IMPACTLIB_COUNTRY": "FR",
        "IMPACTLIB_INTENSITY_SOURCE": "static",
        "IMPACTLIB_INTERVAL": "0.05",
        "IMPACTLIB_PROJECT": "vision",
        "IMPACTLIB_EXPERIMENT": "e1",
    }
    code = PRINT_ID_AND_SLEEP.format(s=seconds)
    with fake.drive("cpu:package-0", package_w), fake.drive("dram:package-0", dram_w):
        result = cli("run", "--", sys.executable, "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    record = open_store(os.environ["IMPACTLIB_STORE"]).get_run(result.stdout.split()[0])
    assert record is not None and record.footprint is not None
    return MeasuredRun(record, package_w, dram_w)
