"""Every example of docs/slurm.md, run: the commands against the fake ``sacct``, the
partitions block as ``impactlib.toml`` and as a ``--slurm-partitions`` file, the daily
ingestion as its systemd unit (expanded from the environment file the page writes) and as
its crontab line. A block no test here knows fails the test: a new example comes with a way
to run it. (The section "Cancellation and time limits" runs its own examples in its tests.)
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from clihelp import cli
from docblocks import Block, blocks
from fakesacct import FakeSacct, cluster_jobs

from impactlib.store import open_store

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "slurm.md"
DEPLOY = ROOT / "deploy"
OTHERS = ("Cancellation and time limits",)  # sections whose examples other tests run

BLOCKS = [b for b in blocks(DOCS) if b.section not in OTHERS]


def _block(test: Callable[[Block], bool]) -> Block:
    matching = [b for b in BLOCKS if test(b)]
    assert len(matching) == 1, matching
    return matching[0]


PARTITIONS = _block(lambda b: b.language == "toml")
INGEST = _block(lambda b: b.text.startswith("impactlib slurm ingest"))
SYSTEMD = _block(lambda b: "systemctl" in b.text)
CRON = _block(lambda b: re.match(r"([\d*/,-]+ ){5}", b.text) is not None)  # m h dom mon dow
WASTE = _block(lambda b: b.text.startswith("impactlib report"))


def test_every_example_has_its_test() -> None:
    assert sorted(BLOCKS) == sorted([PARTITIONS, INGEST, SYSTEMD, CRON, WASTE])


@pytest.fixture
def fake(tmp_path: Path) -> FakeSacct:
    fake = FakeSacct(tmp_path)
    fake.answer(cluster_jobs())
    return fake


def _run(command: str, fake: FakeSacct, env: dict[str, str] | None = None) -> str:
    """One ``impactlib ...`` line of the page (a ``#`` comment dropped), through the CLI."""
    words = shlex.split(command, comments=True)
    assert words[0] == "impactlib", command
    base = {"PATH": fake.path, "TZ": "UTC", "IMPACTLIB_COUNTRY": "FR"}
    done = cli(*words[1:], env={**base, **(env or {})})
    assert done.returncode == 0, f"{command}: {done.stderr}"
    return done.stderr


def _labels(store: str) -> dict[str, str]:
    runs = open_store(store).list_runs()
    return {r.config["slurm"]["job_id"]: r.config["slurm"]["label"] for r in runs}


def test_the_ingest_and_waste_examples(fake: FakeSacct) -> None:
    _run(INGEST.text, fake)
    assert len(_labels(os.environ["IMPACTLIB_STORE"])) == 6  # the finished jobs
    _run(WASTE.text, fake)


@pytest.mark.parametrize("form", ["impactlib.toml", "--slurm-partitions"])
def test_the_partitions_example(fake: FakeSacct, tmp_path: Path, form: str) -> None:
    """The page's block, as it stands, in either place: the package-only CPU row is
    estimated per core from its Green Algorithms row, said once; "big" is exclusive."""
    tables = tomllib.loads(PARTITIONS.text)
    assert set(tables) == {"slurm_partitions"}
    args = ""
    if form == "impactlib.toml":
        Path("impactlib.toml").write_text(PARTITIONS.text)
    else:
        (tmp_path / "partitions.toml").write_text(PARTITIONS.text)
        args = f" --slurm-partitions {tmp_path / 'partitions.toml'}"
    said = _run(INGEST.text + args, fake)
    assert said.count("partition gpu: CPU 'Intel Xeon Gold 6148'") == 1, said
    labels = _labels(os.environ["IMPACTLIB_STORE"])
    assert labels["1004"] == "slurm-exclusive"
    runs = open_store(os.environ["IMPACTLIB_STORE"]).list_runs()
    (record,) = [r for r in runs if r.config["slurm"]["job_id"] == "1001"]
    assert record.footprint is not None
    (cpu,) = [c for c in record.footprint.components if c.component == "cpu"]
    assert "Xeon Gold 6148" in cpu.note and "7.5 W" in cpu.note


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / name).read_text())
    return parser


def test_the_systemd_example_installs_a_daily_ingest(fake: FakeSacct, tmp_path: Path) -> None:
    """The units the page copies exist; the environment file it writes, with a local store
    and the page's partitions file standing in for the lab's, makes the unit's command
    ingest the jobs, twice the same as once."""
    copied = re.search(r"cp (.+) /etc/systemd/system/", SYSTEMD.text)
    assert copied is not None
    names = [Path(p).name for p in copied.group(1).split()]
    assert all((DEPLOY / name).is_file() for name in names)
    assert f"enable --now {names[1]}" in SYSTEMD.text
    timer = _unit("impactlib-ingest.timer")["Timer"]
    assert timer["OnCalendar"] == "*-*-* 02:30" and timer["Persistent"] == "true"
    heredoc = re.search(r"tee (\S+) <<'END'\n(.*?)\nEND", SYSTEMD.text, re.DOTALL)
    assert heredoc is not None
    service = _unit("impactlib-ingest.service")["Service"]
    assert service["EnvironmentFile"] == "%E/impactlib/" + Path(heredoc.group(1)).name
    env = dict(line.split("=", 1) for line in heredoc.group(2).splitlines())
    assert env["IMPACTLIB_STORE"].startswith("postgresql://")  # the lab's; a file here
    env["IMPACTLIB_STORE"] = str(tmp_path / "lab.db")
    env["IMPACTLIB_SLURM_PARTITIONS"] = str(tmp_path / "partitions.toml")
    (tmp_path / "partitions.toml").write_text(PARTITIONS.text)
    command = service["ExecStart"].removeprefix("/opt/impactlib/bin/")
    for _ in range(2):
        _run(command, fake, env)
    assert len(_labels(env["IMPACTLIB_STORE"])) == 6


def test_the_crontab_example(fake: FakeSacct, tmp_path: Path) -> None:
    minute, hour = CRON.text.split()[:2]
    assert (minute, hour) == ("30", "2")
    words = CRON.text.split()[5:]
    env = dict(w.split("=", 1) for w in words if "=" in w and not w.startswith("-"))
    env["IMPACTLIB_STORE"] = str(tmp_path / "lab.db")  # the page's /srv/impactlib/lab.db
    command = " ".join(w for w in words if "=" not in w)
    _run(command, fake, env)
    assert len(_labels(env["IMPACTLIB_STORE"])) == 6
