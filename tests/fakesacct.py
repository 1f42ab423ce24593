"""A fake ``sacct`` (and ``scontrol``) on ``PATH`` answering in the output shapes of SLURM.

Two sources of answers. :func:`recorded` gives the recorded outputs of 22.05 to 25.05 in
``tests/data/sacct/<version>/`` (``sacct.json`` and ``sacct.txt``, the same ten jobs in each
version's shape; ``scontrol-*.txt`` beside them: DefMemPerCPU=1000). :class:`Job` writes
jobs of a test's own in the 24.05 shapes: ``--json`` as data_parser v0.0.41 prints it
(``{"set", "number"}`` wrappers, TRES lists, steps with ``tres.requested`` usage and
``statistics.energy``), and ``-P --format=...`` as sacct prints it (a header line, ``|``
between fields and none at the end, one line per job and per step, empty user on step
lines, local times without a zone). The fake checks it was asked for an explicit window
and records every call; the fake ``scontrol`` answers ``show config`` and ``show
partition`` where a test gave it answers, and fails otherwise.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

from impactlib.slurm.sacct import FIELDS

RECORDED = Path(__file__).parent / "data" / "sacct"
VERSIONS = ("22.05", "23.02", "23.11", "24.05", "24.11", "25.05")

SCRIPT = """#!{python}
import json, os, sys
folder = {folder!r}
args = sys.argv[1:]
with open(os.path.join(folder, "calls.jsonl"), "a") as fh:
    fh.write(json.dumps(args) + "\\n")
if os.path.exists(os.path.join(folder, "fail")):
    sys.stderr.write(open(os.path.join(folder, "fail")).read())
    sys.exit(1)
if "-S" not in args or "-E" not in args:
    sys.stderr.write("fake sacct: always pass -S and -E\\n")
    sys.exit(3)
name = "json.out" if "--json" in args else "parsable.out"
path = os.path.join(folder, name)
if not os.path.exists(path):
    sys.stderr.write("sacct: unrecognized option '--json'\\n")
    sys.exit(1)
sys.stdout.write(open(path).read())
"""
SCONTROL = """#!{python}
import os, sys
folder = {folder!r}
args = [a for a in sys.argv[1:] if a not in ("--oneliner", "-o")]
name = {{("show", "config"): "config.out", ("show", "partition"): "partition.out"}}.get(tuple(args))
path = os.path.join(folder, "scontrol-" + str(name))
if name is None or not os.path.exists(path):
    sys.stderr.write("slurm_load_ctl_conf error: Unable to contact slurm controller\\n")
    sys.exit(1)
sys.stdout.write(open(path).read())
"""


class Recorded(NamedTuple):
    """One SLURM version's recorded outputs."""

    version: str
    json_text: str
    parsable_text: str


def recorded(version: str) -> Recorded:
    """The recorded ``sacct --json`` and ``sacct -P`` outputs of a SLURM version."""
    folder = RECORDED / version
    return Recorded(
        version, (folder / "sacct.json").read_text(), (folder / "sacct.txt").read_text()
    )


def recorded_scontrol() -> tuple[str, str]:
    """The recorded ``scontrol show config`` and ``show partition --oneliner`` outputs."""
    return (
        (RECORDED / "scontrol-config.txt").read_text(),
        (RECORDED / "scontrol-partition.txt").read_text(),
    )


@dataclass
class Step:
    """One step: its name (``batch``, ``extern``, ``0``...) and what it used."""

    name: str
    cpu_s: float = 0.0
    max_rss_k: int = 0
    energy_j: int = 0
    gpu_util: int | None = None


@dataclass
class Job:
    """One job as the accounting holds it."""

    job_id: int
    user: str
    partition: str
    state: str = "COMPLETED"
    name: str = "job"
    account: str = "lab"
    cpus: int = 4
    nodes: int = 1
    gpus: int = 0
    req_mem_mb: int = 8000
    start: int = 1_764_496_800  # 2025-11-30T10:00:00Z
    elapsed_s: int = 3600
    array: tuple[int, int] | None = None  # (array job id, task id)
    steps: list[Step] = field(default_factory=list)

    @property
    def shown_id(self) -> str:
        return f"{self.array[0]}_{self.array[1]}" if self.array else str(self.job_id)

    @property
    def cpu_s(self) -> float:
        return sum(s.cpu_s for s in self.steps)


