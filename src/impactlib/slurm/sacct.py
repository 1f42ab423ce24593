"""Reading SLURM's accounting with ``sacct``: one :class:`SacctJob` per job, steps folded in.

Two output shapes, because clusters run different SLURM versions:

* ``--json`` when the installed ``sacct`` has it. 22.05 prints the openapi/dbv0.0.38 shape
  (plain numbers, ``state.current`` a string, ``required`` = ``{CPUs, memory}``); 23.02 the
  data_parser v0.0.39 one (``{"set", "infinite", "number"}`` wrappers, ``required`` with
  ``memory_per_cpu``/``memory_per_node`` and the raw ``memory``, a step's id an object);
  23.11 to 25.05 (v0.0.40 to v0.0.43) make states lists of flags and a step's id a string
  such as ``"123.batch"``, and only add fields this reader does not use. What is read is
  the same in all of them: the job-level ``tres.requested`` memory (MB, the job's total,
  what ``-P``'s ``ReqMem`` prints) rather than ``required.memory``, whose unit 22.05 loses
  (per CPU or per node, the flag bit cut off) and which 23.02 prints with the flag bit in;
  peak RSS from the steps' ``tres.requested.max`` (bytes); CPU time from the steps when
  the job-level total is 0 (22.05).
* ``-P`` with an explicit ``--format`` otherwise. Its traps (research note, sacct(1)) are
  handled here: ``|`` inside a job name (JobName is asked for last, so a line is split
  only as many times as there are other fields), the default window of "since midnight"
  (``-S``/``-E`` are always passed), unit rescaling (``--noconvert``), mixed time formats
  (``ElapsedRaw``; ``TotalCPU`` parsed with its days and milliseconds), ``CANCELLED by
  <uid>``, ``ReqMem`` with the old per-node ``n`` / per-CPU ``c`` suffixes, local times
  without a zone (read as this machine's local time, which is SLURM's).

Default memory is not a request. SLURM gives a job that asked for no memory its
partition's or the cluster's ``DefMemPerCPU``/``DefMemPerNode`` at submission and records
it as the request: the accounting of every version, in either shape, holds no mark of
whether the user asked (slurmctld's ``JOB_MEM_SET`` flag is not stored by slurmdbd, and
``submit_line`` misses ``#SBATCH`` lines). So the defaults are read from ``scontrol`` and a
request equal to the default for the job's requested CPUs (or nodes) is taken as the
default (:class:`MemoryDefaults`); an explicit request of exactly the default cannot be
told from it. Where ``scontrol`` does not answer, every request counts and the read says
so.

A job's rows are folded into one: the allocation line gives user, account, partition,
state and allocation; the step lines give CPU time, peak memory, GPU utilisation and
energy. Steps overlap in time (the batch and extern steps span the job), so energy is the
largest value of any line rather than their sum. A job that never ran on a node (cancelled
while pending: sacct's "None assigned") has no nodes. Anything malformed stops the whole
read with one line naming the line: a half-understood accounting is worse than none.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import IO, Any, NamedTuple

from .._time import iso_utc
from ..errors import ImpactError
from .jsonstream import JsonStreamError, list_member

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
    "ReqCPUS",
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
_HEADER = "|".join(FIELDS)
TIMEOUT_S = 300.0
CHUNK = 1 << 20  # characters of sacct's JSON read at a time
_JOB_ID = re.compile(r"(\d+(?:_\d+|_\[[^\]]*\])?(?:\+\d+)?)(?:\.([A-Za-z0-9_-]+))?")
_SIZE = re.compile(r"(\d+(?:\.\d+)?)([KMGTP]?)([nc]?)")
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40, "P": 2**50}
# What an sacct without JSON support answers to --json: fall back to -P on these only.
_NO_JSON = ("unrecognized option", "invalid option", "unknown option", "data_parser", "serializer")
NO_NODES = ("None assigned", "(null)")  # sacct's node list of a job that never got a node
MEMORY_KINDS = ("asked", "default", "unchecked", "none")


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
    req_memory_bytes: int | None  # what the user asked for (None: nothing, or SLURM's default)
    max_rss_bytes: int | None
    energy_j: float | None  # ConsumedEnergyRaw: whole nodes, right for exclusive jobs only
    gpu_util_pct: float | None  # gres/gpuutil: percent summed over the job's GPUs
    # One of MEMORY_KINDS: "asked" (req_memory_bytes is the user's), "default" (SLURM's
    # DefMemPer*, not counted as a request), "unchecked" (the defaults were not readable:
    # counted as asked), "none" (no memory in the accounting)
    req_memory_kind: str = "unchecked"

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
    notes: tuple[str, ...] = ()  # what the reader could not check, for the user


class DefaultMemory(NamedTuple):
    """A ``DefMemPerCPU`` or ``DefMemPerNode`` in MB (0: not set)."""

    per_cpu_mb: int = 0
    per_node_mb: int = 0

    @property
    def is_set(self) -> bool:
        """Whether a default is configured here at all."""
        return bool(self.per_cpu_mb or self.per_node_mb)


class MemoryDefaults(NamedTuple):
    """The memory SLURM gives a job that asks for none: its partition's default, or the
    cluster's where the partition sets none (as slurmctld applies them at submission)."""

    cluster: DefaultMemory
    partitions: Mapping[str, DefaultMemory]

    def is_default(self, partition: str | None, total_mb: float, cpus: int, nodes: int) -> bool:
        """Whether a job's requested memory (its total, MB) is exactly what the default
        gives for its requested CPUs and nodes."""
        own = self.partitions.get(partition or "", DefaultMemory())
        default = own if own.is_set else self.cluster
        if default.per_cpu_mb:
            return total_mb == default.per_cpu_mb * max(cpus, 1)
        return bool(default.per_node_mb) and total_mb == default.per_node_mb * max(nodes, 1)


