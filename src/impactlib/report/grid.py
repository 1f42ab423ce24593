"""Multi-criteria grid: several methods side by side, each judged on more than its footprint.

Energy alone does not decide whether a method should be used. A reviewer or an ethics board
weighs, say, a simple rule, a learned model and a neural network on the same questions:
performance, environmental impact, fairness, explainability/accessibility and need. The grid
puts one column per method next to those rows. Measured figures fill what can be measured:
each method's environmental impact from *its own* runs (chosen by experiment, project or run
ids among the runs the report covers) and its performance from a logged metric or a given
value; the rest are the user's answers, read from a small TOML or YAML file such as::

    title = "Bird-song detection: which method?"

    [[methods]]
    name = "Threshold rule"
    experiment = "threshold-rule"          # its runs; also: project = "...", runs = ["a1b2"]
    performance = { metric = "F1", value = 0.62, rating = "poor" }
    fairness = "Same rule at every site; no personal data."
    explainability = { rating = "high", answer = "Two thresholds anyone can read." }
    need = "Baseline."

    [[methods]]
    name = "CNN"
    experiment = "cnn"
    performance = { metric = "f1" }        # the mean of the runs' logged metric f1
    need = "Replaces manual annotation of 2,000 h of recordings per season."

A file for one method may skip ``[[methods]]``: ``method = "..."`` and the criteria at the top
level, with every run of the report as its runs. Among several methods, one that names no
runs (``experiment``, ``project`` or ``runs``) has none: a method still to be built is "not
measured", never given the other methods' runs. The grid never scores or weighs the
criteria: that judgement belongs to people.
"""

from __future__ import annotations

import difflib
import statistics
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import UsageError
from ..units import format_energy_j, format_mass_kg, format_number
from .figures import add_up, footprint_amounts

if TYPE_CHECKING:
    from ..store.records import RunRecord

CRITERIA: tuple[tuple[str, str], ...] = (
    ("performance", "Performance"),
    ("environment", "Environmental impact"),
    ("fairness", "Fairness"),
    ("explainability", "Explainability / accessibility"),
    ("need", "Need"),
)
_ALIASES = {
    "environmental_impact": "environment",
    "environmental": "environment",
    "impact": "environment",
    "accessibility": "explainability",
    "explainability_accessibility": "explainability",
    "interpretability": "explainability",
}
_FIELDS = ("rating", "answer", "metric", "value", "notes")
_SELECTORS = ("experiment", "project", "runs")
_NAMES = ("name", "method", "title")
NOT_MEASURED = "not measured"  # a method with no runs of its own (one still to be built)


@dataclass(frozen=True)
class Criterion:
    """One criterion as the user answered it for one method."""

    key: str
    title: str
    rating: str = ""
    answer: str = ""
    metric: str = ""
    value: float | None = None


@dataclass(frozen=True)
class RunSelector:
    """Which of the report's runs belong to a method. No condition at all means every run
    for the one method of a grid, and no run for a method among several (``every``)."""

    experiment: str | None = None
    project: str | None = None
    runs: tuple[str, ...] = ()  # run ids or id prefixes
    every: bool = True  # with no condition given: every run (else none)

    @property
    def given(self) -> bool:
        """Whether any condition was given."""
        return self.experiment is not None or self.project is not None or bool(self.runs)

    def select(self, records: Sequence[RunRecord]) -> list[RunRecord]:
        """The runs meeting every condition given."""
        if not self.given and not self.every:
            return []
        return [
            r
            for r in records
            if (self.experiment is None or r.experiment == self.experiment)
            and (self.project is None or r.project == self.project)
            and (not self.runs or r.id.startswith(self.runs))
        ]

    def describe(self) -> str:
        """``experiment = cnn`` etc., to say why a method has no runs."""
        parts = [
            f"{k} = {v}"
            for k, v in (("experiment", self.experiment), ("project", self.project))
            if v
        ]
        if self.runs:
            parts.append(f"runs {', '.join(self.runs)}")
        return ", ".join(parts) or "all runs"


