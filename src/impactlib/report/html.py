"""HTML report: one self-contained file with inline SVG charts.

One file, no scripts, no fonts or styles fetched from anywhere: it can be mailed, attached to
a ticket or archived next to the results and still open offline years later. Charts:
energy per minute by component (per run for a few runs, summed over runs otherwise) and
totals per project by component.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING

from ..units import J_PER_KWH
from . import methods, svg

if TYPE_CHECKING:
    from ..store.records import RunRecord, SeriesRow
    from .grid import Grid

PER_RUN_CHARTS = 4  # above this many runs, one summed chart reads better than a wall of them

_STYLE = """
body{font-family:Helvetica,Arial,sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;
color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid
#ddd;padding-bottom:.2em}
.summary{font-size:1.1em;background:#f3f7f3;border-left:4px solid #3a9d5d;padding:8px 12px}
table{border-collapse:collapse;margin:8px 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}
table.grid td,table.grid th{text-align:left;vertical-align:top}
tr.total td{font-weight:bold;background:#fafafa}
.chart{margin:12px 0}.sources{font-size:.85em;color:#555}
"""


def _table(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    total: Sequence[str] | None = None,
    css: str = "",
) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    if total:
        body += '<tr class="total">' + "".join(f"<td>{escape(c)}</td>" for c in total) + "</tr>"
    cls = f' class="{css}"' if css else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _minutes(text: str) -> float:
    """Minutes since the epoch of an ISO 8601 UTC minute stamp."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() / 60.0


def energy_series(rows: Sequence[SeriesRow]) -> dict[str, list[tuple[float, float]]]:
    """``component -> [(minutes since the first row, Wh in that minute)]``, summed per minute."""
    if not rows:
        return {}
    start = min(_minutes(r.minute) for r in rows)
    sums: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        sums[r.component][_minutes(r.minute) - start] += r.energy_j / 3600.0
    order = list(svg.COLOURS)
    kinds = sorted(sums, key=lambda k: order.index(k) if k in order else len(order))
    return {k: sorted(sums[k].items()) for k in kinds}


def _time_charts(
    records: Sequence[RunRecord], series: Mapping[str, Sequence[SeriesRow]]
) -> list[str]:
    with_data = [r for r in records if series.get(r.id)]
    if not with_data:
        return ["<p>No per-minute energy series stored for these runs.</p>"]
    if len(with_data) <= PER_RUN_CHARTS:
        return [
            svg.line_chart(
                energy_series(series[r.id]),
                title=f"Energy per minute by component, run {r.id}",
                x_label=f"minutes since {min(s.minute for s in series[r.id])}",
                y_label="Wh per minute (before PUE)",
            )
            for r in with_data
        ]
    rows = [row for r in with_data for row in series[r.id]]
    return [
        svg.line_chart(
            energy_series(rows),
            title=f"Energy per minute by component, {len(with_data)} runs summed",
            x_label=f"minutes since {min(s.minute for s in rows)}",
            y_label="Wh per minute (before PUE)",
        )
    ]


def _project_chart(records: Sequence[RunRecord]) -> str:
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for rec in records:
        fp = rec.footprint
        if fp is None:
            continue
        for comp in fp.components:
            totals[rec.project or "(none)"][comp.component] += comp.energy_j * fp.pue / J_PER_KWH
    projects = sorted(totals)
    order = list(svg.COLOURS)
    kinds = sorted(
        {k for t in totals.values() for k in t},
        key=lambda k: order.index(k) if k in order else len(order),
    )
    return svg.bar_chart(
        projects,
        {k: [totals[p].get(k, 0.0) for p in projects] for k in kinds},
        title="Energy per project by component",
        y_label="kWh (PUE included)",
    )


def render(
    records: Sequence[RunRecord],
    series: Mapping[str, Sequence[SeriesRow]],
    grid: Grid | None = None,
) -> str:
    """The whole report as one HTML document."""
    figs = methods.figures(records)
    body = [
        "<h1>Energy and carbon report</h1>",
        f'<p class="summary">{escape(methods.human_summary(records))}</p>',
        "<h2>Methods</h2>",
        f"<p>{escape(methods.methods_paragraph(records))}</p>",
        "<h2>Figures</h2>",
        _table(figs.columns, figs.rows, figs.total) if figs.rows else "<p>No finished runs.</p>",
        "<h2>Energy over time</h2>",
        *(f'<div class="chart">{chart}</div>' for chart in _time_charts(records, series)),
        "<h2>Totals per project</h2>",
        f'<div class="chart">{_project_chart(records)}</div>',
    ]
    if grid is not None:
        body.append("<h2>Multi-criteria assessment</h2>")
        if grid.method:
            body.append(f"<p>Method: {escape(grid.method)}</p>")
        body.append(
            _table(("Criterion", "Measured", "Rating", "Answer"), grid.rows(records), css="grid")
        )
    cites = methods.citations(records)
    if cites:
        body.append("<h2>Sources</h2>")
        body.append(
            '<ul class="sources">' + "".join(f"<li>{escape(c)}</li>" for c in cites) + "</ul>"
        )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>impactlib report</title>"
        f"<style>{_STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
