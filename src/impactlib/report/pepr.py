"""PePR results for people: the scores as a table, performance against resource as a plot.

:mod:`impactlib.planning.pepr` scores the models; this module only lays a result out. A
known resource column (``energy_kwh``, ``emissions_kg``...) is shown in one unit for the
whole column, chosen by its largest value, so rows compare at a glance and nothing is
printed in scientific notation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ..units import (
    ENERGY_SCALES,
    J_PER_KWH,
    MASS_SCALES,
    TIME_SCALES,
    Scale,
    format_number,
    scale_for,
)
from . import svg

if TYPE_CHECKING:
    from ..planning.pepr import PeprResult


class _Unit(NamedTuple):
    """How a known column is shown: its value times ``to_base`` is in the scales' base unit."""

    to_base: float
    scales: tuple[Scale, ...]


_UNITS = {
    "energy_kwh": _Unit(J_PER_KWH, ENERGY_SCALES),
    "emissions_kg": _Unit(1.0, MASS_SCALES),
    "duration_s": _Unit(1.0, TIME_SCALES),
    "peak_memory_gb": _Unit(1.0, (Scale("GB", 1.0),)),
    "cpu_hours": _Unit(1.0, (Scale("CPU-h", 1.0),)),
    "gpu_hours": _Unit(1.0, (Scale("GPU-h", 1.0),)),
}


def display_scale(column: str, values: Sequence[Any]) -> tuple[float, str]:
    """``(factor, symbol)`` showing a known resource column in one unit chosen by its largest
    value (``energy_kwh`` of 0.004 -> Wh); ``(1.0, "")`` for other columns."""
    unit = _UNITS.get(column)
    numbers = [abs(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if unit is None or not numbers:
        return 1.0, ""
    scale = scale_for(max(numbers) * unit.to_base, unit.scales)
    return unit.to_base / scale.size, scale.symbol


def column_format(column: str, values: Sequence[Any]) -> Callable[[Any], str]:
    """A formatter for one column of a table: a known resource in one unit for the whole
    column (so rows compare at a glance), other numbers plain, never in scientific notation."""
    factor, symbol = display_scale(column, values)
    if not symbol:
        return _plain

    def show(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return str(value)
        return f"{format_number(value * factor)} {symbol}"

    return show


def _plain(value: Any) -> str:
    """Numbers without scientific notation; whole numbers in full; anything else as text."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return format_number(value, 4)
    return str(value)


def explanation(result: PeprResult) -> str:
    """The formula and the normalisation of the result's set, in one line: a score only
    means something next to the set it was normalised over."""
    show = column_format(result.resource, [result.resource_min, result.resource_max])
    return (
        f"{result.name} = P / (1 + R), P = {result.performance}, R = ({result.resource} - min) "
        f"/ (max - min) over these {len(result.rows)} rows"
        + (f" ({result.group})" if result.group else "")
        + f": min {show(result.resource_min)}, max {show(result.resource_max)}"
    )


def rich_table(result: PeprResult) -> Any:
    """A rich Table of one set, models side by side. Every text is a ``Text``: labels and
    column names come from the user's files and runs, and rich markup must not eat them."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=Text(explanation(result)), title_justify="left")
    table.add_column(Text("model"))
    shown = [result.performance, result.resource]
    for col in shown:
        table.add_column(Text(col), justify="right")
    table.add_column(Text("R"), justify="right")
    table.add_column(Text(result.name), justify="right", style="bold")
    table.add_column(Text("Pareto"), justify="center")
    values = {
        result.performance: [r.performance for r in result.rows],
        result.resource: [r.resource for r in result.rows],
    }
    formats = {c: column_format(c, values[c]) for c in shown}
    best = result.best()
    for r in result.rows:
        cells = (
            r.label + (" (best)" if r is best else ""),
            formats[result.performance](r.performance),
            formats[result.resource](r.resource),
            format_number(r.normalised_resource),
            format_number(r.pepr),
            "yes" if r.pareto else "",
        )
        table.add_row(*(Text(c) for c in cells))
    return table


def plot_svg(result: PeprResult, width: int = 640, height: int = 420) -> str:
    """Performance against resource, Pareto front joined, iso-PePR lines dashed.

    With R min-max normalised, the points of equal PePR ``s`` lie on the straight line
    ``P = s x (1 + (r - min)/(max - min))``, so the "PePR curves" of the paper are lines here.
    """
    # In the column's display unit (Wh, g...), so the axis reads without tiny fractions; R is
    # unchanged by the scaling.
    factor, symbol = display_scale(result.resource, [result.resource_max])
    low, high = result.resource_min * factor, result.resource_max * factor
    points = [(r.resource * factor, r.performance, r.label, r.pareto) for r in result.rows]
    front = sorted((x, p) for x, p, _, pareto in points if pareto)
    span = high - low
    pad = span * 0.08
    x0, x1 = low - pad, high + pad
    lines = [
        (f"{result.name} = {s:g}", [(x, s * (1 + (x - low) / span)) for x in (x0, x1)])
        for s in (0.2, 0.4, 0.6, 0.8)
    ]
    return svg.scatter_chart(
        points,
        front=front,
        guides=lines,
        x_label=f"{result.resource} ({symbol})" if symbol else result.resource,
        y_label=result.performance,
        title=f"{result.name}: {result.performance} against {result.resource}"
        + (f" ({result.group})" if result.group else ""),
        x_range=(x0, x1),
        y_range=(0.0, 1.0),
        width=width,
        height=height,
    )