@dataclass(frozen=True)
class Method:
    """One column of the grid: a method, how its runs are found and the user's answers."""

    name: str
    selector: RunSelector
    criteria: tuple[Criterion, ...]


class GridTable(NamedTuple):
    """What a renderer draws: a header (``Criterion`` then one column per method) and one row
    of plain-text cells per criterion."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Grid:
    """The user's answers for each method; :meth:`table` adds what the runs measured."""

    title: str
    methods: tuple[Method, ...]

    def table(self, records: Sequence[RunRecord] = ()) -> GridTable:
        """The grid with each method's environmental figures from its own runs."""
        cells = [_cells(m, m.selector.select(records)) for m in self.methods]
        rows = tuple(
            (title, *(column[i] for column in cells)) for i, (_, title) in enumerate(CRITERIA)
        )
        return GridTable(("Criterion", *(m.name for m in self.methods)), rows)


def _cells(method: Method, runs: Sequence[RunRecord]) -> list[str]:
    """One cell per criterion: what was measured, the rating, the answer (those given)."""
    out = []
    for crit in method.criteria:
        measured = ""
        if crit.key == "environment":
            measured = _environment(runs, method.selector)
        elif crit.key == "performance":
            measured = _performance(crit, runs, method.selector)
        rating = f"rating: {crit.rating}" if crit.rating else ""
        out.append("; ".join(p for p in (measured, rating, crit.answer) if p) or "(not answered)")
    return out


def _environment(runs: Sequence[RunRecord], selector: RunSelector) -> str:
    """Energy (PUE included), operational CO2e and embodied CO2e of the method's runs."""
    if not selector.given and not selector.every:
        return NOT_MEASURED
    footprints = [r.footprint for r in runs if r.footprint is not None]
    if not footprints:
        return f"no measured runs ({selector.describe()})"
    total = add_up(footprint_amounts(fp) for fp in footprints)
    text = f"{format_energy_j(total.energy_j)}, {format_mass_kg(total.emissions_kg)} CO2e"
    if total.embodied_kg is not None:
        text += f" + {format_mass_kg(total.embodied_kg)} embodied"
    return text + f" ({total.runs} run{'s' if total.runs != 1 else ''})"


def _performance(crit: Criterion, runs: Sequence[RunRecord], selector: RunSelector) -> str:
    """The given value, else the mean of the runs' logged metric of that name."""
    name = crit.metric or "performance"
    if crit.value is not None:
        return f"{name} = {format_number(crit.value)}"
    if not crit.metric:
        return ""
    if not selector.given and not selector.every:
        return f"{name}: {NOT_MEASURED}"
    logged = [
        v
        for r in runs
        if isinstance(v := ((r.model or {}).get("metrics") or {}).get(crit.metric), (int, float))
        and not isinstance(v, bool)
    ]
    if not logged:
        return f"{name}: not logged by its runs"
    mean = format_number(statistics.fmean(logged))
    return f"{name} = {mean}" + (f" (mean of {len(logged)} runs)" if len(logged) > 1 else "")


# --- reading -------------------------------------------------------------------------------


def _text(where: str, key: str, value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise UsageError(f"{where}: '{key}' must be text or a number, not a {type(value).__name__}")
    return str(value).strip()


def _unknown(where: str, key: str, allowed: Sequence[str]) -> UsageError:
    close = difflib.get_close_matches(key, list(allowed) + list(_ALIASES), n=2, cutoff=0.6)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return UsageError(f"{where}: unknown key '{key}'{hint}; allowed: {', '.join(allowed)}")


def _criterion(where: str, key: str, title: str, answer: Mapping[str, Any]) -> Criterion:
    number = answer.get("value")
    if number is not None:
        try:
            number = float(number)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"{where}: '{key}.value' = {number!r} is not a number") from exc
    text = _text(where, f"{key}.answer", answer.get("answer", ""))
    notes = _text(where, f"{key}.notes", answer.get("notes", ""))
    return Criterion(
        key,
        title,
        rating=_text(where, f"{key}.rating", answer.get("rating", "")),
        answer="; ".join(x for x in (text, notes) if x),
        metric=_text(where, f"{key}.metric", answer.get("metric", "")),
        value=number,
    )


