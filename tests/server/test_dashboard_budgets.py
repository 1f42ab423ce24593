"""The dashboard's budget panel: /api/budgets answers what `impactlib budget show --format
json` prints, and headless Chromium draws it with its figures (issue 19).

The store is tests/server/test_dashboard.py's (vision used 4.5 kWh and 252 g in January
2026, nlp 6 kWh and 336 g in February), seen on 1 April 2026 at 00:00 UTC, 90 days into
the year: vision's 10 kWh for 2026 goes at 0.05 kWh a day, 18.25 kWh by the year's end,
and is passed 200 days into the year, on 20 July; nlp's 300 g for 2026 was passed in
February.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clihelp import cli
from server.test_dashboard import _chromium, _get, _serve

NOW = "2026-04-01T00:00:00Z"
BUDGETS = (("10kWh", "vision"), ("0.3kg", "nlp"))  # for 2026


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[str]:
    for url in _serve(tmp_path, "--now", NOW):
        store = str(tmp_path / "lab.db")
        for amount, project in BUDGETS:
            args = ("budget", "set", amount, "--project", project, "--year", "2026")
            set_it = cli(*args, "--store", store)
            assert set_it.returncode == 0, set_it.stderr
        yield url


def _shown(store: str) -> dict[str, Any]:
    result = cli("budget", "show", "--store", store, "--format", "json", "--now", NOW)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_the_api_answers_what_budget_show_prints(dashboard: str, tmp_path: Path) -> None:
    status, body = _get(dashboard + "api/budgets")
    assert status == 200, body
    answered = json.loads(body)
    assert answered == _shown(str(tmp_path / "lab.db"))
    vision, nlp = sorted(answered["budgets"], key=lambda b: b["name"], reverse=True)
    assert (vision["used"], vision["exceeds_on"]) == (pytest.approx(4.5), "2026-07-20")
    assert vision["projected"] == pytest.approx(18.25)
    assert (nlp["outlook"], nlp["exceeded_in"]) == ("exceeded", "2026-02")
    bad, line = _get(dashboard + "api/budgets?project=vision")
    assert bad == 400 and json.loads(line) == {"error": "query parameter 'project' is unknown"}


def _rows(dom: str) -> list[list[str]]:
    """The budget table's rows, cell texts."""
    table = dom.split('id="b-table"', 1)[1].split("</table>", 1)[0]
    return [
        [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table)
    ]


def test_chromium_shows_each_budget_with_its_figures(dashboard: str, tmp_path: Path) -> None:
    dom = _chromium(dashboard, tmp_path, "--dump-dom").stdout
    header, *rows = _rows(dom)
    assert header == [
        "budget for",
        "period",
        "budget",
        "used",
        "share",
        "projected",
        "passed",
        "elapsed",
        "used / projected",
    ]
    texts = {b["name"]: b["texts"] for b in _shown(str(tmp_path / "lab.db"))["budgets"]}
    assert rows == [[*texts[name].values(), ""] for name in ("nlp", "vision")]
    vision = rows[1]
    assert vision[:8] == [
        "project vision",
        "2026",
        "10 kWh",
        "4.5 kWh",
        "45 %",
        "18.2 kWh",
        "on 2026-07-20",
        "90 of 365 days",
    ]
    assert rows[0][6] == "in 2026-02"
    assert 'aria-label="4.5 kWh of 10 kWh used, 18.2 kWh projected"' in dom
    assert "2 budget(s) at 2026-04-01T00:00:00Z" in dom
    assert "linear from the period's mean daily use so far" in dom
