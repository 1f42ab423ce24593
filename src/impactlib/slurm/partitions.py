"""The hardware of each SLURM partition: what SLURM itself says, and what administrators add.

``sacct`` knows how many CPUs and GPUs a job held, not what they were, so the Green
Algorithms estimate of a job that nothing measured needs the partition's CPU and GPU
models (or their watts) from the configuration; ``cores_per_node`` and ``exclusive`` say
whether a job held whole nodes, the only case where SLURM's ``ConsumedEnergyRaw`` is the
job's own energy. Those two SLURM knows (:func:`known_partitions`): a partition with
``OverSubscribe=EXCLUSIVE`` allocates whole nodes (``scontrol show partition``), and the
CPUs of its nodes (``scontrol show node``) tell a job that held every core of them, as an
``--exclusive`` job does. In ``impactlib.toml``::

    [slurm_partitions.gpu]
    cpu = "Intel Xeon Gold 6148"
    gpu = "A100 SXM4 80 GB"
    cores_per_node = 40

or, as ``IMPACTLIB_SLURM_PARTITIONS`` / ``--slurm-partitions``, the path of a TOML file
whose tables are the partitions (``[gpu]``, or ``[slurm_partitions.gpu]`` as in
``impactlib.toml``).

A CPU model whose table row gives only the package's TDP (CodeCarbon's ``Intel Xeon Gold
6148``: 150 W, no core count) cannot be charged per core; the Green Algorithms row of the
same model (``Xeon Gold 6148``, 7.5 W/core) is used instead, or where there is none the
formula's "any" CPU, each said in one line per partition.
"""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, UsageError

if TYPE_CHECKING:
    from ..config import Config

FIELDS = ("cpu", "cpu_w_per_core", "gpu", "gpu_w", "cores_per_node", "exclusive")


@dataclass(frozen=True)
class PartitionHardware:
    """One partition's hardware (unset fields fall back to the Green Algorithms defaults)."""

    name: str
    cpu: str | None = None  # a CPU model of the TDP tables
    cpu_w_per_core: float | None = None
    gpu: str | None = None  # a GPU model of the TDP tables
    gpu_w: float | None = None
    cores_per_node: int | None = None
    exclusive: bool = False  # the partition always allocates whole nodes

    @property
    def has_hardware(self) -> bool:
        """Whether its CPU or GPU is described (else the formula's "any" ones are used)."""
        return any(v is not None for v in (self.cpu, self.cpu_w_per_core, self.gpu, self.gpu_w))


