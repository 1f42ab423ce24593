"""Multi-criteria grid for judging an AI method: is it worth its footprint?

Energy alone does not decide whether a method should be used; a grid puts it next to the
other questions a reviewer or an ethics board asks: performance, environmental impact,
fairness, explainability/accessibility and need. Measured figures fill what can be measured
(environmental impact from the runs, performance when given as a number); the rest are the
user's own answers, read from a small TOML or YAML file such as::

    method = "ResNet-18 fine-tuned for bird-song detection"

    [performance]
    metric = "F1 on held-out recorders"
    value = 0.91
    rating = "good"

    [fairness]
    rating = "partial"
    answer = "Evaluated per recorder site; no personal data."

    [explainability]
    answer = "Saliency maps shown to annotators; model and code public."

    [need]
    answer = "Replaces manual annotation of 2,000 h of recordings per season."

The grid never scores or weighs the criteria: that judgement belongs to people.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UsageError

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


@dataclass(frozen=True)
class Criterion:
    """One line of the grid as the user answered it."""

    key: str
    title: str
    rating: str = ""
    answer: str = ""
    metric: str = ""
    value: float | None = None


@dataclass(frozen=True)
class Grid:
    """The user's answers; :meth:`rows` adds the measured figures."""

    method: str
    criteria: tuple[Criterion, ...]

    def rows(self, records: Sequence[RunRecord] = ()) -> list[tuple[str, str, str, str]]:
        """``(criterion, measured, rating, answer)`` cells for every criterion, in order."""
        out = []
        for crit in self.criteria:
            measured = ""
            if crit.key == "environment":
                measured = _environment(records)
            elif crit.key == "performance" and crit.value is not None:
                measured = f"{crit.metric or 'performance'} = {crit.value:g}"
            out.append(
                (crit.title, measured or "-", crit.rating or "-", crit.answer or "(not answered)")
            )
        return out


def _environment(records: Sequence[RunRecord]) -> str:
    footprints = [r.footprint for r in records if r.footprint is not None]
    if not footprints:
        return ""
    energy = sum(fp.energy_kwh for fp in footprints)
    co2 = sum(fp.emissions_kg for fp in footprints)
    text = f"{energy:.4g} kWh, {co2:.4g} kg CO2e operational"
    embodied = [fp.embodied_kg for fp in footprints if fp.embodied_kg is not None]
    if embodied:
        text += f" + {sum(embodied):.3g} kg embodied"
    return text + f" ({len(footprints)} run{'s' if len(footprints) != 1 else ''})"


def _text(where: str, key: str, value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise UsageError(f"{where}: '{key}' must be text or a number, not a {type(value).__name__}")
    return str(value).strip()


def grid_from_mapping(raw: Mapping[str, Any], where: str = "grid") -> Grid:
    """Validate the parsed file: known criteria and fields only (with close-match hints)."""
    known = [k for k, _ in CRITERIA]
    answers: dict[str, dict[str, Any]] = {}
    method = ""
    for key, value in raw.items():
        if key in ("method", "name", "title"):
            method = _text(where, key, value)
            continue
        name = _ALIASES.get(key, key)
        if name not in known:
            close = difflib.get_close_matches(key, known + list(_ALIASES), n=2, cutoff=0.6)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise UsageError(
                f"{where}: unknown criterion '{key}'{hint}; allowed: method, {', '.join(known)}"
            )
        if isinstance(value, str):
            value = {"answer": value}
        if not isinstance(value, Mapping):
            raise UsageError(f"{where}: '{key}' must be a table of {', '.join(_FIELDS)}")
        for field in value:
            if field not in _FIELDS:
                raise UsageError(
                    f"{where}: unknown field '{key}.{field}'; allowed: {', '.join(_FIELDS)}"
                )
        answers[name] = dict(value)
    criteria = []
    for key, title in CRITERIA:
        ans = answers.get(key, {})
        number = ans.get("value")
        if number is not None:
            try:
                number = float(number)
            except (TypeError, ValueError):
                raise UsageError(f"{where}: '{key}.value' = {number!r} is not a number") from None
        answer = _text(where, f"{key}.answer", ans.get("answer", ""))
        notes = _text(where, f"{key}.notes", ans.get("notes", ""))
        criteria.append(
            Criterion(
                key,
                title,
                rating=_text(where, f"{key}.rating", ans.get("rating", "")),
                answer="; ".join(x for x in (answer, notes) if x),
                metric=_text(where, f"{key}.metric", ans.get("metric", "")),
                value=number,
            )
        )
    return Grid(method, tuple(criteria))


def load_grid(path: str | Path) -> Grid:
    """Read a grid from a ``.toml``, ``.yaml`` or ``.yml`` file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{file}: cannot be read ({exc.strerror})") from None
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
            raise UsageError(f"{file}: not valid TOML ({exc})") from None
    elif suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise UsageError(
                f"{file}: reading YAML needs PyYAML (pip install pyyaml), or use TOML"
            ) from None
        try:
            raw = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()[0] if str(exc) else "syntax error"
            raise UsageError(f"{file}: not valid YAML ({first})") from None
    else:
        raise UsageError(f"{file}: the grid must be a .toml, .yaml or .yml file")
    if not isinstance(raw, Mapping):
        raise UsageError(f"{file}: the grid must be a mapping of criteria")
    return grid_from_mapping(raw, str(file))
