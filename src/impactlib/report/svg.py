"""Small hand-built SVG charts: line, stacked bar and scatter.

Written by hand rather than with matplotlib so that the HTML report is one self-contained file
that opens anywhere without network, JavaScript or an optional dependency, and so that the
output is deterministic text that tests can inspect. Only what the reports need is here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

from ..units import format_number

# One colour per component kind, kept the same in every chart of a report.
COLOURS = {
    "cpu": "#3b6fb6",
    "dram": "#e08a2e",
    "gpu": "#3a9d5d",
    "memory": "#8e5bb5",
}
_EXTRA = ("#c0504d", "#4bacc6", "#9b8b2e", "#6d6d6d", "#d16fa8", "#2e7d7d")
_FONT = 'font-family="Helvetica, Arial, sans-serif"'
_LEFT, _RIGHT, _TOP, _BOTTOM = 70, 20, 40, 60


def colour(name: str, index: int = 0) -> str:
    """The colour of a component kind, or a stable colour for any other series."""
    return COLOURS.get(name, _EXTRA[index % len(_EXTRA)])


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [low, high] (steps of 1, 2 or 5 x 10^k)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    start = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _label(value: float) -> str:
    return format_number(value)


class _Frame:
    """Maps data coordinates to pixels inside the plotting area and draws the axes."""

    def __init__(
        self,
        width: int,
        height: int,
        x_range: tuple[float, float],
        y_range: tuple[float, float],
    ) -> None:
        self.width, self.height = width, height
        self.x0, self.x1 = x_range
        self.y0, self.y1 = y_range
        if self.x1 <= self.x0:
            self.x1 = self.x0 + 1.0
        if self.y1 <= self.y0:
            self.y1 = self.y0 + 1.0

    def x(self, value: float) -> float:
        span = self.width - _LEFT - _RIGHT
        return _LEFT + (value - self.x0) / (self.x1 - self.x0) * span

    def y(self, value: float) -> float:
        span = self.height - _TOP - _BOTTOM
        return self.height - _BOTTOM - (value - self.y0) / (self.y1 - self.y0) * span

    def axes(self, x_label: str, y_label: str, x_ticks: bool = True) -> list[str]:
        out = []
        for tick in nice_ticks(self.y0, self.y1):
            if self.y0 - 1e-12 <= tick <= self.y1 + 1e-12:
                py = self.y(tick)
                out.append(
                    f'<line x1="{_LEFT}" y1="{py:.1f}" x2="{self.width - _RIGHT}" y2="{py:.1f}" '
                    'stroke="#e4e4e4"/>'
                )
                out.append(
                    f'<text x="{_LEFT - 6}" y="{py + 4:.1f}" text-anchor="end" font-size="11" '
                    f'fill="#444">{_label(tick)}</text>'
                )
        if x_ticks:
            for tick in nice_ticks(self.x0, self.x1):
                if self.x0 - 1e-12 <= tick <= self.x1 + 1e-12:
                    px = self.x(tick)
                    out.append(
                        f'<text x="{px:.1f}" y="{self.height - _BOTTOM + 16}" '
                        f'text-anchor="middle" font-size="11" fill="#444">{_label(tick)}</text>'
                    )
        bottom = self.height - _BOTTOM
        out.append(
            f'<line x1="{_LEFT}" y1="{bottom}" x2="{self.width - _RIGHT}" y2="{bottom}" '
            'stroke="#333"/>'
        )
        out.append(f'<line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{bottom}" stroke="#333"/>')
        out.append(
            f'<text x="{(_LEFT + self.width - _RIGHT) / 2:.1f}" y="{self.height - 22}" '
            f'text-anchor="middle" font-size="12">{escape(x_label)}</text>'
        )
        mid = (_TOP + bottom) / 2
        out.append(
            f'<text x="16" y="{mid:.1f}" text-anchor="middle" font-size="12" '
            f'transform="rotate(-90 16 {mid:.1f})">{escape(y_label)}</text>'
        )
        return out


def _document(width: int, height: int, title: str, body: list[str], kind: str) -> str:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="impactlib-chart {kind}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" {_FONT}>'
        f"<title>{escape(title)}</title>"
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>'
        f'<text x="{_LEFT}" y="22" font-size="14" font-weight="bold">{escape(title)}</text>'
    )
    return head + "".join(body) + "</svg>"


def _legend(names: Sequence[str], colours: Sequence[str], width: int) -> list[str]:
    out = []
    x = width - _RIGHT - 110 * len(names)
    for name, col in zip(names, colours, strict=False):
        out.append(f'<rect x="{x}" y="30" width="12" height="12" fill="{col}"/>')
        out.append(f'<text x="{x + 16}" y="40" font-size="11">{escape(name)}</text>')
        x += 110
    return out


def line_chart(
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    width: int = 720,
    height: int = 320,
    gap: float | None = None,
) -> str:
    """One line per named series (points sorted by x); a lone point is drawn as a dot.

    With ``gap``, points further apart in x than that are not joined: the line breaks where
    data is missing instead of drawing a slope across it.
    """
    xs = [x for pts in series.values() for x, _ in pts]
    ys = [y for pts in series.values() for _, y in pts]
    frame = _Frame(
        width,
        height,
        (min(xs, default=0.0), max(xs, default=1.0)),
        (0.0, max(ys, default=1.0) * 1.08 or 1.0),
    )
    body = frame.axes(x_label, y_label)
    names = list(series)
    cols = [colour(n, i) for i, n in enumerate(names)]
    for name, col in zip(names, cols, strict=False):
        pts = sorted(series[name])
        for run in _runs(pts, gap):
            coords = " ".join(f"{frame.x(x):.1f},{frame.y(y):.1f}" for x, y in run)
            if len(run) > 1:
                body.append(
                    f'<polyline class="series" data-series="{escape(name)}" points="{coords}" '
                    f'fill="none" stroke="{col}" stroke-width="2"/>'
                )
        # dots while they can be told apart, and always for a point no line reaches
        dots = pts if len(pts) <= 60 else [r[0] for r in _runs(pts, gap) if len(r) == 1]
        body += [
            f'<circle cx="{frame.x(x):.1f}" cy="{frame.y(y):.1f}" r="2.5" fill="{col}"/>'
            for x, y in dots
        ]
    body += _legend(names, cols, width)
    return _document(width, height, title, body, "line-chart")


def _runs(
    points: Sequence[tuple[float, float]], gap: float | None
) -> list[list[tuple[float, float]]]:
    """``points`` (sorted by x) cut wherever x jumps by more than ``gap``."""
    out: list[list[tuple[float, float]]] = []
    for point in points:
        if out and (gap is None or point[0] - out[-1][-1][0] <= gap + 1e-9):
            out[-1].append(point)
        else:
            out.append([point])
    return out


def bar_chart(
    categories: Sequence[str],
    stacks: Mapping[str, Sequence[float]],
    *,
    title: str,
    y_label: str,
    width: int = 720,
    height: int = 320,
) -> str:
    """Stacked bars: one bar per category, one coloured segment per stack name."""
    totals = [sum(values[i] for values in stacks.values()) for i in range(len(categories))]
    frame = _Frame(
        width,
        height,
        (0.0, float(max(len(categories), 1))),
        (0.0, max(totals, default=1.0) * 1.1 or 1.0),
    )
    body = frame.axes("", y_label, x_ticks=False)
    names = list(stacks)
    cols = [colour(n, i) for i, n in enumerate(names)]
    bar_w = (frame.x(1) - frame.x(0)) * 0.6
    for i, cat in enumerate(categories):
        base = 0.0
        cx = frame.x(i + 0.5)
        for name, col in zip(names, cols, strict=False):
            value = stacks[name][i]
            if value <= 0:
                continue
            top, bottom = frame.y(base + value), frame.y(base)
            body.append(
                f'<rect class="bar" x="{cx - bar_w / 2:.1f}" y="{top:.1f}" width="{bar_w:.1f}" '
                f'height="{bottom - top:.1f}" fill="{col}"><title>{escape(cat)} {escape(name)}: '
                f"{_label(value)}</title></rect>"
            )
            base += value
        body.append(
            f'<text x="{cx:.1f}" y="{height - _BOTTOM + 16}" text-anchor="middle" '
            f'font-size="11">{escape(cat[:24])}</text>'
        )
        body.append(
            f'<text x="{cx:.1f}" y="{frame.y(totals[i]) - 4:.1f}" text-anchor="middle" '
            f'font-size="10" fill="#333">{_label(totals[i])}</text>'
        )
    body += _legend(names, cols, width)
    return _document(width, height, title, body, "bar-chart")


def scatter_chart(
    points: Sequence[tuple[float, float, str, bool]],
    *,
    front: Sequence[tuple[float, float]] = (),
    guides: Sequence[tuple[str, Sequence[tuple[float, float]]]] = (),
    x_label: str,
    y_label: str,
    title: str,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    width: int = 640,
    height: int = 420,
) -> str:
    """Labelled points (x, y, label, highlighted), a joined front and dashed guide lines."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    frame = _Frame(
        width,
        height,
        x_range or (min(xs, default=0.0), max(xs, default=1.0)),
        y_range or (min(ys, default=0.0), max(ys, default=1.0)),
    )
    body = frame.axes(x_label, y_label)
    clip = (
        f'<clipPath id="plot-area"><rect x="{_LEFT}" y="{_TOP}" '
        f'width="{width - _LEFT - _RIGHT}" height="{height - _TOP - _BOTTOM}"/></clipPath>'
    )
    body.append(clip)
    for name, pts in guides:
        coords = " ".join(f"{frame.x(x):.1f},{frame.y(y):.1f}" for x, y in pts)
        body.append(
            f'<polyline class="guide" points="{coords}" fill="none" stroke="#9a9a9a" '
            f'stroke-dasharray="4 4" clip-path="url(#plot-area)"><title>{escape(name)}</title>'
            "</polyline>"
        )
        # label each guide at its right end, or where it leaves the top of the plotting area
        if len(pts) >= 2:
            (ax, ay), (bx, by) = pts[-2], pts[-1]
            if by > frame.y1 and by != ay:
                bx = ax + (frame.y1 - ay) * (bx - ax) / (by - ay)
                by = frame.y1
            body.append(
                f'<text x="{frame.x(bx) - 4:.1f}" y="{frame.y(by) + 12:.1f}" text-anchor="end" '
                f'font-size="10" fill="#777">{escape(name)}</text>'
            )
    if len(front) > 1:
        coords = " ".join(f"{frame.x(x):.1f},{frame.y(y):.1f}" for x, y in front)
        body.append(
            f'<polyline class="pareto-front" points="{coords}" fill="none" stroke="#c0504d" '
            'stroke-width="2"/>'
        )
    for x, y, label, marked in points:
        fill = "#c0504d" if marked else "#3b6fb6"
        body.append(
            f'<circle class="point" cx="{frame.x(x):.1f}" cy="{frame.y(y):.1f}" r="5" '
            f'fill="{fill}"><title>{escape(label)}</title></circle>'
        )
        body.append(
            f'<text x="{frame.x(x) + 7:.1f}" y="{frame.y(y) + 4:.1f}" font-size="11">'
            f"{escape(label)}</text>"
        )
    body += _legend(["Pareto front", "other"], ["#c0504d", "#3b6fb6"], width)
    return _document(width, height, title, body, "scatter-chart")