def _watts(name: str, key: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"partition {name!r}: {key} must be a number of watts, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"partition {name!r}: {key} must be > 0, got {value!r}")
    return float(value)


def _partition(name: str, table: Any) -> PartitionHardware:
    if not isinstance(table, Mapping):
        raise ValueError(f"partition {name!r} must be a table, got {table!r}")
    unknown = sorted(set(table) - set(FIELDS))
    if unknown:
        raise ValueError(f"partition {name!r}: unknown field {', '.join(map(repr, unknown))}")
    cores = table.get("cores_per_node")
    if cores is not None and (isinstance(cores, bool) or not isinstance(cores, int) or cores < 1):
        raise ValueError(f"partition {name!r}: cores_per_node must be an integer >= 1")
    exclusive = table.get("exclusive", False)
    if not isinstance(exclusive, bool):
        raise ValueError(f"partition {name!r}: exclusive must be true or false")
    for text in ("cpu", "gpu"):
        if table.get(text) is not None and not isinstance(table[text], str):
            raise ValueError(f"partition {name!r}: {text} must be a model name (text)")
    return PartitionHardware(
        name=name,
        cpu=table.get("cpu"),
        cpu_w_per_core=_watts(name, "cpu_w_per_core", table.get("cpu_w_per_core")),
        gpu=table.get("gpu"),
        gpu_w=_watts(name, "gpu_w", table.get("gpu_w")),
        cores_per_node=cores,
        exclusive=exclusive,
    )


def _from_file(path: str) -> Mapping[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        with Path(path).expanduser().open("rb") as fh:
            tables = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(str(exc)) from exc
    # The tables as impactlib.toml writes them ([slurm_partitions.gpu]) are the partitions.
    if set(tables) == {"slurm_partitions"}:
        partitions: Mapping[str, Any] = tables["slurm_partitions"]
        return partitions
    if "slurm_partitions" in tables:
        raise ValueError(
            f"{path} mixes [slurm_partitions.NAME] tables with other keys "
            f"({', '.join(sorted(set(tables) - {'slurm_partitions'}))}); write only the "
            "partitions, as [NAME] or [slurm_partitions.NAME] tables"
        )
    return tables


def parse_partitions(raw: Any) -> tuple[PartitionHardware, ...]:
    """The partitions of a configuration table or of the TOML file a string names
    (``ValueError`` saying what is wrong: :func:`configured_partitions` names the setting)."""
    if isinstance(raw, str):
        raw = _from_file(raw.strip())
    if not isinstance(raw, Mapping):
        raise ValueError(f"expected a table of partitions, got {raw!r}")
    return tuple(_partition(str(name), table) for name, table in sorted(raw.items()))


def configured_partitions(config: Config) -> tuple[PartitionHardware, ...]:
    """The partitions of the ``slurm_partitions`` setting (none when unset). The
    configuration checks only its shape; a field it holds that is wrong is a
    :class:`~impactlib.errors.ConfigError` here, naming the setting, where it was set and
    what is wrong."""
    raw = config.slurm_partitions
    if raw is None:
        return ()
    try:
        return parse_partitions(raw)
    except ValueError as exc:
        where = config.sources.get("slurm_partitions", "configuration")
        raise ConfigError(
            f"slurm_partitions ({where}): invalid value {raw!r}: {exc}; allowed: a table per "
            f"partition with only the fields {', '.join(FIELDS)} (watts and cores > 0, "
            "exclusive true or false)"
        ) from exc


# ``scontrol ARGS``'s output, or None where it is missing or does not answer
Scontrol = Callable[..., "str | None"]


def _scontrol(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["scontrol", *args], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _oneliners(text: str | None) -> list[dict[str, str]]:
    """``scontrol show ... --oneliner``: a line of ``Key=value`` words per entity."""
    return [
        dict(word.partition("=")[::2] for word in line.split() if "=" in word)
        for line in (text or "").splitlines()
    ]


def slurm_partitions(scontrol: Scontrol = _scontrol) -> tuple[PartitionHardware, ...]:
    """What SLURM says of its partitions (none where ``scontrol`` does not answer):
    ``exclusive`` for ``OverSubscribe=EXCLUSIVE``, and ``cores_per_node`` where every node
    of the partition has the same number of CPUs (``scontrol show node``'s ``CPUTot``; a
    one-node partition's ``TotalCPUs`` where nodes are not listed)."""
    partitions = _oneliners(scontrol("show", "partition", "--oneliner"))
    cpus: dict[str, set[int]] = {}
    for node in _oneliners(scontrol("show", "node", "--oneliner")):
        if node.get("CPUTot", "").isdigit():
            for part in node.get("Partitions", "").split(","):
                cpus.setdefault(part, set()).add(int(node["CPUTot"]))
    found = []
    for words in partitions:
        name = words.get("PartitionName")
        if not name:
            continue
        per_node = cpus.get(name, set())
        if not per_node and words.get("TotalNodes") == "1" and words.get("TotalCPUs", "").isdigit():
            per_node = {int(words["TotalCPUs"])}
        found.append(
            PartitionHardware(
                name,
                cores_per_node=per_node.pop() if len(per_node) == 1 else None,
                exclusive=words.get("OverSubscribe", "").upper().startswith("EXCLUSIVE"),
            )
        )
    return tuple(found)


def _merged(
    configured: PartitionHardware | None, slurm: PartitionHardware | None
) -> PartitionHardware:
    """A partition as configured, with what SLURM knows where the configuration is silent."""
    if configured is None:
        assert slurm is not None
        return slurm
    if slurm is None:
        return configured
    return replace(
        configured,
        cores_per_node=configured.cores_per_node or slurm.cores_per_node,
        exclusive=configured.exclusive or slurm.exclusive,
    )


def _per_core_cpu(partition: PartitionHardware) -> tuple[PartitionHardware, str | None]:
    """The partition with a CPU model that can be charged per core (a job holds cores, not
    packages), and what was changed to get one. An unknown model stays, so that the
    estimate says which partition to fix."""
    from ..meters.tdp import cpu_tdp, models, normalise

    if partition.cpu is None or partition.cpu_w_per_core is not None:
        return partition, None
    try:
        entry = cpu_tdp(partition.cpu, suggest=False)
    except UsageError:
        return partition, None
    if entry.w_per_core is not None or (entry.tdp_w and entry.n_cores):
        return partition, None
    words = set(normalise(partition.cpu).split())
    same = [
        row
        for row in models("CPU")
        if row.w_per_core is not None and set(normalise(row.name).split()) <= words
    ]
    same.sort(key=lambda row: len(normalise(row.name).split()), reverse=True)
    lead = (
        f"partition {partition.name}: CPU {partition.cpu!r} has only a package TDP in {entry.table}"
    )
    if same and (
        len(same) == 1
        or len(normalise(same[0].name).split()) > len(normalise(same[1].name).split())
    ):
        row = same[0]
        return replace(partition, cpu=row.name), (
            f"{lead}; its jobs are estimated with the {row.table} row {row.name!r} "
            f"({row.w_per_core:g} W/core)"
        )
    return replace(partition, cpu=None), (
        f"{lead} and no per-core row; its jobs are estimated with the Green Algorithms 'any' "
        "CPU (12 W/core): set cpu_w_per_core for it"
    )


def known_partitions(
    config: Config, scontrol: Scontrol = _scontrol
) -> tuple[PartitionHardware, ...]:
    """The configured partitions merged with what SLURM says of them (:func:`slurm_partitions`;
    the configuration wins where both say), each CPU made chargeable per core; a CPU that
    had to be replaced is said once, in one line per partition."""
    from ..notices import warn_once

    configured = {p.name: p for p in configured_partitions(config)}
    slurm = {p.name: p for p in slurm_partitions(scontrol)}
    partitions = []
    for name in sorted(set(configured) | set(slurm)):
        partition, note = _per_core_cpu(_merged(configured.get(name), slurm.get(name)))
        partitions.append(partition)
        if note:
            warn_once(note, note)
    return tuple(partitions)


def partition_named(
    partitions: tuple[PartitionHardware, ...], name: str | None
) -> PartitionHardware | None:
    """The configured hardware of partition ``name`` (a job may list several,
    comma-separated: the first configured one is used)."""
    by_name = {p.name: p for p in partitions}
    for candidate in (name or "").split(","):
        if candidate in by_name:
            return by_name[candidate]
    return None