# -- running sacct -------------------------------------------------------------------------


class _Failed(SacctError):
    """``sacct`` exited with an error; ``stderr`` says which."""

    def __init__(self, returncode: int, stderr: str) -> None:
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        said = lines[0] if lines else "no message"
        super().__init__(
            f"sacct failed (exit {returncode}: {said}); check that slurmdbd answers "
            "(`sacctmgr show cluster`) and that accounting is readable to you"
        )
        self.stderr = stderr


def _chunks(stream: IO[str]) -> Iterator[str]:
    return iter(lambda: stream.read(CHUNK), "")


def _run(args: Sequence[str], parse: Callable[[IO[str]], list[SacctJob]]) -> list[SacctJob]:
    """Run ``sacct`` and parse its output as it comes (a month of a large cluster is
    gigabytes of JSON: never held whole). sacct's own failure comes before a parse error
    of what it printed."""
    with tempfile.TemporaryFile("w+") as stderr:
        try:
            process = subprocess.Popen(list(args), stdout=subprocess.PIPE, stderr=stderr, text=True)
        except FileNotFoundError as exc:
            raise SacctError(
                "sacct was not found on PATH; run on a login node of the cluster, or add the "
                "directory of SLURM's client commands to PATH"
            ) from exc
        except OSError as exc:
            raise SacctError(f"sacct could not be started ({exc.strerror})") from exc
        timed_out = threading.Event()

        def expire() -> None:
            timed_out.set()
            process.kill()

        timer = threading.Timer(TIMEOUT_S, expire)
        timer.start()
        problem: SacctError | None = None
        try:
            assert process.stdout is not None
            try:
                jobs = parse(process.stdout)
            except SacctError as exc:
                jobs, problem = [], exc
            try:
                returncode = process.wait(timeout=None if problem is None else 1.0)
            except subprocess.TimeoutExpired:  # still printing what cannot be read
                process.kill()
                returncode = process.wait()
        finally:
            timer.cancel()
            if process.poll() is None:  # the parse itself broke: leave no sacct behind
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if timed_out.is_set():
            raise SacctError(
                f"sacct did not answer within {TIMEOUT_S:.0f} s; ask for a shorter period with "
                "--since/--until, or check slurmdbd"
            )
        if returncode > 0 or returncode < 0 and problem is None:
            stderr.seek(0)
            raise _Failed(returncode, stderr.read())
        if problem is not None:
            raise problem
        return jobs