def _selector(where: str, raw: Mapping[str, Any], every: bool) -> RunSelector:
    runs = raw.get("runs", ())
    if isinstance(runs, str):
        runs = (runs,)
    if not isinstance(runs, (list, tuple)):
        raise UsageError(f"{where}: 'runs' must be a list of run ids or id prefixes")
    project, experiment = raw.get("project"), raw.get("experiment")
    return RunSelector(
        experiment=None if experiment is None else _text(where, "experiment", experiment),
        project=None if project is None else _text(where, "project", project),
        runs=tuple(_text(where, "runs", r) for r in runs),
        every=every,
    )


def method_from_mapping(
    raw: Mapping[str, Any], where: str, default_name: str, alone: bool = True
) -> Method:
    """One method: its name, run selector and answers (known criteria and fields only);
    ``alone``: the grid's only method, whose runs are every run unless it names some."""
    known = [k for k, _ in CRITERIA]
    answers: dict[str, Mapping[str, Any]] = {}
    name = default_name
    for key, value in raw.items():
        if key in _NAMES:
            name = _text(where, key, value)
            continue
        if key in _SELECTORS:
            continue
        criterion = _ALIASES.get(key, key)
        if criterion not in known:
            raise _unknown(where, key, [*_NAMES[:2], *_SELECTORS, *known])
        if isinstance(value, str):
            value = {"answer": value}
        if not isinstance(value, Mapping):
            raise UsageError(f"{where}: '{key}' must be a table of {', '.join(_FIELDS)}")
        for field in value:
            if field not in _FIELDS:
                raise UsageError(
                    f"{where}: unknown field '{key}.{field}'; allowed: {', '.join(_FIELDS)}"
                )
        answers[criterion] = value
    criteria = tuple(_criterion(where, k, title, answers.get(k, {})) for k, title in CRITERIA)
    return Method(name, _selector(where, raw, every=alone), criteria)


def grid_from_mapping(raw: Mapping[str, Any], where: str = "grid") -> Grid:
    """Validate a parsed grid file: ``title`` and a list ``methods``, or one method's answers
    at the top level (named by ``method``)."""
    if "methods" not in raw:
        return Grid("", (method_from_mapping(raw, where, "This method"),))
    stray = [k for k in raw if k not in ("title", "methods")]
    if stray:
        raise UsageError(
            f"{where}: '{stray[0]}' at the top level of a grid with methods; "
            "put criteria and run selections inside each [[methods]] entry"
        )
    listed = raw["methods"]
    if (
        not isinstance(listed, list)
        or not listed
        or not all(isinstance(m, Mapping) for m in listed)
    ):
        raise UsageError(f"{where}: 'methods' must be a list of tables ([[methods]] in TOML)")
    methods = tuple(
        method_from_mapping(m, f"{where}, method {i}", f"Method {i}", alone=len(listed) == 1)
        for i, m in enumerate(listed, start=1)
    )
    return Grid(_text(where, "title", raw.get("title", "")), methods)


def load_grid(path: str | Path) -> Grid:
    """Read a grid from a ``.toml``, ``.yaml`` or ``.yml`` file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{file}: cannot be read ({exc.strerror})") from exc
    suffix = file.suffix.lower()
    raw: Any
    if suffix == ".toml":
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10 only
            import tomli as tomllib
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"{file}: not valid TOML ({exc})") from exc
    elif suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as exc:
            raise UsageError(
                f"{file}: reading YAML needs PyYAML (pip install pyyaml), or use TOML"
            ) from exc
        try:
            raw = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()[0] if str(exc) else "syntax error"
            raise UsageError(f"{file}: not valid YAML ({first})") from exc
    else:
        raise UsageError(f"{file}: the grid must be a .toml, .yaml or .yml file")
    if not isinstance(raw, Mapping):
        raise UsageError(f"{file}: the grid must be a mapping of criteria")
    return grid_from_mapping(raw, str(file))
