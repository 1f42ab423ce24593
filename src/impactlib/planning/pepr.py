"""PePR: performance per resource unit, for comparing models within one experiment.

Selvan, Pepin, Igel, Samuel & Dam, "PePR: Performance Per Resource Unit as a Metric to
Promote Small-Scale Deep Learning", NLDL 2025 (PMLR 265:220-229, arXiv:2403.12562)::

    PePR = P / (1 + R),   R = (r - min r) / (max r - min r) over the models compared

with ``P`` a performance in [0, 1] and ``r`` a resource: energy (PePR-E), CO2e (PePR-C),
time (PePR-T) or memory (PePR-M). Because ``R`` is normalised over the compared set, a score
only means something next to that set: adding a model can change everyone's score. So the
result object carries the set and its min/max, and the CLI prints them with the scores.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
VARIANT_NAMES = {"E": "energy", "C": "CO2e", "T": "time", "M": "memory"}


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

    def explanation(self) -> str:
        """The formula and the normalisation of this set, in one line."""
        return (
            f"{self.name} = P / (1 + R), P = {self.performance}, R = ({self.resource} - min) / "
            f"(max - min) over these {len(self.rows)} rows"
            + (f" ({self.group})" if self.group else "")
            + f": min {self.resource_min:.6g}, max {self.resource_max:.6g}"
        )

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
    except (TypeError, ValueError):
        raise UsageError(f"row {index} ({label}): '{column}' = {value!r} is not a number") from None
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


def pepr_groups(
    rows: Sequence[Mapping[str, Any]],
    performance: str,
    resource: str,
    group_by: str,
    **kwargs: Any,
) -> list[PeprResult]:
    """One :class:`PeprResult` per value of ``group_by`` (PePR is only defined within a set)."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        if group_by not in row:
            raise UsageError(f"missing column '{group_by}' to group by; columns: {', '.join(row)}")
        groups.setdefault(str(row[group_by]), []).append(row)
    return [
        pepr_table(members, performance, resource, group=f"{group_by} = {key}", **kwargs)
        for key, members in groups.items()
    ]


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
        raise UsageError(f"{file}: cannot be read ({exc.strerror})") from None
    if file.suffix.lower() == ".json" or text.lstrip().startswith(("[", "{")):
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{file}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
        if isinstance(loaded, dict) and isinstance(loaded.get("rows"), list):
            loaded = loaded["rows"]
        if not isinstance(loaded, list) or not all(isinstance(r, dict) for r in loaded):
            raise UsageError(f"{file}: JSON must be a list of objects (one per model)")
        return list(loaded)
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames:
        raise UsageError(f"{file}: empty CSV (a header row is needed)")
    return [{k: _cell(v or "") for k, v in row.items() if k is not None} for row in reader]


def rows_from_records(records: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """Flatten stored runs into PePR input rows.

    Resources: ``energy_kwh``, ``emissions_kg``, ``duration_s``, ``peak_memory_gb``,
    ``cpu_hours``, ``gpu_hours``, model ``params``/``forward_flops`` when logged. Performance
    figures come from the run's logged metrics (a ``metrics`` mapping on the record or inside
    its model metrics), since only the user knows what "performance" means for their task.
    """
    out = []
    for rec in records:
        fp = rec.footprint
        row: dict[str, Any] = {
            "id": rec.id,
            "label": rec.id,
            "project": rec.project,
            "experiment": rec.experiment,
            "energy_kwh": fp.energy_kwh if fp else 0.0,
            "emissions_kg": fp.emissions_kg if fp else 0.0,
            "duration_s": fp.duration_s if fp else 0.0,
            "peak_memory_gb": (fp.peak_memory_bytes / 1e9) if fp else 0.0,
            "cpu_hours": fp.cpu_hours if fp else 0.0,
            "gpu_hours": fp.gpu_hours if fp else 0.0,
        }
        model = rec.model or {}
        for key in ("params", "forward_flops"):
            if key in model:
                row[key] = model[key]
        metrics = getattr(rec, "metrics", None) or model.get("metrics") or {}
        for key, value in dict(metrics).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                row[str(key)] = value
        if model.get("name"):
            row["label"] = str(model["name"])
        out.append(row)
    return out


# --- output --------------------------------------------------------------------------------


def render_text(results: Sequence[PeprResult], columns: Sequence[str] = ()) -> str:
    """Plain-text tables (one per set) with the explanation line above each."""
    blocks = []
    for res in results:
        head = ["model", *columns, res.performance, res.resource, "R", res.name, "Pareto"]
        body = [
            [
                r.label,
                *(_fmt(r.row.get(c, "")) for c in columns),
                _fmt(r.performance),
                _fmt(r.resource),
                f"{r.normalised_resource:.3f}",
                f"{r.pepr:.4f}",
                "*" if r.pareto else "",
            ]
            for r in res.rows
        ]
        widths = [max(len(str(x)) for x in col) for col in zip(head, *body, strict=False)]
        lines = [res.explanation()]
        lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=False)))
        lines.append("  ".join("-" * w for w in widths))
        lines += [
            "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)) for row in body
        ]
        blocks.append("\n".join(line.rstrip() for line in lines))
    return "\n\n".join(blocks)


def rich_table(result: PeprResult, columns: Sequence[str] = ()) -> Any:
    """A rich Table of one set (side by side comparison for ``impactlib demo`` and ``pepr``)."""
    from rich.table import Table

    table = Table(title=result.explanation(), title_justify="left")
    table.add_column("model")
    for col in columns:
        table.add_column(col, justify="right")
    table.add_column(result.performance, justify="right")
    table.add_column(result.resource, justify="right")
    table.add_column("R", justify="right")
    table.add_column(result.name, justify="right", style="bold")
    table.add_column("Pareto", justify="center")
    best = result.best()
    for r in result.rows:
        table.add_row(
            r.label + (" (best)" if r is best else ""),
            *(_fmt(r.row.get(c, "")) for c in columns),
            _fmt(r.performance),
            _fmt(r.resource),
            f"{r.normalised_resource:.3f}",
            f"{r.pepr:.4f}",
            "yes" if r.pareto else "",
        )
    return table


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10000 else str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def plot_svg(result: PeprResult, width: int = 640, height: int = 420) -> str:
    """Performance against resource, Pareto front joined, iso-PePR lines dashed.

    With R min-max normalised, the points of equal PePR ``s`` lie on the straight line
    ``P = s x (1 + (r - min)/(max - min))``, so the "PePR curves" of the paper are lines here.
    """
    from ..report import svg

    points = [(r.resource, r.performance, r.label, r.pareto) for r in result.rows]
    front = sorted((r.resource, r.performance) for r in result.rows if r.pareto)
    span = result.resource_max - result.resource_min
    pad = span * 0.08
    x0, x1 = result.resource_min - pad, result.resource_max + pad
    lines = []
    for s in (0.2, 0.4, 0.6, 0.8):
        lines.append(
            (
                f"{result.name} = {s:g}",
                [(x, s * (1 + (x - result.resource_min) / span)) for x in (x0, x1)],
            )
        )
    return svg.scatter_chart(
        points,
        front=front,
        guides=lines,
        x_label=result.resource,
        y_label=result.performance,
        title=f"{result.name}: {result.performance} against {result.resource}"
        + (f" ({result.group})" if result.group else ""),
        x_range=(x0, x1),
        y_range=(0.0, 1.0),
        width=width,
        height=height,
    )
