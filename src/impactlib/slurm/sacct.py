"""Reading SLURM's accounting with ``sacct``: one :class:`SacctJob` per job, steps folded in.

Two output shapes, because clusters run different SLURM versions:

* ``--json`` (the data_parser plugins of 23.02 and later) when the installed ``sacct`` has
  it: no delimiter to trip on, numbers unconverted, times in epoch seconds;
* ``-P`` with an explicit ``--format`` otherwise. Its traps (research note, sacct(1)) are
  handled here: ``|`` inside a job name (JobName is asked for last, so a line is split
  only as many times as there are other fields), the default window of "since midnight"
  (``-S``/``-E`` are always passed), unit rescaling (``--noconvert``), mixed time formats
  (``ElapsedRaw``; ``TotalCPU`` parsed with its days and milliseconds), ``CANCELLED by
  <uid>``, ``ReqMem`` with the old per-node ``n`` / per-CPU ``c`` suffixes, local times
  without a zone (read as this machine's local time, which is SLURM's).

A job's rows are folded into one: the allocation line gives user, account, partition,
state and allocation; the step lines give CPU time, peak memory, GPU utilisation and
energy. Steps overlap in time (the batch and extern steps span the job), so energy is the
largest value of any line rather than their sum. Anything malformed stops the whole read
with one line naming the line: a half-understood accounting is worse than none.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, NamedTuple

from .._time import iso_utc
from ..errors import ImpactError

FIELDS = (
    "JobID",
    "JobIDRaw",
    "Cluster",
    "User",
    "Account",
    "Partition",
    "NodeList",
    "NNodes",
    "State",
    "Start",
    "End",
    "ElapsedRaw",
    "TotalCPU",
    "NCPUS",
    "ReqMem",
    "MaxRSS",
    "AllocTRES",
    "TRESUsageInTot",
    "ConsumedEnergyRaw",
    "JobName",  # last: a "|" in a job name then stays in the name
)
FINISHED = (
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "OUT_OF_MEMORY",
    "NODE_FAIL",
    "BOOT_FAIL",
    "DEADLINE",
    "PREEMPTED",
)
TIMEOUT_S = 300.0
_JOB_ID = re.compile(r"(\d+(?:_\d+|_\[[^\]]*\])?(?:\+\d+)?)(?:\.([A-Za-z0-9_-]+))?")
_SIZE = re.compile(r"(\d+(?:\.\d+)?)([KMGTP]?)([nc]?)")
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40, "P": 2**50}
# What an sacct without JSON support answers to --json: fall back to -P on these only.
_NO_JSON = ("unrecognized option", "invalid option", "unknown option", "data_parser", "serializer")


class SacctError(ImpactError):
    """``sacct`` is missing, failed, or answered something this reader cannot trust."""


class SacctJob(NamedTuple):
    """One finished or running job, as SLURM's accounting knows it."""

    job_id: str  # "123", "100_7" (array task), "789+1" (heterogeneous component)
    raw_job_id: str  # SLURM_JOB_ID: an array task's own number, what cgroups are named by
    cluster: str
    name: str
    user: str
    account: str | None
    partition: str | None
    nodes: str | None
    node_count: int
    state: str  # the first word: COMPLETED, FAILED, CANCELLED, TIMEOUT, RUNNING...
    start: str | None  # ISO 8601 UTC
    end: str | None
    elapsed_s: float
    cpu_s: float  # TotalCPU of the job and its steps
    alloc_cpus: int
    alloc_memory_bytes: int | None
    alloc_gpus: int
    req_memory_bytes: int | None
    max_rss_bytes: int | None
    energy_j: float | None  # ConsumedEnergyRaw: whole nodes, right for exclusive jobs only
    gpu_util_pct: float | None  # gres/gpuutil: percent summed over the job's GPUs

    @property
    def finished(self) -> bool:
        """Whether the job has ended (only those are ingested)."""
        return self.state in FINISHED


class SacctWindow(NamedTuple):
    """The accounting period asked for (local times, as ``sacct`` reads them)."""

    since: datetime
    until: datetime

    def args(self) -> list[str]:
        """``-S``/``-E``, always both: without them sacct starts at midnight today."""
        fmt = "%Y-%m-%dT%H:%M:%S"
        return ["-S", self.since.strftime(fmt), "-E", self.until.strftime(fmt)]


class SacctRead(NamedTuple):
    """What ``sacct`` answered, and in which shape."""

    jobs: list[SacctJob]
    shape: str  # "json" or "parsable"


