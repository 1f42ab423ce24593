"""``impactlib dashboard``: a read-only web page of the store's totals, with filters.

Energy and CO2e per month, per user, per project and per server, side by side, filtered by
project, user, server and months. The figures are the lab report's
(:mod:`impactlib.report.lab`, ``impactlib report --by ...``), built by the same function and
sent as the same JSON, so the page and the report can never disagree on a total or a label;
the numbers a person reads on a bar or in the summary are formatted by
:mod:`impactlib.units`, as every other output formats them. The page is Starlette (served by
uvicorn) and Chart.js, whose file is bundled in the package (``data/chart.umd.min.js``, MIT,
see ``data/ATTRIBUTION.md``): labs are often offline, so nothing is fetched from a CDN. Our
own script is ``data/dashboard.js``. Below the charts, the per-unit panel gives each
project's and user's energy, CO2e and SCI per unit of work, as ``report --by project`` does
(:mod:`.perunit`, ``api/units``: the only request that reads the run records, so drawing the
charts never does); the budget panel shows each budget's use, projection and the day it would be
passed, as ``impactlib budget show`` does (:mod:`.budgets`, ``api/budgets``).

Read-only: the only writes are the rollups' refresh. Bound to 127.0.0.1 by default; bound
anywhere else it requires a token (``?token=`` once, then a cookie, or ``Authorization:
Bearer``), compared in constant time, so that a dashboard opened on a lab network does not
show who ran what to everyone on it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from html import escape
from importlib import resources
from typing import TYPE_CHECKING, Any, NamedTuple

from .._time import parse_month
from ..report import lab
from ..report.figures import Amounts, lab_amounts
from ..store.base import Store
from ..store.rollup import (
    FIRST_MONTH,
    LAST_MONTH,
    LabTotal,
    Selection,
    dimension_values,
    refresh,
)
from ..units import (
    ENERGY_SCALES,
    MASS_SCALES,
    Scale,
    format_energy_j,
    format_mass_kg,
    scale_for,
)

if TYPE_CHECKING:
    from datetime import datetime

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

    from ..config import Config

COOKIE = "impactlib_token"
FILTERS = ("project", "user", "host")
MONTHS = ("since", "until")
QUERY = (*MONTHS, *FILTERS)  # what the API's answer can be narrowed by
PARAMETERS = (*QUERY, "token")  # every query parameter a request may carry


class Quantity(NamedTuple):
    """What a chart's bars measure: its name, its units, how to read it off a line's amounts
    and how people read one value of it."""

    key: str
    title: str
    scales: tuple[Scale, ...]
    base_units: Callable[[Amounts], float]  # joules, kilograms: what ``scales`` divide
    text: Callable[[float], str]  # a value in base units for people, with its unit


ENERGY = Quantity("energy", "Energy", ENERGY_SCALES, lambda a: a.energy_j, format_energy_j)
CO2E = Quantity("co2e", "CO2e", MASS_SCALES, lambda a: a.emissions_kg, format_mass_kg)


class Chart(NamedTuple):
    """One chart of the page: a quantity per value of one lab report dimension."""

    dimension: str
    noun: str  # the dimension in people's words
    quantity: Quantity
    colour: str

    @property
    def id(self) -> str:
        """The canvas's id (``c-`` prefixed) and the chart's name in the API."""
        return f"{self.quantity.key}-{self.dimension}"

    @property
    def title(self) -> str:
        """The chart's heading, e.g. ``CO2e per server``."""
        return f"{self.quantity.title} per {self.noun}"


# Each dimension's energy chart, then its CO2e chart beside it (a darker shade).
CHARTS = tuple(
    Chart(dimension, noun, quantity, colour)
    for dimension, noun, colours in (
        ("month", "month", ("#3b6fb6", "#23446f")),
        ("user", "user", ("#3a9d5d", "#22603a")),
        ("project", "project", ("#e08a2e", "#8f5415")),
        ("host", "server", ("#8e5bb5", "#573570")),
    )
    for quantity, colour in zip((ENERGY, CO2E), colours, strict=True)
)
DIMENSIONS = tuple(dict.fromkeys(chart.dimension for chart in CHARTS))


class BadQuery(ValueError):
    """A query the API cannot answer; its message is the one line the client is sent."""


def selection(query: Mapping[str, str]) -> Selection:
    """The lab report selection a query asks for; :class:`BadQuery` naming what is wrong.

    Months take the forms ``report --since/--until`` take (``YYYY-MM`` or ``YYYY``); an
    unknown parameter is refused rather than ignored, since a typo (``sinse``) would
    otherwise show every month as if it were the answer.
    """
    unknown = [name for name in query if name not in PARAMETERS]
    if unknown:
        raise BadQuery(f"query parameter '{unknown[0]}' is unknown; use {', '.join(QUERY)}")

    def given(name: str) -> str | None:
        return query.get(name, "").strip() or None

    months = []
    for name, end in zip(MONTHS, (False, True), strict=True):
        text = given(name)
        try:
            months.append(parse_month(text, end) if text else (LAST_MONTH if end else FIRST_MONTH))
        except ValueError as exc:
            raise BadQuery(f"query parameter {name}: {exc}") from exc
    since, until = months
    if since > until:
        raise BadQuery(f"since {since} is after until {until}; swap them")
    return Selection(since, until, **{name: given(name) for name in FILTERS})