def _clock(seconds: float) -> str:
    """TotalCPU's format: [D-]HH:MM:SS.mmm."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{int(hours):02d}:{int(minutes):02d}:{secs:06.3f}"
    return f"{int(days)}-{text}" if days else text


def _local(epoch: int | None) -> str:
    if epoch is None:
        return "Unknown"
    return datetime.fromtimestamp(epoch, timezone.utc).astimezone().strftime("%Y-%m-%dT%H:%M:%S")


def _alloc_tres(job: Job) -> str:
    items = [f"billing={job.cpus}", f"cpu={job.cpus}"]
    if job.gpus:
        items.append(f"gres/gpu={job.gpus}")
    items += [f"mem={job.req_mem_mb}M", f"node={job.nodes}"]
    return ",".join(items)


def parsable(jobs: list[Job]) -> str:
    """``sacct -P --noconvert --format=<FIELDS>`` output of ``jobs``."""
    lines = ["|".join(FIELDS)]
    for job in jobs:
        running = job.state in ("RUNNING", "PENDING")
        end = None if running else job.start + job.elapsed_s
        start = None if job.state == "PENDING" else job.start
        common = ["hpc"]
        lines.append(
            "|".join(
                [
                    job.shown_id,
                    str(job.job_id),
                    *common,
                    job.user,
                    job.account,
                    job.partition,
                    "None assigned" if job.state == "PENDING" else f"node{job.job_id % 7:02d}",
                    str(job.nodes),
                    job.state,
                    _local(start),
                    _local(end),
                    str(job.elapsed_s),
                    _clock(job.cpu_s),
                    str(job.cpus),
                    str(job.cpus),
                    f"{job.req_mem_mb}M",
                    "",
                    _alloc_tres(job),
                    "",
                    "",
                    job.name,
                ]
            )
        )
        for step in job.steps:
            usage = [f"cpu={_clock(step.cpu_s)}", f"energy={step.energy_j}"]
            if step.gpu_util is not None:
                usage.append(f"gres/gpuutil={step.gpu_util}")
            usage.append(f"mem={step.max_rss_k}K")
            lines.append(
                "|".join(
                    [
                        f"{job.shown_id}.{step.name}",
                        f"{job.job_id}.{step.name}",
                        *common,
                        "",
                        job.account,
                        job.partition,
                        f"node{job.job_id % 7:02d}",
                        str(job.nodes),
                        "COMPLETED" if job.state == "COMPLETED" else job.state.split()[0],
                        _local(start),
                        _local(end),
                        str(job.elapsed_s),
                        _clock(step.cpu_s),
                        str(job.cpus),
                        str(job.cpus),
                        "",
                        f"{step.max_rss_k}K",
                        f"cpu={job.cpus},mem={job.req_mem_mb}M,node={job.nodes}",
                        ",".join(usage),
                        str(step.energy_j),
                        step.name,
                    ]
                )
            )
    return "\n".join(lines) + "\n"


def _number(value: int, is_set: bool = True) -> dict[str, object]:
    return {"set": is_set, "infinite": False, "number": value}


def _tres(items: dict[str, int]) -> list[dict[str, object]]:
    ids = {"cpu": 1, "mem": 2, "energy": 3, "node": 4, "billing": 5}
    out: list[dict[str, object]] = []
    for key, count in items.items():
        kind, _, name = key.partition("/")
        out.append({"type": kind, "name": name, "id": ids.get(kind, 1001), "count": count})
    return out


def _json_job(job: Job) -> dict[str, object]:
    running = job.state in ("RUNNING", "PENDING")
    alloc = {"cpu": job.cpus, "mem": job.req_mem_mb, "node": job.nodes, "billing": job.cpus}
    if job.gpus:
        alloc["gres/gpu"] = job.gpus
    steps = []
    for step in job.steps:
        total = {"cpu": int(step.cpu_s * 1000), "energy": step.energy_j}
        if step.gpu_util is not None:
            total["gres/gpuutil"] = step.gpu_util
        seconds = int(step.cpu_s)
        steps.append(
            {
                "step": {"id": f"{job.job_id}.{step.name}", "name": step.name},
                "state": [job.state.split()[0]],
                "time": {
                    "elapsed": job.elapsed_s,
                    "total": {
                        "seconds": seconds,
                        "microseconds": int((step.cpu_s - seconds) * 1e6),
                    },
                },
                "statistics": {
                    "CPU": {"actual_frequency": 2400000},
                    "energy": {"consumed": _number(step.energy_j)},
                },
                "tres": {
                    "requested": {
                        "max": _tres({"mem": step.max_rss_k * 1024}),
                        "min": _tres({"mem": step.max_rss_k * 1024}),
                        "average": _tres({"mem": step.max_rss_k * 1024}),
                        "total": _tres(total),
                    },
                    "consumed": {"max": [], "min": [], "average": [], "total": []},
                    "allocated": _tres({"cpu": job.cpus, "mem": job.req_mem_mb}),
                },
            }
        )
    cpu = int(job.cpu_s)
    return {
        "account": job.account,
        "allocation_nodes": job.nodes,
        "array": {
            "job_id": job.array[0] if job.array else 0,
            "limits": {"max": {"running": {"tasks": 0}}},
            "task_id": _number(job.array[1] if job.array else 0, job.array is not None),
            "task": "",
        },
        "cluster": "hpc",
        "job_id": job.job_id,
        "name": job.name,
        "nodes": "None assigned" if job.state == "PENDING" else f"node{job.job_id % 7:02d}",
        "partition": job.partition,
        "required": {
            "CPUs": job.cpus,
            "memory_per_cpu": _number(0, False),
            "memory_per_node": _number(job.req_mem_mb),
        },
        "state": {"current": [job.state.split()[0]], "reason": "None"},
        "steps": steps,
        "time": {
            "elapsed": job.elapsed_s,
            "eligible": job.start - 60,
            "end": 0 if running else job.start + job.elapsed_s,
            "start": 0 if job.state == "PENDING" else job.start,
            "submission": job.start - 120,
            "suspended": 0,
            "limit": _number(240),
            "system": {"seconds": 0, "microseconds": 0},
            "total": {"seconds": cpu, "microseconds": int((job.cpu_s - cpu) * 1e6)},
            "user": {"seconds": cpu, "microseconds": 0},
        },
        "tres": {"allocated": _tres(alloc), "requested": _tres(alloc)},
        "user": job.user,
        "group": job.user,
    }


def as_json(jobs: list[Job]) -> str:
    """``sacct --json`` output of ``jobs``."""
    meta = {
        "plugin": {
            "type": "openapi/slurmdbd",
            "name": "Slurm OpenAPI slurmdbd",
            "data_parser": "data_parser/v0.0.41",
            "accounting_storage": "accounting_storage/slurmdbd",
        },
        "client": {"source": "/dev/pts/0", "user": "root", "group": "root"},
        "command": ["sacct", "--json"],
        "slurm": {
            "version": {"major": "24", "micro": "1", "minor": "05"},
            "release": "24.05.1",
            "cluster": "hpc",
        },
    }
    body = {"meta": meta, "jobs": [_json_job(j) for j in jobs], "warnings": [], "errors": []}
    return json.dumps(body, indent=2)


class FakeSacct:
    """An ``sacct`` executable in ``tmp_path/bin`` and what it answers."""

    def __init__(self, tmp_path: Path) -> None:
        self.folder = tmp_path / "sacct"
        self.bin = tmp_path / "bin"
        self.folder.mkdir(parents=True)
        self.bin.mkdir(parents=True, exist_ok=True)
        for name, text in (("sacct", SCRIPT), ("scontrol", SCONTROL)):
            script = self.bin / name
            script.write_text(text.format(python=sys.executable, folder=str(self.folder)))
            script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)

    @property
    def path(self) -> str:
        """A PATH with the fake first."""
        return f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}"

    def answer(self, jobs: list[Job], json_too: bool = True) -> None:
        """Answer ``jobs`` (JSON only if ``json_too``: an older SLURM has no --json)."""
        (self.folder / "parsable.out").write_text(parsable(jobs))
        target = self.folder / "json.out"
        if json_too:
            target.write_text(as_json(jobs))
        elif target.exists():
            target.unlink()

    def answer_text(self, parsable_text: str | None = None, json_text: str | None = None) -> None:
        """Answer raw text (for malformed output)."""
        for name, text in (("parsable.out", parsable_text), ("json.out", json_text)):
            target = self.folder / name
            if text is None:
                target.unlink(missing_ok=True)
            else:
                target.write_text(text)

    def answer_recorded(self, version: str, scontrol: bool = True) -> None:
        """Answer a SLURM version's recorded outputs (``scontrol``'s too if asked)."""
        found = recorded(version)
        self.answer_text(found.parsable_text, found.json_text)
        if scontrol:
            self.scontrol(*recorded_scontrol())

    def scontrol(self, config: str, partitions: str) -> None:
        """Make ``scontrol show config`` and ``show partition`` answer these texts."""
        (self.folder / "scontrol-config.out").write_text(config)
        (self.folder / "scontrol-partition.out").write_text(partitions)

    def fail(self, message: str) -> None:
        """Fail every call with ``message`` on stderr and exit 1."""
        (self.folder / "fail").write_text(message)

    def calls(self) -> list[list[str]]:
        """The arguments of every call so far."""
        log = self.folder / "calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]


def cluster_jobs() -> list[Job]:
    """The acceptance set: a job name with "|", steps, an array, a failed job, an exclusive
    job with ConsumedEnergyRaw, a shared one, a cancelled task, a running and a pending job."""
    gib_k = 2**20  # one GiB in KiB
    return [
        Job(  # shared GPU job with SLURM energy that must not be used; name with "|"
            1001,
            "alice",
            "gpu",
            name="train|v2",
            cpus=8,
            gpus=2,
            req_mem_mb=32768,
            elapsed_s=7200,
            steps=[
                Step("batch", 5.12, 12345, 500_000),
                Step("extern", 0.0, 1000, 500_000),
                Step("0", 35994.88, 20 * gib_k, 480_000, gpu_util=120),
            ],
        ),
        Job(1010, "bob", "cpu", array=(1002, 1), steps=[Step("batch", 3000.0, gib_k)]),
        Job(
            1011,
            "bob",
            "cpu",
            state="CANCELLED by 1001",
            array=(1002, 2),
            elapsed_s=600,
            steps=[Step("batch", 500.0, gib_k)],
        ),
        Job(1003, "carol", "cpu", state="FAILED", steps=[Step("batch", 7200.0, gib_k)]),
        Job(
            1004,
            "dave",
            "big",
            cpus=128,
            req_mem_mb=256000,
            steps=[
                Step("batch", 10.0, gib_k, 3_600_000),
                Step("0", 400000.0, 100 * gib_k, 3_500_000),
            ],
        ),
        Job(1005, "erin", "cpu", steps=[Step("batch", 3600.0, gib_k)]),
        Job(1006, "frank", "cpu", state="RUNNING", steps=[]),
        Job(1007, "gina", "cpu", state="PENDING", elapsed_s=0, steps=[]),
    ]


PARTITIONS = {
    "gpu": {"cpu_w_per_core": 10.0, "gpu_w": 300.0},
    "cpu": {"cpu_w_per_core": 12.0, "cores_per_node": 64},
    "big": {"exclusive": True},
}