# -- running sacct -------------------------------------------------------------------------


def _run(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            list(args), capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )
    except FileNotFoundError as exc:
        raise SacctError(
            "sacct was not found on PATH; run on a login node of the cluster, or add the "
            "directory of SLURM's client commands to PATH"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise SacctError(
            f"sacct did not answer within {TIMEOUT_S:.0f} s; ask for a shorter period with "
            "--since/--until, or check slurmdbd"
        ) from exc
    except OSError as exc:
        raise SacctError(f"sacct could not be started ({exc.strerror})") from exc


def _failure(result: subprocess.CompletedProcess[str]) -> SacctError:
    lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
    said = lines[0] if lines else "no message"
    return SacctError(
        f"sacct failed (exit {result.returncode}: {said}); check that slurmdbd answers "
        "(`sacctmgr show cluster`) and that accounting is readable to you"
    )


def read_sacct(window: SacctWindow, shape: str = "auto") -> SacctRead:
    """Run ``sacct`` for every user's jobs in ``window`` (root or an operator sees all;
    others see their own) and parse them. ``shape``: ``json``, ``parsable`` or ``auto``
    (JSON, falling back to ``-P`` where this SLURM has no JSON output)."""
    base = ["sacct", "--allusers", *window.args()]
    if shape in ("json", "auto"):
        result = _run([*base, "--json"])
        if result.returncode == 0:
            return SacctRead(parse_json(result.stdout), "json")
        unsupported = any(hint in result.stderr.lower() for hint in _NO_JSON)
        if shape == "json" or not unsupported:
            raise _failure(result)
    args = [*base, "--parsable2", "--noconvert", "--format=" + ",".join(FIELDS)]
    result = _run(args)
    if result.returncode != 0:
        raise _failure(result)
    return SacctRead(parse_parsable(result.stdout), "parsable")


# -- shared parsing helpers ----------------------------------------------------------------


def _malformed(where: str, why: str) -> SacctError:
    return SacctError(
        f"sacct output {where} is malformed ({why}); nothing was ingested. Check the "
        "installed sacct with `sacct --version`, or choose the other shape with --sacct"
    )


def parse_size(text: str, default_unit: str, cpus: int = 1, nodes: int = 1) -> int | None:
    """Bytes of a size such as ``4000M``, ``1257496K``, ``64G``; a bare number is in
    ``default_unit``; an old ``ReqMem`` suffix ``n`` (per node) or ``c`` (per CPU)
    multiplies accordingly. Empty: None."""
    text = text.strip()
    if not text:
        return None
    match = _SIZE.fullmatch(text)
    if match is None:
        raise ValueError(f"not a size: {text!r}")
    number, unit, per = match.groups()
    value = float(number) * _UNITS[unit or default_unit]
    value *= cpus if per == "c" else nodes if per == "n" else 1
    return int(value)


def parse_duration(text: str) -> float:
    """Seconds of ``[D-][HH:]MM:SS[.mmm]`` (TotalCPU's format); empty: 0."""
    text = text.strip()
    if not text:
        return 0.0
    days, _, clock = text.rpartition("-")
    parts = clock.split(":")
    if not 1 <= len(parts) <= 3:
        raise ValueError(f"not a duration: {text!r}")
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + float(part)
    return seconds + (int(days) * 86400 if days else 0)


def parse_tres(text: str) -> dict[str, str]:
    """``cpu=8,mem=64G,gres/gpu=2`` as a dict (empty text: empty dict)."""
    out: dict[str, str] = {}
    for item in text.split(","):
        key, eq, value = item.partition("=")
        if item and not eq:
            raise ValueError(f"not a TRES list: {text!r}")
        if item:
            out[key.strip()] = value.strip()
    return out


def _gpu_count(counts: Mapping[str, float]) -> int:
    """GPUs from TRES names: ``gres/gpu`` or, where only typed ones are listed, their sum."""
    if "gres/gpu" in counts:
        return int(counts["gres/gpu"])
    return int(sum(v for k, v in counts.items() if k.startswith("gres/gpu:")))


def _local_iso(text: str) -> str | None:
    """sacct's local time without zone (or Unknown/None) as ISO UTC."""
    text = text.strip()
    if not text or text in ("Unknown", "None"):
        return None
    return iso_utc(datetime.fromisoformat(text).astimezone(timezone.utc))


def _epoch_iso(value: Any) -> str | None:
    seconds = _number(value)
    return iso_utc(datetime.fromtimestamp(seconds, timezone.utc)) if seconds else None


def _number(value: Any) -> float:
    """A JSON number, or the ``{"set": true, "number": N}`` wrapper newer SLURM uses."""
    if isinstance(value, Mapping):
        if not value.get("set", True) or value.get("infinite"):
            return 0.0
        value = value.get("number", 0)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)


