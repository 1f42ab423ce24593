"""PePR: performance per resource unit, for comparing models on one task.

Selvan, Pepin, Igel, Samuel & Dam, "PePR: Performance Per Resource Unit as a Metric to
Promote Small-Scale Deep Learning", NLDL 2025 (PMLR 265:220-229, arXiv:2403.12562)::

    PePR = P / (1 + R),   R = (r - min r) / (max r - min r) over the models compared

with ``P`` a performance in [0, 1] and ``r`` a resource: energy (PePR-E), CO2e (PePR-C),
time (PePR-T) or memory (PePR-M). Because ``R`` is normalised over the compared set, a score
only means something next to that set: adding a model can change everyone's score. So the
result object carries the set and its min/max, and the CLI prints them with the scores.

This module computes; it draws nothing. The table and the plot of a result are
:mod:`impactlib.report.pepr`'s (a planning tool sits below the reports).
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import UsageError

if TYPE_CHECKING:
    from ..store.records import RunRecord

# Variant letter -> words that identify a resource column of that kind.
VARIANTS: dict[str, tuple[str, ...]] = {
    "E": ("energy", "kwh", "joule", "_j"),
    "C": ("co2", "emission", "carbon", "ghg"),
    "T": ("time", "duration", "hours", "_s", "seconds"),
    "M": ("mem", "ram", "vram", "bytes", "gb"),
}
BYTES_PER_GB = 1e9


@dataclass(frozen=True)
class PeprRow:
    """One compared model: its label, inputs, normalised resource, score and Pareto status."""

    label: str
    performance: float
    resource: float
    normalised_resource: float
    pepr: float
    pareto: bool
    row: Mapping[str, Any]


@dataclass(frozen=True)
class PeprResult:
    """Scores of one comparison set, with what they were computed from."""

    performance: str
    resource: str
    variant: str  # E, C, T, M or "" when the resource is none of them
    rows: tuple[PeprRow, ...]
    resource_min: float
    resource_max: float
    group: str | None = None  # the value of the grouping column, when grouped

    @property
    def name(self) -> str:
        """``PePR-E`` etc., or plain ``PePR`` for another resource."""
        return f"PePR-{self.variant}" if self.variant else "PePR"

    def best(self) -> PeprRow:
        """The row with the highest score (first on ties)."""
        return max(self.rows, key=lambda r: r.pepr)

    def json_rows(self) -> list[dict[str, Any]]:
        """The input rows, each with its ``pepr`` added (``--format json``)."""
        return [{**r.row, "pepr": r.pepr} for r in self.rows]


def guess_variant(resource: str) -> str:
    """The PePR variant letter a resource column name suggests ('' if none)."""
    name = resource.lower()
    for letter, words in VARIANTS.items():
        if any(w in name for w in words):
            return letter
    return ""


def pepr_scores(performance: Sequence[float], resource: Sequence[float]) -> list[float]:
    """PePR of each model; errors on P outside [0, 1], non-finite values or equal resources."""
    if len(performance) != len(resource):
        raise UsageError(
            f"PePR needs one resource per performance ({len(performance)} vs {len(resource)})"
        )
    if len(resource) < 2:
        raise UsageError("PePR compares models: give at least two rows")
    for i, (p, r) in enumerate(zip(performance, resource, strict=False), start=1):
        if not (math.isfinite(p) and math.isfinite(r)):
            raise UsageError(f"row {i}: performance and resource must be finite numbers")
        if not 0.0 <= p <= 1.0:
            hint = " (a percentage? divide by 100)" if 1 < p <= 100 else ""
            raise UsageError(f"row {i}: performance {p:g} is outside [0, 1]{hint}")
    low, high = min(resource), max(resource)
    if high == low:
        raise UsageError(
            f"all {len(resource)} resources are equal ({low:g}): min-max normalisation is "
            "undefined, so PePR cannot rank these models; compare models whose resource use differs"
        )
    return [
        p / (1.0 + (r - low) / (high - low)) for p, r in zip(performance, resource, strict=False)
    ]


def pareto_flags(performance: Sequence[float], resource: Sequence[float]) -> list[bool]:
    """True for each model no other model beats: none has both resource <= and performance >=
    with one of them strictly better."""
    flags = []
    for i, (p, r) in enumerate(zip(performance, resource, strict=False)):
        dominated = any(
            (r2 <= r and p2 >= p and (r2 < r or p2 > p))
            for j, (p2, r2) in enumerate(zip(performance, resource, strict=False))
            if j != i
        )
        flags.append(not dominated)
    return flags


def _number(row: Mapping[str, Any], column: str, index: int, label: str) -> float:
    if column not in row:
        import difflib

        close = difflib.get_close_matches(column, [str(k) for k in row], n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise UsageError(
            f"missing column '{column}'{hint}; columns: {', '.join(map(str, row)) or 'none'}"
        )
    value = row[column]
    if isinstance(value, bool):
        raise UsageError(f"row {index} ({label}): '{column}' = {value!r} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"row {index} ({label}): '{column}' = {value!r} is not a number") from exc
    if not math.isfinite(number):
        raise UsageError(f"row {index} ({label}): '{column}' = {value!r} is not a finite number")
    return number


def _label(row: Mapping[str, Any], index: int, label: str | None) -> str:
    for key in ([label] if label else []) + ["label", "model", "name", "id", "run"]:
        if key in row and row[key] not in (None, ""):
            return str(row[key])
    return f"#{index}"


def pepr_table(
    rows: Sequence[Mapping[str, Any]],
    performance: str,
    resource: str,
    *,
    variant: str | None = None,
    label: str | None = None,
    group: str | None = None,
) -> PeprResult:
    """Score a set of rows (mappings with a performance and a resource column).

    ``variant`` (E, C, T, M) names the score; by default it is guessed from the resource
    column name. ``label`` is the column naming each model (default: the first of label,
    model, name, id, run that exists).
    """
    if not rows:
        raise UsageError("no rows to compare")
    letter = (variant or guess_variant(resource)).upper()
    if letter and letter not in VARIANTS:
        raise UsageError(f"unknown PePR variant '{variant}'; allowed: E, C, T, M")
    labels = [_label(r, i, label) for i, r in enumerate(rows, start=1)]
    for column in (performance, resource):  # a missing column first: it explains all rows
        for i, (row, lab) in enumerate(zip(rows, labels, strict=True), start=1):
            if column not in row:
                _number(row, column, i, lab)
    perf = [
        _number(r, performance, i, lab)
        for i, (r, lab) in enumerate(zip(rows, labels, strict=False), 1)
    ]
    res = [
        _number(r, resource, i, lab)
        for i, (r, lab) in enumerate(zip(rows, labels, strict=False), 1)
    ]
    scores = pepr_scores(perf, res)
    flags = pareto_flags(perf, res)
    low, high = min(res), max(res)
    out = tuple(
        PeprRow(lab, p, r, (r - low) / (high - low), s, f, row)
        for lab, p, r, s, f, row in zip(labels, perf, res, scores, flags, rows, strict=False)
    )
    return PeprResult(performance, resource, letter, out, low, high, group)


class Groups(NamedTuple):
    """Scores per group, and the groups left unscored because they hold a single row."""

    results: list[PeprResult]
    alone: tuple[str, ...]  # "experiment = a (resnet)": nothing to compare that row with


def pepr_groups(
    rows: Sequence[Mapping[str, Any]],
    performance: str,
    resource: str,
    group_by: str,
    **kwargs: Any,
) -> Groups:
    """One :class:`PeprResult` per value of ``group_by`` (PePR is only defined within a set).

    A group of one row cannot be scored; it is named in ``alone`` rather than failing the
    other groups. If no group has two rows, that is an error.
    """
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        if group_by not in row:
            raise UsageError(f"missing column '{group_by}' to group by; columns: {', '.join(row)}")
        groups.setdefault(str(row[group_by]), []).append(row)
    label = kwargs.get("label")
    alone = tuple(
        f"{group_by} = {key} ({_label(members[0], 1, label)})"
        for key, members in groups.items()
        if len(members) == 1
    )
    if len(alone) == len(groups):
        raise UsageError(
            f"every {group_by} has a single row ({', '.join(alone)}): PePR compares models "
            f"within a set; group by another column (--group-by) or add rows"
        )
    results = [
        pepr_table(members, performance, resource, group=f"{group_by} = {key}", **kwargs)
        for key, members in groups.items()
        if len(members) > 1
    ]
    return Groups(results, alone)


# --- input ---------------------------------------------------------------------------------


def _cell(text: str) -> Any:
    """CSV cells that look like numbers become numbers (so JSON output keeps them numeric)."""
    stripped = text.strip()
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        return float(stripped)
    except ValueError:
        return text


def load_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a user's CSV or JSON file (a list of objects, or ``{"rows": [...]}``)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise UsageError(f"{file}: cannot be read ({exc.strerror})") from exc
    if file.suffix.lower() == ".json" or text.lstrip().startswith(("[", "{")):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{file}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc
        if isinstance(loaded, dict) and isinstance(loaded.get("rows"), list):
            loaded = loaded["rows"]
        if not isinstance(loaded, list) or not all(isinstance(r, dict) for r in loaded):
            raise UsageError(f"{file}: JSON must be a list of objects (one per model)")
        return list(loaded)
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames:
        raise UsageError(f"{file}: empty CSV (a header row is needed)")
    return [{k: _cell(v or "") for k, v in row.items() if k is not None} for row in reader]


class StoredRows(NamedTuple):
    """PePR input rows from stored runs, and the labels of the runs left out for lacking the
    performance metric (so the user can see whom to attach it to)."""

    rows: list[dict[str, Any]]
    lacking: tuple[str, ...]


# Resource columns a stored run always has, from its footprint (RunRecord.summary keys).
_SUMMARY_COLUMNS = ("energy_kwh", "emissions_kg", "duration_s", "cpu_hours", "gpu_hours")


def rows_from_records(records: Sequence[RunRecord], performance: str) -> StoredRows:
    """Stored runs as PePR input rows, labelled by experiment name.

    Resources come from the run's footprint (``energy_kwh``, ``emissions_kg``, ``duration_s``,
    ``peak_memory_gb``, ``cpu_hours``, ``gpu_hours``) and its logged model (``params``,
    ``forward_flops``). Performance comes from the metrics attached with
    ``Tracker.log_metrics`` or ``impactlib metrics``: only the user knows what performance
    means for their task. Runs without ``performance`` are left out and named in ``lacking``.
    """
    rows = [_record_row(rec) for rec in records]
    _disambiguate(rows)
    lacking = tuple(row["label"] for row in rows if performance not in row)
    if len(lacking) == len(rows):
        found = sorted({str(k) for rec in records for k in _metrics(rec)})
        raise UsageError(
            f"no stored run has the metric '{performance}' ("
            + (f"metrics found: {', '.join(found)}" if found else "no run has metrics")
            + f"); attach it with `impactlib metrics RUN {performance}=VALUE`"
        )
    return StoredRows([row for row in rows if performance in row], lacking)


def _metrics(record: RunRecord) -> dict[str, float]:
    """The numeric task metrics logged for a run."""
    logged = dict((record.model or {}).get("metrics") or {})
    return {
        str(k): v
        for k, v in logged.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def _record_row(record: RunRecord) -> dict[str, Any]:
    """One run's row: the summary's resource figures, then its model figures and metrics.

    Labelled by experiment, the name a user gives what a run tried (``impactlib run -e``);
    the run id only stands in for runs without one.
    """
    summary = record.summary()
    model = record.model or {}
    return {
        "label": record.experiment or record.id[:12],
        "id": record.id,
        "project": record.project,
        "experiment": record.experiment,
        **{k: summary[k] for k in _SUMMARY_COLUMNS},
        "peak_memory_gb": summary["peak_memory_bytes"] / BYTES_PER_GB,
        **{k: model[k] for k in ("params", "forward_flops") if k in model},
        **_metrics(record),
    }


def _disambiguate(rows: list[dict[str, Any]]) -> None:
    """Several runs of one model or experiment (seeds, repeats): add the short run id."""
    counts = Counter(row["label"] for row in rows)
    for row in rows:
        if counts[row["label"]] > 1:
            row["label"] = f"{row['label']} (run {row['id'][:8]})"