def _scontrol(*args: str) -> str | None:
    """``scontrol ARGS``'s output, or None where it is missing or fails (it only refines
    the reading: the accounting stands without it)."""
    try:
        result = subprocess.run(
            ["scontrol", *args], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def _default_memory(pairs: Mapping[str, str]) -> DefaultMemory:
    def mb(key: str) -> int:
        value = pairs.get(key, "").strip()
        return int(value) if value.isdigit() else 0  # UNLIMITED or absent: none

    return DefaultMemory(mb("DefMemPerCPU"), mb("DefMemPerNode"))


def parse_memory_defaults(config: str, partitions: str) -> MemoryDefaults:
    """The defaults of ``scontrol show config`` (``Key = value`` lines) and ``scontrol
    show partition --oneliner`` (one line of ``Key=value`` words per partition)."""
    cluster = {
        key.strip(): value.strip()
        for key, eq, value in (line.partition("=") for line in config.splitlines())
        if eq
    }
    by_name = {}
    for line in partitions.splitlines():
        words = dict(word.partition("=")[::2] for word in line.split() if "=" in word)
        if "PartitionName" in words:
            by_name[words["PartitionName"]] = _default_memory(words)
    return MemoryDefaults(_default_memory(cluster), by_name)


def read_memory_defaults() -> MemoryDefaults | None:
    """The cluster's default memory from ``scontrol`` (None where it does not answer)."""
    config = _scontrol("show", "config")
    partitions = _scontrol("show", "partition", "--oneliner")
    if config is None or partitions is None:
        return None
    return parse_memory_defaults(config, partitions)


UNCHECKED_NOTE = (
    "scontrol did not answer, so SLURM's default memory (DefMemPerCPU/DefMemPerNode) could "
    "not be told from requested memory: every job's memory counts as requested; run where "
    "scontrol reaches slurmctld to leave defaults out of memory waste"
)


def read_sacct(window: SacctWindow, shape: str = "auto") -> SacctRead:
    """Run ``sacct`` for every user's jobs in ``window`` (root or an operator sees all;
    others see their own) and parse them. ``shape``: ``json``, ``parsable`` or ``auto``
    (JSON, falling back to ``-P`` where this SLURM has no JSON output)."""
    defaults = read_memory_defaults()
    notes = () if defaults is not None else (UNCHECKED_NOTE,)
    base = ["sacct", "--allusers", *window.args()]
    if shape in ("json", "auto"):
        try:
            jobs = _run([*base, "--json"], lambda out: parse_json(_chunks(out), defaults))
            return SacctRead(jobs, "json", notes)
        except _Failed as failed:
            unsupported = any(hint in failed.stderr.lower() for hint in _NO_JSON)
            if shape == "json" or not unsupported:
                raise
    args = [*base, "--parsable2", "--noconvert", "--format=" + ",".join(FIELDS)]
    return SacctRead(_run(args, lambda out: parse_parsable(out, defaults)), "parsable", notes)


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


def _nodes(text: str | None) -> str | None:
    """A node list, or None for a job that never got a node ("None assigned")."""
    text = (text or "").strip()
    return None if not text or text in NO_NODES else text


class _Request(NamedTuple):
    """The memory a job asked for, once SLURM's default is told apart."""

    bytes: int | None
    kind: str  # one of MEMORY_KINDS


def _request(
    total_mb: float | None,
    partition: str | None,
    cpus: int,
    nodes: int,
    defaults: MemoryDefaults | None,
) -> _Request:
    """The job's requested memory (its total, MB) unless it is SLURM's default."""
    if not total_mb:
        return _Request(None, "none")
    if defaults is None:
        return _Request(int(total_mb * 2**20), "unchecked")
    if defaults.is_default(partition, total_mb, cpus, nodes):
        return _Request(None, "default")
    return _Request(int(total_mb * 2**20), "asked")


def _cpu_total(job_s: float, steps_s: Sequence[float]) -> float:
    """The job's CPU time: its own total or its steps' sum (22.05's JSON gives 0 for the
    job), to the millisecond ``-P``'s TotalCPU prints, so that both shapes agree."""
    return round(max(job_s, sum(steps_s)), 3)


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


def _rows(lines: Iterable[str]) -> Iterator[_Row]:
    numbered = enumerate(lines, start=1)
    _, header = next(numbered, (1, ""))
    if header.strip().lower() != _HEADER.lower():
        first = header.strip()[:60] or "nothing"
        raise _malformed("line 1", f"expected the header {'|'.join(FIELDS[:3])}|..., got {first!r}")
    for number, line in numbered:
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        values = line.split("|", len(FIELDS) - 1)
        if len(values) != len(FIELDS):
            raise _malformed(f"line {number}", f"{len(values)} fields instead of {len(FIELDS)}")
        match = _JOB_ID.fullmatch(values[0])
        if match is None:
            raise _malformed(f"line {number}", f"JobID {values[0]!r}")
        yield _Row(number, match.group(1), match.group(2), dict(zip(FIELDS, values, strict=True)))


def _job_lines(rows: Iterable[_Row]) -> Iterator[tuple[_Row, list[_Row]]]:
    """Each job's line and its steps' lines, which sacct prints right after it."""
    main: _Row | None = None
    steps: list[_Row] = []
    for row in rows:
        if row.step is None:
            if main is not None:
                yield main, steps
            main, steps = row, []
        elif main is None or row.job != main.job:
            raise _malformed(f"line {row.number}", f"steps of job {row.job} without its job line")
        else:
            steps.append(row)
    if main is not None:
        yield main, steps


def parse_parsable(
    text: str | Iterable[str], defaults: MemoryDefaults | None = None
) -> list[SacctJob]:
    """Jobs of ``sacct -P --format=<FIELDS>`` output (with its header line), as text or as
    lines; ``defaults`` tell SLURM's default memory from requested memory (None: not
    known)."""
    jobs = []
    for main, steps in _job_lines(_rows(text.splitlines() if isinstance(text, str) else text)):
        try:
            jobs.append(_fold(main.job, main, steps, defaults))
        except ValueError as exc:
            raise _malformed(f"line {main.number}", str(exc)) from exc
    return _merge(jobs)


def _fold(job_id: str, main: _Row, steps: list[_Row], defaults: MemoryDefaults | None) -> SacctJob:
    v = main.values
    nodes = int(v["NNodes"] or 0)
    cpus = int(v["NCPUS"] or 0)
    req_cpus = int(v["ReqCPUS"] or 0) or cpus
    asked = parse_size(v["ReqMem"], "M", req_cpus, nodes)
    request = _request(asked / 2**20 if asked else None, v["Partition"], req_cpus, nodes, defaults)
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
        nodes=_nodes(v["NodeList"]),
        node_count=nodes,
        state=(v["State"].split() or ["UNKNOWN"])[0].upper(),
        start=_local_iso(v["Start"]),
        end=_local_iso(v["End"]),
        elapsed_s=float(elapsed),
        cpu_s=_cpu_total(
            parse_duration(v["TotalCPU"]), [parse_duration(r.values["TotalCPU"]) for r in steps]
        ),
        alloc_cpus=cpus,
        alloc_memory_bytes=parse_size(alloc["mem"], "M") if "mem" in alloc else None,
        alloc_gpus=_gpu_count(
            {k: float(val) for k, val in alloc.items() if k.startswith("gres/gpu")}
        ),
        req_memory_bytes=request.bytes,
        max_rss_bytes=max((r for r in rss if r is not None), default=None),
        energy_j=max(energy) if energy else None,
        gpu_util_pct=max(gpu_util) if gpu_util else None,
        req_memory_kind=request.kind,
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


def _requested_mb(
    job: Mapping[str, Any], requested: Mapping[str, float], cpus: int, nodes: int
) -> float:
    """The job's requested memory in MB, all of it: the job-level ``tres.requested`` mem
    (every version has it, and it is what ``-P``'s ReqMem prints), else 23.02+'s
    ``required.memory_per_node``/``memory_per_cpu``. Never ``required.memory``: 22.05
    prints it without saying whether it is per CPU or per node."""
    if requested.get("mem"):
        return requested["mem"]
    required = job.get("required") or {}
    per_node = _number(required.get("memory_per_node"))
    per_cpu = _number(required.get("memory_per_cpu"))
    return per_node * max(nodes, 1) if per_node else per_cpu * max(cpus, 1)


def _json_job(job: Mapping[str, Any], defaults: MemoryDefaults | None) -> SacctJob:
    tres = job.get("tres") or {}
    alloc = _tres_counts(tres.get("allocated"))
    requested = _tres_counts(tres.get("requested"))
    nodes = int(
        _number(job.get("allocation_nodes")) or alloc.get("node", 0) or requested.get("node", 0)
    )
    req_cpus = int(_number((job.get("required") or {}).get("CPUs")) or requested.get("cpu", 0))
    cpus = int(alloc.get("cpu", 0) or req_cpus)
    partition = job.get("partition") or None
    request = _request(
        _requested_mb(job, requested, req_cpus, nodes), partition, req_cpus, nodes, defaults
    )
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
        partition=partition,
        nodes=_nodes(job.get("nodes")),
        node_count=nodes,
        state=_json_state(job),
        start=_epoch_iso(time.get("start")),
        end=_epoch_iso(time.get("end")),
        elapsed_s=_number(time.get("elapsed")),
        cpu_s=_cpu_total(_cpu_seconds(time), [_cpu_seconds(s.get("time")) for s in steps]),
        alloc_cpus=cpus,
        alloc_memory_bytes=int(alloc["mem"] * 2**20) if alloc.get("mem") else None,
        alloc_gpus=_gpu_count(alloc),
        req_memory_bytes=request.bytes,
        max_rss_bytes=max(step_rss) if step_rss else None,
        energy_j=max(step_energy) if step_energy else None,
        gpu_util_pct=max(step_util) if step_util else None,
        req_memory_kind=request.kind,
    )


def parse_json(text: str | Iterable[str], defaults: MemoryDefaults | None = None) -> list[SacctJob]:
    """Jobs of ``sacct --json`` output, any version's shape, as text or as chunks of it
    (decoded one job at a time); ``defaults`` tell SLURM's default memory from requested
    memory (None: not known)."""
    others: dict[str, Any] = {}
    out = []
    try:
        for index, job in enumerate(
            list_member([text] if isinstance(text, str) else text, "jobs", others)
        ):
            if not isinstance(job, Mapping) or "job_id" not in job:
                raise _malformed(f"job #{index + 1}", "not a job object with a job_id")
            out.append(_json_job(job, defaults))
    except JsonStreamError as exc:
        raise _malformed(f"line {exc.line}", exc.why) from None
    if "jobs" not in others:
        raise _malformed("as a whole", "no list of jobs")
    return _merge(out)


def _merge(jobs: Iterable[SacctJob]) -> list[SacctJob]:
    """One job per id: sacct may list a requeued job once per run; the latest run wins."""
    by_id: dict[str, SacctJob] = {}
    for job in jobs:
        by_id[job.job_id] = job
    return list(by_id.values())