# -- -P --------------------------------------------------------------------------------------


class _Row(NamedTuple):
    number: int  # line number in the output, for messages
    job: str  # the job part of JobID
    step: str | None
    values: dict[str, str]


def _rows(text: str) -> list[_Row]:
    lines = text.splitlines()
    if not lines or lines[0].strip().lower() != "|".join(FIELDS).lower():
        first = lines[0][:60] if lines else "nothing"
        raise _malformed("line 1", f"expected the header {'|'.join(FIELDS[:3])}|..., got {first!r}")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        values = line.split("|", len(FIELDS) - 1)
        if len(values) != len(FIELDS):
            raise _malformed(f"line {number}", f"{len(values)} fields instead of {len(FIELDS)}")
        match = _JOB_ID.fullmatch(values[0])
        if match is None:
            raise _malformed(f"line {number}", f"JobID {values[0]!r}")
        rows.append(
            _Row(number, match.group(1), match.group(2), dict(zip(FIELDS, values, strict=True)))
        )
    return rows


def parse_parsable(text: str) -> list[SacctJob]:
    """Jobs of ``sacct -P --format=<FIELDS>`` output (with its header line)."""
    by_job: dict[str, list[_Row]] = {}
    for row in _rows(text):
        by_job.setdefault(row.job, []).append(row)
    jobs = []
    for job_id, rows in by_job.items():
        main = [r for r in rows if r.step is None]
        if not main:
            raise _malformed(
                f"line {rows[0].number}", f"steps of job {job_id} without its job line"
            )
        try:
            jobs.append(_fold(job_id, main[0], [r for r in rows if r.step is not None]))
        except ValueError as exc:
            raise _malformed(f"line {main[0].number}", str(exc)) from exc
    return jobs


def _fold(job_id: str, main: _Row, steps: list[_Row]) -> SacctJob:
    v = main.values
    nodes = int(v["NNodes"] or 0)
    cpus = int(v["NCPUS"] or 0)
    elapsed = v["ElapsedRaw"]
    if not elapsed.isdigit():
        raise ValueError(f"ElapsedRaw {elapsed!r}")
    alloc = parse_tres(v["AllocTRES"])
    every = [main, *steps]
    rss = [parse_size(r.values["MaxRSS"], "") for r in every]
    # 0 is what SLURM prints without an energy plugin: no reading, not zero joules
    raw_energy = (r.values["ConsumedEnergyRaw"] for r in every)
    energy = [e for e in (float(text) for text in raw_energy if text) if e > 0]
    usage = [parse_tres(r.values["TRESUsageInTot"]) for r in every]
    gpu_util = [float(u["gres/gpuutil"]) for u in usage if "gres/gpuutil" in u]
    return SacctJob(
        job_id=job_id,
        raw_job_id=v["JobIDRaw"],
        cluster=v["Cluster"],
        name=v["JobName"],
        user=v["User"],
        account=v["Account"] or None,
        partition=v["Partition"] or None,
        nodes=v["NodeList"] or None,
        node_count=nodes,
        state=(v["State"].split() or ["UNKNOWN"])[0].upper(),
        start=_local_iso(v["Start"]),
        end=_local_iso(v["End"]),
        elapsed_s=float(elapsed),
        cpu_s=max(
            parse_duration(v["TotalCPU"]), sum(parse_duration(r.values["TotalCPU"]) for r in steps)
        ),
        alloc_cpus=cpus,
        alloc_memory_bytes=parse_size(alloc["mem"], "M") if "mem" in alloc else None,
        alloc_gpus=_gpu_count(
            {k: float(val) for k, val in alloc.items() if k.startswith("gres/gpu")}
        ),
        req_memory_bytes=parse_size(v["ReqMem"], "M", cpus, nodes),
        max_rss_bytes=max((r for r in rss if r is not None), default=None),
        energy_j=max(energy) if energy else None,
        gpu_util_pct=max(gpu_util) if gpu_util else None,
    )


# -- JSON ------------------------------------------------------------------------------------


def _tres_counts(items: Any) -> dict[str, float]:
    """A JSON TRES list (``[{"type": "gres", "name": "gpu", "count": 2}, ...]``) by name."""
    out: dict[str, float] = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, Mapping):
            kind, name = str(item.get("type", "")), str(item.get("name") or "")
            out[f"{kind}/{name}" if name else kind] = _number(item.get("count"))
    return out


