"""The examples of docs/validation.md's sections on checking a host against a reference meter
and on BoAmps reports, run: the wattmeter's CSV as the file the commands read, each command
through the CLI against a stored run of that interval (its shown output must be what the
command prints), the BMC loop with a fake ``ipmitool`` on PATH, the BoAmps exports validated
against the published schemas. A block no test here knows fails the test."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

from boampsschema import assert_valid
from clihelp import cli
from docblocks import blocks
from sample_runs import make_record, save_record

from impactlib.footprint import ComponentEnergy
from impactlib.report.reference import read_series
from impactlib.store import open_store

DOCS = Path(__file__).resolve().parents[2] / "docs" / "validation.md"
SECTIONS = ("Checking a host against a wattmeter or its BMC", "Exporting a BoAmps report")

BLOCKS = [b for b in blocks(DOCS) if b.section in SECTIONS]
SERIES = next(b for b in BLOCKS if b.language == "csv")
LOOP = next(b for b in BLOCKS if b.language == "sh")
SHOWN = next(b for b in BLOCKS if b.language == "text")
VALIDATE = next(b for b in BLOCKS if b.text.startswith("impactlib validate"))
EXPORT = next(b for b in BLOCKS if b.text.startswith("impactlib export"))


def test_every_example_has_its_test() -> None:
    assert sorted(BLOCKS) == sorted([SERIES, LOOP, SHOWN, VALIDATE, EXPORT])


def doc_run() -> None:
    """The page's run: 3f2a9c1e on node1, 10:00 to 10:10 UTC on 2026-12-07, experiment
    sweep; its package and DRAM (machine) and its GPU (a device)."""
    base = make_record("3f2a9c1e")
    assert base.footprint is not None
    parts = (
        ComponentEnergy(
            "cpu:package-0", "cpu", "rapl", "machine", "attributed", 95_400, 80_000, 0, 15_400
        ),
        ComponentEnergy(
            "dram:package-0", "dram", "rapl", "machine", "attributed", 7_800, 6_000, 0, 1_800
        ),
        ComponentEnergy(
            "gpu:GPU-1234", "gpu", "nvml-energy", "device", "measured", 84_600, 84_600, 0, 0
        ),
    )
    fp = replace(
        base.footprint,
        started_at="2026-12-07T10:00:00+00:00",
        ended_at="2026-12-07T10:10:00+00:00",
        duration_s=600.0,
        components=parts,
    )
    record = replace(
        base,
        experiment="sweep",
        started_at=fp.started_at,
        ended_at=fp.ended_at,
        updated_at=fp.ended_at or "",
        footprint=fp,
    )
    save_record(open_store(os.environ["IMPACTLIB_STORE"]), record)


def run_line(line: str) -> str:
    words = shlex.split(line)
    assert words[0] == "impactlib", line
    done = cli(*words[1:])
    assert done.returncode == 0, f"{line}: {done.stderr}"
    return done.stdout


def test_the_validate_example() -> None:
    """Each command as written, in the directory holding the page's wattmeter.csv; the first
    prints exactly the output the page shows, the second stores the factor."""
    doc_run()
    Path("wattmeter.csv").write_text(SERIES.text + "\n", encoding="utf-8")
    compare, save = VALIDATE.text.splitlines()
    assert run_line(compare).rstrip("\n") == SHOWN.text
    assert "saved the host factor of node1" in run_line(save)
    model = Path(os.environ["IMPACTLIB_POWER_MODEL"]).read_text(encoding="utf-8")
    assert '"run_id": "3f2a9c1e"' in model and '"reference": "wattmeter.csv"' in model


def test_the_boamps_examples() -> None:
    doc_run()
    for line in EXPORT.text.splitlines():
        run_line(line)
        target = Path(shlex.split(line)[-1])
        assert_valid(json.loads(target.read_text(encoding="utf-8")))


FAKE_IPMITOOL = """#!/bin/sh
cat <<'EOF'

    Instantaneous power reading:                   212 Watts
    Minimum during sampling period:                 96 Watts
    Maximum during sampling period:                420 Watts
    Average power reading over sample period:      205 Watts
    IPMI timestamp:                           Mon Dec  7 10:00:00 2026
    Sampling period:                          00000001 Seconds.
    Power reading state is:                   activated

EOF
"""


def test_the_bmc_loop_writes_a_series_validate_reads(tmp_path: Path) -> None:
    """The loop, for 2.5 s, with an ``ipmitool`` printing a real DCMI reading's layout."""
    tools = tmp_path / "bin"
    tools.mkdir()
    ipmitool = tools / "ipmitool"
    ipmitool.write_text(FAKE_IPMITOOL)
    ipmitool.chmod(ipmitool.stat().st_mode | stat.S_IXUSR)
    bash = shutil.which("bash")
    assert bash is not None
    env = {**os.environ, "PATH": f"{tools}:{os.environ['PATH']}"}
    done = subprocess.run(
        ["timeout", "2.5", bash, "-c", LOOP.text], env=env, capture_output=True, text=True
    )
    assert done.returncode == 124, done.stderr  # stopped by the timeout, as by Ctrl-C
    series = read_series(Path("bmc.csv"))
    assert len(series.readings) >= 2
    assert {r.watts for r in series.readings} == {212.0}
