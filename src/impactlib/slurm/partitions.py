"""The hardware of each SLURM partition, as the cluster's administrators describe it.

``sacct`` knows how many CPUs and GPUs a job held, not what they were, so the Green
Algorithms estimate of a job that nothing measured needs the partition's CPU and GPU
models (or their watts) from the configuration; ``cores_per_node`` and ``exclusive`` say
whether a job held whole nodes, the only case where SLURM's ``ConsumedEnergyRaw`` is the
job's own energy. In ``impactlib.toml``::

    [slurm_partitions.gpu]
    cpu = "Intel Xeon Gold 6148"
    gpu = "NVIDIA A100 SXM4 40 GB"
    cores_per_node = 40

or, as ``IMPACTLIB_SLURM_PARTITIONS`` / ``--partitions``, the path of a TOML file whose
tables are the partitions.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def _watts(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError
    if not math.isfinite(value) or value <= 0:
        raise ValueError
    return float(value)


def _partition(name: str, table: Any) -> PartitionHardware:
    if not isinstance(table, Mapping) or set(table) - set(FIELDS):
        raise ValueError
    cores = table.get("cores_per_node")
    if cores is not None and (isinstance(cores, bool) or not isinstance(cores, int) or cores < 1):
        raise ValueError
    exclusive = table.get("exclusive", False)
    if not isinstance(exclusive, bool):
        raise ValueError
    for text in ("cpu", "gpu"):
        if table.get(text) is not None and not isinstance(table[text], str):
            raise ValueError
    return PartitionHardware(
        name=name,
        cpu=table.get("cpu"),
        cpu_w_per_core=_watts(table.get("cpu_w_per_core")),
        gpu=table.get("gpu"),
        gpu_w=_watts(table.get("gpu_w")),
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
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(str(exc)) from exc


def parse_partitions(raw: Any) -> tuple[PartitionHardware, ...]:
    """The partitions of a configuration table or of the TOML file a string names
    (``ValueError`` for anything else, which the configuration reports with the key)."""
    if isinstance(raw, str):
        raw = _from_file(raw.strip())
    if not isinstance(raw, Mapping):
        raise ValueError
    return tuple(_partition(str(name), table) for name, table in sorted(raw.items()))


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
