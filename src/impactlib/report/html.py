"""HTML report: one self-contained file with inline SVG charts.

One file, no scripts, no fonts or styles fetched from anywhere: it can be mailed, attached to
a ticket or archived next to the results and still open offline years later. It fits a
1280 px screen; numbers are in the units their magnitude calls for, run ids are short.
Charts: energy per minute by component (per run for a few runs, summed over runs otherwise;
a minute with no data breaks the line rather than being drawn as a slope; runs too short for
a curve say so), and energy by component of the run, of each run or of each project.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING

from .._time import epoch_minutes
from ..footprint import Component
from ..units import ENERGY_SCALES, J_PER_KWH, scale_for
from . import lab, methods, svg
from .worktables import work_tables

if TYPE_CHECKING:
    from ..store.records import RunRecord, SeriesRow
    from .runs import RunsReport

PER_RUN_CHARTS = 4  # above this many runs, one summed chart reads better than a wall of them
MIN_MINUTES = 3  # fewer stored minutes draw no curve worth reading, only a dot or a segment
MAX_RUN_BARS = 12  # one bar per run up to this many (one project); per project beyond

_STYLE = """
body{font-family:Helvetica,Arial,sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;
color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid
#ddd;padding-bottom:.2em}
.summary{font-size:1.1em;background:#f3f7f3;border-left:4px solid #3a9d5d;padding:8px 12px}
table{border-collapse:collapse;margin:8px 0;font-size:.9em}
.wide{overflow-x:auto}.notes{font-size:.85em;color:#444}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left;white-space:nowrap}
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


def energy_series(rows: Sequence[SeriesRow]) -> dict[str, list[tuple[float, float]]]:
    """``component -> [(minutes since the first row, joules in that minute)]``, summed per
    minute; minutes with no row are absent, so a chart can show them as gaps."""
    if not rows:
        return {}
    start = min(epoch_minutes(r.minute) for r in rows)
    sums: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        sums[r.component][epoch_minutes(r.minute) - start] += r.energy_j
    kinds = sorted(sums, key=_kind_order)
    return {k: sorted(sums[k].items()) for k in kinds}


def _kind_order(kind: str) -> int:
    order = list(svg.COLOURS)
    return order.index(kind) if kind in order else len(order)


def _since(rows: Sequence[SeriesRow]) -> str:
    first = min(r.minute for r in rows)
    return f"minutes since {first[:10]} {first[11:16]} UTC"


def _time_chart(rows: Sequence[SeriesRow], title: str) -> str:
    """Energy per minute in the unit its largest minute calls for; missing minutes break the
    lines (a run that was not running is not drawn as a slope between two points)."""
    joules = energy_series(rows)
    scale = scale_for(
        max((j for pts in joules.values() for _, j in pts), default=0.0), ENERGY_SCALES
    )
    return svg.line_chart(
        {k: [(m, j / scale.size) for m, j in pts] for k, pts in joules.items()},
        title=title,
        x_label=_since(rows),
        y_label=f"{scale.symbol} per minute (before PUE)",
        gap=1.0,
    )


def _minutes(rows: Sequence[SeriesRow]) -> int:
    return len({r.minute for r in rows})


def _time_charts(
    records: Sequence[RunRecord], series: Mapping[str, Sequence[SeriesRow]]
) -> list[str]:
    with_data = [r for r in records if series.get(r.id)]
    if not with_data:
        return ["<p>No per-minute energy series stored for these runs.</p>"]
    if len(with_data) > PER_RUN_CHARTS:
        rows = [row for r in with_data for row in series[r.id]]
        if _minutes(rows) < MIN_MINUTES:
            return [_too_short(f"These {len(with_data)} runs", plural=True)]
        return [_time_chart(rows, f"Energy per minute by component, {len(with_data)} runs summed")]
    charts = [
        _time_chart(series[r.id], f"Energy per minute by component, run {methods.short_id(r.id)}")
        for r in with_data
        if _minutes(series[r.id]) >= MIN_MINUTES
    ]
    short = [methods.short_id(r.id) for r in with_data if _minutes(series[r.id]) < MIN_MINUTES]
    if short:
        label = f"Run{'s' if len(short) > 1 else ''} {', '.join(short)}"
        charts.append(_too_short(label, plural=len(short) > 1))
    return charts


def _too_short(label: str, plural: bool) -> str:
    return (
        f"<p>{escape(label)} spanned fewer than {MIN_MINUTES} clock minutes: too short for a "
        f"curve per minute; {'their' if plural else 'its'} energy by component is below.</p>"
    )


def _component_chart(records: Sequence[RunRecord]) -> str:
    """Energy by component: of the run, of each run, or of each project, whichever is the
    finest that still reads as one chart."""
    measured = [r for r in records if r.footprint is not None]
    if len(measured) == 1:
        fp = measured[0].footprint
        assert fp is not None
        kinds = sorted({c.component for c in fp.components}, key=_kind_order)
        names = [methods.COMPONENT_NAMES.get(k, k) for k in kinds]
        stacks = {
            k: [fp.component_kwh(k) * J_PER_KWH if k == kk else 0.0 for kk in kinds] for k in kinds
        }
        title = f"Energy by component, run {methods.short_id(measured[0].id)}"
        return _bars(names, stacks, title)
    projects = sorted({r.project or "(none)" for r in measured})
    if len(projects) == 1 and len(measured) <= MAX_RUN_BARS:
        labels = [methods.short_id(r.id) for r in measured]
        groups = [[r] for r in measured]
        title = f"Energy per run by component, project {projects[0]}"
    else:
        labels = projects
        groups = [[r for r in measured if (r.project or "(none)") == p] for p in projects]
        title = "Energy per project by component"
    kinds = sorted(
        {c.component for r in measured if r.footprint for c in r.footprint.components},
        key=_kind_order,
    )
    stacks = {
        k: [
            sum(r.footprint.component_kwh(k) * J_PER_KWH for r in group if r.footprint)
            for group in groups
        ]
        for k in kinds
    }
    return _bars(labels, stacks, title)


def _bars(labels: Sequence[str], stacks_j: Mapping[Component, Sequence[float]], title: str) -> str:
    totals = [sum(values[i] for values in stacks_j.values()) for i in range(len(labels))]
    scale = scale_for(max(totals, default=0.0), ENERGY_SCALES)
    return svg.bar_chart(
        labels,
        {str(k): [v / scale.size for v in values] for k, values in stacks_j.items()},
        title=title,
        y_label=f"{scale.symbol} (PUE included)",
    )


def render_runs(report: RunsReport, width: int) -> str:
    """The whole report as one HTML document."""
    del width  # the browser lays it out
    records, grid = report.records, report.grid
    series = {r.id: report.series(r.id) for r in records}
    figs = methods.figures(records)
    text = methods.methods_text(records)
    body = [
        "<h1>Energy and carbon report</h1>",
        f'<p class="summary">{escape(methods.human_summary(records))}</p>',
        "<h2>Methods</h2>",
        *(f"<p>{escape(p)}</p>" for p in text.paragraphs),
    ]
    if text.notes:
        body.append("<h3>Notes</h3>")
        body.append(
            '<ul class="notes">' + "".join(f"<li>{escape(n)}</li>" for n in text.notes) + "</ul>"
        )
    body += [
        "<h2>Figures</h2>",
        f'<div class="wide">{_table(figs.columns, figs.rows, figs.total)}</div>'
        if figs.rows
        else "<p>No finished runs.</p>",
        *(
            f"<h2>{escape(c.title)}</h2><div class='wide'>{_table(c.header, c.rows)}</div>"
            f"<p class='notes'>{escape(c.note)}</p>"
            for c in work_tables(report.figures)
        ),
        "<h2>Energy over time</h2>",
        *(f'<div class="chart">{chart}</div>' for chart in _time_charts(records, series)),
        "<h2>Energy by component</h2>",
        f'<div class="chart">{_component_chart(records)}</div>',
    ]
    if grid is not None:
        body.append("<h2>Multi-criteria assessment</h2>")
        if grid.title:
            body.append(f"<p>{escape(grid.title)}</p>")
        grid_table = grid.table(records)
        body.append(_table(grid_table.columns, grid_table.rows, css="grid"))
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


def render_lab(report: lab.LabReport, width: int) -> str:
    """One self-contained page (no scripts), styled like the run reports."""
    del width
    c = lab.cells(report)
    name = escape(lab.title(report))
    body = [f"<h1>{name}</h1>", f"<div class='wide'>{_table(c.header, c.rows, c.total)}</div>"]
    body.append(f"<p class='notes'>{escape(lab.NOTE)}</p>")
    rest = lab.unattributed_cells(report)
    if rest is not None:
        body.append(f"<h2>{escape(lab.UNATTRIBUTED_TITLE)}</h2>")
        body.append(f"<div class='wide'>{_table(rest.header, rest.rows)}</div>")
    units = lab.unit_cells(report)
    if units is not None:
        body.append(f"<h2>{escape(lab.UNITS_TITLE)}</h2>")
        body.append(f"<div class='wide'>{_table(units.header, units.rows)}</div>")
        body.append(f"<p class='notes'>{escape(lab.UNITS_NOTE)}</p>")
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{name}</title>"
        f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>\n"
    )