def _groups(report: lab.LabReport) -> list[dict[str, Any]]:
    """A lab report's lines as its JSON writes them (keys, then raw figures)."""
    return [{**line.keys, **lab.raw_figures(line)} for line in report.lines]


def _chart_data(chart: Chart, lines: Sequence[LabTotal]) -> dict[str, Any]:
    """One chart's bars: heights in the unit the largest calls for (the axis's), and each
    bar's value as the lab report's table writes it."""
    values = [chart.quantity.base_units(lab_amounts(line)) for line in lines]
    scale = scale_for(max((abs(v) for v in values), default=0.0), chart.quantity.scales)
    return {
        "id": chart.id,
        "title": chart.title,
        "unit": scale.symbol,
        "labels": [line.keys[chart.dimension] for line in lines],
        "values": [v / scale.size for v in values],
        "texts": [chart.quantity.text(v) for v in values],
    }


def _summary(overall: lab.LabReport) -> str:
    """One line over the selection: the lab report's total row, heading by heading, and the
    servers' energy that no run was charged (its energy, then the share a meter read), as the
    lab report's cells write them. Cells are matched to headings by name, never by position,
    so a column the lab report adds cannot take another's place here."""
    cells = lab.cells(overall)
    if cells.total is None:
        return "no runs in this selection"
    shown = _headed(cells.header, cells.total)
    remainder = lab.unattributed_cells(overall)
    if remainder is not None:  # one line for all servers: the report is by nothing
        figures = slice(remainder.keys, None)
        charged = _headed(remainder.header[figures], remainder.rows[0][figures])
        shown += f"; the servers' energy no run was charged: {charged}"
    return shown


def _headed(header: Sequence[str], row: Sequence[str]) -> str:
    """``energy 150 Wh, measured 100 %``: each cell after its heading."""
    return ", ".join(f"{head} {cell}" for head, cell in zip(header, row, strict=True))


def totals(store: Store, chosen: Selection) -> dict[str, Any]:
    """What the API answers: the lab report's groups per dimension, its total and the
    unattributed energy, as ``report --by ... --format json`` writes them (raw numbers,
    fixed units), then what the page draws (the charts and the summary, people's units)."""
    overall = lab.build(store, (), chosen)
    reports = {dimension: lab.build(store, (dimension,), chosen) for dimension in DIMENSIONS}
    return {
        "groups": {dimension: _groups(report) for dimension, report in reports.items()},
        "total": None if overall.total is None else lab.raw_figures(overall.total),
        "unattributed": [lab.raw_unattributed(u) for u in overall.unattributed],
        "note": lab.NOTE,
        "summary": _summary(overall),
        "charts": [_chart_data(chart, reports[chart.dimension].lines) for chart in CHARTS],
    }


def _options(values: list[str]) -> str:
    return "".join(f'<option value="{escape(v)}">{escape(v)}</option>' for v in values)


def page(store: Store) -> str:
    """The HTML page; the filters' choices (the store's projects, users, servers) are in it."""
    refresh(store)
    selects = "".join(
        f'<label>{name} <select id="f-{name}"><option value="">all</option>'
        f"{_options(dimension_values(store, name))}</select></label>"
        for name in FILTERS
    )
    charts = "".join(
        f'<div class="chart"><h2>{escape(c.title)}</h2><div class="plot">'
        f'<canvas id="c-{c.id}" data-colour="{c.colour}" role="img"></canvas></div></div>'
        for c in CHARTS
    )
    projects = "".join(f"<li>{escape(p)}</li>" for p in dimension_values(store, "project"))
    from .whatif import CHOICES

    return _PAGE.format(
        selects=selects,
        charts=charts,
        projects=projects or "<li>none</li>",
        note=lab.NOTE,
        units_title=lab.UNITS_TITLE,
        units_note=lab.UNITS_NOTE,
        what_ifs=_options(list(CHOICES)),
    )


_PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>impactlib: the lab's computing</title>
<style>
body{{font-family:Helvetica,Arial,sans-serif;margin:16px 24px;color:#222}}
.filters label{{margin-right:14px}}.grid{{display:grid;grid-template-columns:1fr 1fr;gap:12px}}
.chart{{border:1px solid #ddd;padding:6px 10px}}.plot{{position:relative;height:250px}}
#w-tables table,#u-tables table{{border-collapse:collapse}}
#w-tables td,#w-tables th,#u-tables td,#u-tables th{{padding:2px 8px}}
#w-tables td+td{{text-align:right}}#u-tables td+td+td{{text-align:right}}
#u-status.error{{color:#b00020}}
#b-table{{border-collapse:collapse}}#b-table td,#b-table th{{padding:2px 8px;text-align:left}}
.b-bar{{position:relative;width:160px;height:10px;background:#eee}}
.b-used{{position:absolute;height:10px;background:#3b6fb6}}
.b-projected{{position:absolute;top:-2px;width:2px;height:14px;background:#b00020}}
#b-status.error{{color:#b00020}}
h1{{font-size:1.4em}}h2{{font-size:1em;margin:4px 0}}#total{{font-size:1.1em;margin:8px 0}}
#total.error{{color:#b00020}}.note{{color:#555;font-size:.9em}}
</style>
<script src="static/chart.umd.min.js"></script></head><body>
<h1>The lab's computing: energy and CO2e</h1>
<div class="filters">{selects}<label>since <input id="f-since" placeholder="YYYY-MM" size="8">
</label><label>until <input id="f-until" placeholder="YYYY-MM" size="8"></label></div>
<div id="total" role="status">loading…</div><div class="grid">{charts}</div>
<p class="note">{note}</p>
<section id="units"><h2>{units_title}</h2><div id="u-status" role="status">loading…</div>
<div id="u-tables" class="grid"></div><p class="note">{units_note}</p></section>
<section id="whatif"><h2>What if… <select id="w-spec" aria-label="what-if">{what_ifs}</select>
</h2><div id="w-headline" role="status">loading…</div><div id="w-tables" class="grid"></div>
<p class="note">Not priced:</p><ul id="w-unpriced"></ul>
<p class="note">Assumptions:</p><ul id="w-assumptions" class="note"></ul></section>
<section id="budgets"><h2>Budgets</h2><div id="b-status" role="status">loading…</div>
<table id="b-table"></table><p class="note" id="b-method"></p></section>
<h2>Projects in this store</h2><ul id="projects">{projects}</ul>
<script src="static/dashboard.js"></script></body></html>
"""


def _authorised(request: Request, token: str | None) -> bool:
    if token is None:
        return True
    header = request.headers.get("authorization", "")
    given = (
        request.query_params.get("token")
        or request.cookies.get(COOKIE)
        or header.removeprefix("Bearer ").strip()
    )
    return secrets.compare_digest(given.encode(), token.encode())


def create_app(
    store: Store,
    token: str | None = None,
    config: Config | None = None,
    now: datetime | None = None,
) -> Starlette:
    """The Starlette application over ``store`` (``token``: required on every request;
    ``config``: the intensity sources the what-if view asks, by default the environment's;
    ``now``: the instant budgets are projected from, by default the request's)."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
    from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse
    from starlette.routing import Route

    from . import perunit

    async def guard(request: Request, call_next: RequestResponseEndpoint) -> Response:
        if not _authorised(request, token):
            return PlainTextResponse(
                "a token is needed: open the URL `impactlib dashboard` printed", 403
            )
        response = await call_next(request)
        if token is not None and request.query_params.get("token"):
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    def index(request: Request) -> Response:
        return HTMLResponse(page(store))

    def over_selection(
        answer: Callable[[Store, Selection], dict[str, Any]],
    ) -> Callable[[Request], Response]:
        """An endpoint answering ``answer`` for the selection its query names (a bad query:
        a one-line 400)."""

        def endpoint(request: Request) -> Response:
            try:
                chosen = selection(request.query_params)
            except BadQuery as exc:
                return JSONResponse({"error": str(exc)}, 400)
            return JSONResponse(answer(store, chosen))

        return endpoint

    def what_if(request: Request) -> Response:
        from ..config import load_config
        from ..errors import ImpactError
        from . import whatif

        query = request.query_params
        try:
            chosen = selection({k: v for k, v in query.items() if k != whatif.PARAMETER})
            return JSONResponse(whatif.answer(store, chosen, query, config or load_config()))
        except (BadQuery, ImpactError) as exc:
            return JSONResponse({"error": str(exc)}, 400)

    def budget_panel(request: Request) -> Response:
        from . import budgets

        unknown = budgets.unknown_parameter(request.query_params)
        if unknown is not None:
            return JSONResponse({"error": f"query parameter '{unknown}' is unknown"}, 400)
        return JSONResponse(budgets.answer(store, now))

    data = resources.files("impactlib.data")
    scripts = {
        name: data.joinpath(name).read_bytes() for name in ("chart.umd.min.js", "dashboard.js")
    }

    def script(request: Request) -> Response:
        body = scripts.get(request.path_params["name"])
        if body is None:
            return PlainTextResponse("not found", 404)
        return PlainTextResponse(body, media_type="text/javascript")

    routes = [
        Route("/", index),
        Route("/api/totals", over_selection(totals)),
        Route("/api/whatif", what_if),
        Route("/api/units", over_selection(perunit.answer)),
        Route("/api/budgets", budget_panel),
        Route("/static/{name}", script),
    ]
    return Starlette(routes=routes, middleware=[Middleware(BaseHTTPMiddleware, dispatch=guard)])
