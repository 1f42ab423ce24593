"""``impactlib dashboard``: a read-only web page of the store's totals, with filters.

Totals per month (over time), per user, per project and per server, from the monthly
rollups, filtered by project, user, server and months. Built on Starlette (served by
uvicorn) and Chart.js, whose file is bundled in the package (``data/chart.umd.min.js``,
MIT, see ``data/ATTRIBUTION.md``): labs are often offline, so nothing is fetched from a CDN.

Read-only: the only writes are the rollups' refresh. Bound to 127.0.0.1 by default; bound
anywhere else it requires a token (``?token=`` once, then a cookie, or ``Authorization:
Bearer``), compared in constant time, so that a dashboard opened on a lab network does not
show who ran what to everyone on it.
"""

from __future__ import annotations

import json
import secrets
from html import escape
from importlib import resources
from typing import TYPE_CHECKING, Any

from ..store.base import Store
from ..store.rollup import (
    FIRST_MONTH,
    LAST_MONTH,
    Selection,
    dimension_values,
    lab_totals,
    refresh,
    unattributed,
)

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

COOKIE = "impactlib_token"
CHARTS = (  # id, title, dimension, colour
    ("month", "Energy per month", "month", "#3b6fb6"),
    ("user", "Energy per user", "user", "#3a9d5d"),
    ("project", "Energy per project", "project", "#e08a2e"),
    ("host", "Energy per server", "host", "#8e5bb5"),
)
FILTERS = ("project", "user", "host")


def totals(store: Store, selection: Selection) -> dict[str, Any]:
    """What the page draws: one list per chart, the overall total, the unattributed energy."""
    refresh(store)
    out: dict[str, Any] = {}
    for _, _, dimension, _ in CHARTS:
        out[dimension] = [
            {
                "label": line.keys[dimension],
                "runs": line.runs,
                "energy_kwh": line.energy_kwh,
                "emissions_kg": line.emissions_kg,
                "measured_kwh": line.measured_kwh,
            }
            for line in lab_totals(store, (dimension,), selection)
        ]
    overall = lab_totals(store, (), selection)
    out["total"] = overall[0]._asdict() if overall else None
    out["unattributed_kwh"] = sum(u.unattributed_kwh for u in unattributed(store, (), selection))
    return out


def _selection(request: Request) -> Selection:
    query = request.query_params

    def value(name: str) -> str | None:
        text = query.get(name, "").strip()
        return text or None

    return Selection(
        since=value("since") or FIRST_MONTH,
        until=value("until") or LAST_MONTH,
        project=value("project"),
        user=value("user"),
        host=value("host"),
    )


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
        f'<div class="chart"><h2>{escape(title)}</h2><canvas id="c-{cid}"></canvas></div>'
        for cid, title, _, _ in CHARTS
    )
    colours = json.dumps({cid: colour for cid, _, _, colour in CHARTS})
    projects = "".join(f"<li>{escape(p)}</li>" for p in dimension_values(store, "project"))
    return _PAGE.format(
        selects=selects, charts=charts, colours=colours, projects=projects or "<li>none</li>"
    )


_PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>impactlib: the lab's computing</title>
<style>
body{{font-family:Helvetica,Arial,sans-serif;margin:16px 24px;color:#222}}
.filters label{{margin-right:14px}}.grid{{display:grid;grid-template-columns:1fr 1fr;gap:12px}}
.chart{{border:1px solid #ddd;padding:6px 10px;height:300px}}.chart canvas{{max-height:240px}}
h1{{font-size:1.4em}}h2{{font-size:1em;margin:4px 0}}#total{{font-size:1.1em;margin:8px 0}}
</style>
<script src="static/chart.umd.min.js"></script></head><body>
<h1>The lab's computing: energy and CO2e</h1>
<div class="filters">{selects}<label>from <input id="f-since" placeholder="YYYY-MM" size="8">
</label><label>to <input id="f-until" placeholder="YYYY-MM" size="8"></label></div>
<div id="total">loading…</div><div class="grid">{charts}</div>
<h2>Projects in this store</h2><ul id="projects">{projects}</ul>
<script>
const COLOURS = {colours};
const token = new URLSearchParams(location.search).get("token");
const charts = {{}};
function query() {{
  const q = new URLSearchParams();
  for (const f of ["project", "user", "host", "since", "until"]) {{
    const v = document.getElementById("f-" + f).value.trim();
    if (v) q.set(f, v);
  }}
  if (token) q.set("token", token);
  return q.toString();
}}
function kwh(v) {{ return Number(v.toPrecision(3)); }}
async function draw() {{
  const data = await (await fetch("api/totals?" + query())).json();
  const t = data.total;
  document.getElementById("total").textContent = t
    ? `${{t.runs}} runs, ${{kwh(t.energy_kwh)}} kWh, ${{kwh(t.emissions_kg)}} kg CO2e` +
      `, measured ${{Math.round(100 * t.measured_kwh / (t.energy_kwh || 1))}} %` +
      (data.unattributed_kwh ? `; servers' unattributed ${{kwh(data.unattributed_kwh)}} kWh` : "")
    : "no runs in this selection";
  for (const id of Object.keys(COLOURS)) {{
    const rows = data[id];
    const config = {{
      type: "bar",
      data: {{labels: rows.map(r => r.label),
              datasets: [{{label: "kWh", data: rows.map(r => r.energy_kwh),
                          backgroundColor: COLOURS[id]}}]}},
      options: {{animation: false, responsive: true, maintainAspectRatio: false,
                scales: {{y: {{title: {{display: true, text: "kWh"}}}}}},
                plugins: {{legend: {{display: false}}}}}}
    }};
    if (charts[id]) charts[id].destroy();
    charts[id] = new Chart(document.getElementById("c-" + id), config);
  }}
}}
for (const f of ["project", "user", "host", "since", "until"])
  document.getElementById("f-" + f).addEventListener("change", draw);
draw();
</script></body></html>
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


def create_app(store: Store, token: str | None = None) -> Starlette:
    """The Starlette application over ``store`` (``token``: required on every request)."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
    from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse
    from starlette.routing import Route

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

    def api(request: Request) -> Response:
        return JSONResponse(totals(store, _selection(request)))

    chart_js = resources.files("impactlib.data").joinpath("chart.umd.min.js").read_bytes()

    def script(request: Request) -> Response:
        return PlainTextResponse(chart_js, media_type="text/javascript")

    routes = [
        Route("/", index),
        Route("/api/totals", api),
        Route("/static/chart.umd.min.js", script),
    ]
    return Starlette(routes=routes, middleware=[Middleware(BaseHTTPMiddleware, dispatch=guard)])