def _json_job_id(job: Mapping[str, Any]) -> str:
    array = job.get("array") or {}
    array_job = int(_number(array.get("job_id")))
    task = array.get("task_id")
    if array_job and (isinstance(task, Mapping) and task.get("set") or isinstance(task, int)):
        return f"{array_job}_{int(_number(task))}"
    return str(int(_number(job.get("job_id"))))


def _json_state(job: Mapping[str, Any]) -> str:
    state = job.get("state")
    if isinstance(state, Mapping):
        state = state.get("current")
    if isinstance(state, list):
        state = state[0] if state else ""
    return (str(state or "UNKNOWN").split() or ["UNKNOWN"])[0].upper()


def _cpu_seconds(time: Any) -> float:
    total = time.get("total", {}) if isinstance(time, Mapping) else {}
    return _number(total.get("seconds")) + _number(total.get("microseconds")) / 1e6


def _requested_memory(job: Mapping[str, Any], cpus: int, nodes: int) -> int | None:
    required = job.get("required") or {}
    per_node = _number(required.get("memory_per_node"))
    per_cpu = _number(required.get("memory_per_cpu"))
    mb = per_node * max(nodes, 1) if per_node else per_cpu * max(cpus, 1)
    return int(mb * 2**20) if mb else None


def _json_job(job: Mapping[str, Any]) -> SacctJob:
    tres = job.get("tres") or {}
    alloc = _tres_counts(tres.get("allocated"))
    nodes = int(_number(job.get("allocation_nodes")) or alloc.get("node", 0))
    cpus = int(alloc.get("cpu", 0) or _number((job.get("required") or {}).get("CPUs")))
    time = job.get("time") or {}
    steps = [s for s in job.get("steps") or [] if isinstance(s, Mapping)]
    step_rss, step_energy, step_util = [], [], []
    for step in steps:
        usage = (step.get("tres") or {}).get("requested") or {}
        peak, total = _tres_counts(usage.get("max")), _tres_counts(usage.get("total"))
        if peak.get("mem"):
            step_rss.append(int(peak["mem"]))
        energy = (step.get("statistics") or {}).get("energy") or {}
        joules = _number(energy.get("consumed")) or total.get("energy", 0.0)
        if joules:
            step_energy.append(joules)
        if "gres/gpuutil" in total:
            step_util.append(total["gres/gpuutil"])
    return SacctJob(
        job_id=_json_job_id(job),
        raw_job_id=str(int(_number(job.get("job_id")))),
        cluster=str(job.get("cluster") or ""),
        name=str(job.get("name") or ""),
        user=str(job.get("user") or ""),
        account=job.get("account") or None,
        partition=job.get("partition") or None,
        nodes=job.get("nodes") or None,
        node_count=nodes,
        state=_json_state(job),
        start=_epoch_iso(time.get("start")),
        end=_epoch_iso(time.get("end")),
        elapsed_s=_number(time.get("elapsed")),
        cpu_s=max(_cpu_seconds(time), sum(_cpu_seconds(s.get("time")) for s in steps)),
        alloc_cpus=cpus,
        alloc_memory_bytes=int(alloc["mem"] * 2**20) if alloc.get("mem") else None,
        alloc_gpus=_gpu_count(alloc),
        req_memory_bytes=_requested_memory(job, cpus, nodes),
        max_rss_bytes=max(step_rss) if step_rss else None,
        energy_j=max(step_energy) if step_energy else None,
        gpu_util_pct=max(step_util) if step_util else None,
    )


def parse_json(text: str) -> list[SacctJob]:
    """Jobs of ``sacct --json`` output."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _malformed(f"line {exc.lineno}", f"not JSON: {exc.msg}") from None
    jobs = data.get("jobs") if isinstance(data, Mapping) else None
    if not isinstance(jobs, list):
        raise _malformed("as a whole", "no list of jobs")
    out = []
    for index, job in enumerate(jobs):
        if not isinstance(job, Mapping) or "job_id" not in job:
            raise _malformed(f"job #{index + 1}", "not a job object with a job_id")
        out.append(_json_job(job))
    return _merge(out)


def _merge(jobs: Iterable[SacctJob]) -> list[SacctJob]:
    """One job per id: sacct may list a requeued job once per run; the latest run wins."""
    by_id: dict[str, SacctJob] = {}
    for job in jobs:
        by_id[job.job_id] = job
    return list(by_id.values())
