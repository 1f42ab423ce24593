"""Bundled hardware power tables: CPU and GPU TDP lookups by model name.

Used by the estimation model where no meter can be read and by ``impactlib estimate``.
Tables (see data/ATTRIBUTION.md): Green Algorithms ``TDP_cpu.csv`` / ``TDP_gpu.csv``
(W per core for CPUs, W per GPU), CodeCarbon ``cpu_power.csv`` (W per package, ~4,900
models), ML CO2 Impact ``gpus.csv`` (W per device, includes H100/L4/L40S).
Names are compared after normalisation (trademark marks, clock speeds and filler words
removed), so ``Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz`` finds ``Intel Xeon Gold 6148``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from . import data
from .errors import UsageError

GA_DEFAULT_W_PER_CORE = 12.0  # Green Algorithms "Any" CPU row
GA_DEFAULT_GPU_W = 200.0  # Green Algorithms "Any" GPU row

_FILLER = re.compile(
    r"\((r|tm)\)|\b(cpu|processor|with radeon graphics|\d+-core)\b|@.*$|\bsoc\b", re.IGNORECASE
)


@dataclass(frozen=True)
class TdpEntry:
    """A table row: ``tdp_w`` for the whole chip/card, ``w_per_core`` when the table gives it."""

    name: str
    tdp_w: float | None
    w_per_core: float | None
    n_cores: int | None
    table: str


def normalise(name: str) -> str:
    """Lower-case model name without marks, clock speed and filler words."""
    text = _FILLER.sub(" ", name)
    text = text.replace("nvidia", " ").replace("NVIDIA", " ")
    text = re.sub(r"(\d)([a-z])", r"\1 \2", text.lower().replace("-", " "))
    return " ".join(text.split())


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


@lru_cache(maxsize=1)
def _cpu_rows() -> dict[str, TdpEntry]:
    rows: dict[str, TdpEntry] = {}
    for row in data.load_csv("cpu_power.csv"):
        tdp = _num(row["TDP"])
        if tdp:
            rows[normalise(row["Name"])] = TdpEntry(
                row["Name"], tdp, None, None, "CodeCarbon cpu_power.csv"
            )
    for row in data.load_csv("TDP_cpu.csv", skip_lines=1):
        if row["model"] == "Any":
            continue
        cores = _num(row["n_cores"])
        rows[normalise(row["model"])] = TdpEntry(
            row["model"],
            _num(row["TDP"]),
            _num(row["TDP_per_core"]),
            int(cores) if cores else None,
            "Green Algorithms TDP_cpu.csv v3.0",
        )
    return rows


@lru_cache(maxsize=1)
def _gpu_rows() -> dict[str, TdpEntry]:
    rows: dict[str, TdpEntry] = {}
    for row in data.load_csv("mlco2_gpus.csv"):
        tdp = _num(row["tdp_watts"])
        if tdp and row["type"] == "gpu":
            rows[normalise(row["name"])] = TdpEntry(
                row["name"], tdp, None, None, "ML CO2 Impact gpus.csv"
            )
    for row in data.load_csv("TDP_gpu.csv", skip_lines=1):
        tdp = _num(row["TDP_per_core"])
        if row["model"] != "Any" and tdp:
            rows[normalise(row["model"])] = TdpEntry(
                row["model"], tdp, None, None, "Green Algorithms TDP_gpu.csv v3.0"
            )
    return rows


def _model_words(key: str) -> set[str]:
    return {
        w for w in key.split() if any(ch.isdigit() for ch in w) and any(ch.isalpha() for ch in w)
    }


def _find(name: str, rows: dict[str, TdpEntry], kind: str, suggest: bool = True) -> TdpEntry:
    key = normalise(name)
    if key in rows:
        return rows[key]
    # A table name contained in the query ("tesla v100 sxm2 32gb" in "... 32gb pcie"), or
    # the query contained in exactly one table name. Plain substring tests on space-padded
    # strings: a regex per row would compile thousands of patterns on every lookup.
    padded = f" {key} "
    contained = [k for k in rows if k and f" {k} " in padded]
    if contained:
        return rows[max(contained, key=len)]
    containing = [k for k in rows if padded in f" {k} "]
    if len(containing) == 1:
        return rows[containing[0]]
    # Same model number ("h100", "6148") with the most words in common, when unambiguous
    words = set(key.split())
    scored = sorted(
        (
            (len(words & set(k.split())), k)
            for k in rows
            if _model_words(k) <= words and _model_words(k)
        ),
        reverse=True,
    )
    if scored and (len(scored) == 1 or scored[0][0] > scored[1][0]):
        return rows[scored[0][1]]
    close = [k for _, k in scored[:4]] or difflib.get_close_matches(
        key, list(rows), n=4, cutoff=0.6
    )
    names = [rows[c].name for c in close] or [rows[c].name for c in containing[:4]]
    hint = f"; close matches: {', '.join(names)}" if names else ""
    raise UsageError(
        f"unknown {kind} model '{name}'{hint}; "
        f"give a model from the bundled tables or the power directly"
        + (" (--cores N --cpu-w-per-core W)" if kind == "CPU" else " (--gpu-w W)")
    )


def cpu_tdp(name: str, *, suggest: bool = True) -> TdpEntry:
    """The TDP row of a CPU model; :class:`UsageError` (with close matches when
    ``suggest``) if unknown."""
    return _find(name, _cpu_rows(), "CPU", suggest)


def gpu_tdp(name: str) -> TdpEntry:
    """The TDP row of a GPU model; :class:`UsageError` with close matches if unknown."""
    return _find(name, _gpu_rows(), "GPU")


def local_cpu_model(procfs_root: str = "/proc") -> str | None:
    """The CPU model name from ``/proc/cpuinfo`` (first ``model name`` line)."""
    try:
        text = (Path(procfs_root) / "cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.lower().startswith(("model name", "hardware")) and ":" in line:
            return line.split(":", 1)[1].strip() or None
    return None


def local_cpu_sockets(procfs_root: str = "/proc") -> int:
    """Number of CPU packages (distinct ``physical id``), at least 1."""
    try:
        text = (Path(procfs_root) / "cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return 1
    ids = {ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("physical id")}
    return max(len(ids), 1)
