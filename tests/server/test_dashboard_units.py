"""The dashboard's per-unit panel: /api/units answers what `impactlib report --by project|user
--format json` gives per unit of work, for the page's filters, reading the run records once per
request and only for that panel; headless Chromium draws its tables with their figures (issue 19).

The runs (tests/sample_runs.py's record: 1 kWh of CPU and 2 kWh of GPU, PUE 1.5, 56 g/kWh, M
12.3 g; ben's nlp run half of it):

    ann  vision  2026-03  4.5 kWh   252 g  1000 volumes
    ben  nlp     2026-03  2.25 kWh  126 g   250 volumes
    ann  nlp     2026-02  4.5 kWh   252 g   300 requests  (embodied unknown: no SCI)
    cat  speech  2026-03  4.5 kWh   252 g   nothing counted
    ben  vision  2026-01  4.5 kWh   252 g   500 volumes

so vision's volumes: 9 kWh / 1500 = 6 Wh, 504 g / 1500 = 336 mg, SCI (504 + 24.6) g / 1500 =
352 mg; ben's: 6.75 kWh / 750 = 9 Wh, 378 g / 750 = 504 mg, SCI (378 + 24.6) / 750 = 537 mg.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from clihelp import cli
from domtext import element_text, table_rows
from sample_runs import make_record, save_record
from server.test_dashboard import _chromium, _free_port, _get, _wait_until_listening

from impactlib.store import open_store

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

# id, user, project, month, CPU and GPU joules, units counted, embodied known
RUNS = (
    ("r-ann-vision", "ann", "vision", "2026-03", 3.6e6, 7.2e6, {"volumes": 1000}, True),
    ("r-ben-nlp", "ben", "nlp", "2026-03", 1.8e6, 3.6e6, {"volumes": 250}, True),
    ("r-ann-nlp", "ann", "nlp", "2026-02", 3.6e6, 7.2e6, {"requests": 300}, False),
    ("r-cat-speech", "cat", "speech", "2026-03", 3.6e6, 7.2e6, None, True),
    ("r-ben-vision", "ben", "vision", "2026-01", 3.6e6, 7.2e6, {"volumes": 500}, True),
)
HEADER = ["unit", "runs", "count", "energy/unit", "CO2e/unit", "SCI/unit"]
ALL_REQUESTS = ["all", "requests", "1", "300", "15 Wh", "840 mg", "-"]
ALL_VOLUMES = ["all", "volumes", "3", "1,750", "6.43 Wh", "360 mg", "381 mg"]


def _store(path: Path) -> str:
    store = open_store(str(path))
    for run_id, user, project, month, cpu_j, gpu_j, units, embodied in RUNS:
        model = None if units is None else {"units": units}
        record = make_record(run_id, project, cpu_j, gpu_j, model=model)
        assert record.footprint is not None
        fp = replace(record.footprint, started_at=f"{month}-05T09:00:00+00:00")
        if not embodied:
            fp = replace(fp, embodied_kg=None)
        save_record(store, replace(record, user=user, started_at=fp.started_at, footprint=fp))
    return str(path)


@pytest.fixture
def store(tmp_path: Path) -> str:
    return _store(tmp_path / "lab.db")


@pytest.fixture
def dashboard(store: str) -> Iterator[str]:
    """The dashboard of that store, served through the CLI."""
    port = _free_port()
    command = [sys.executable, "-m", "impactlib.cli.main", "dashboard", "--store", store]
    proc = subprocess.Popen([*command, "--port", str(port)], stderr=subprocess.PIPE, text=True)
    try:
        _wait_until_listening(proc, port)
        yield f"http://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _api(url: str) -> tuple[int, dict[str, Any]]:
    status, body = _get(url)
    assert "\n" not in body.strip(), body
    answer: dict[str, Any] = json.loads(body)
    return status, answer


def _lab_json(store: str, by: str, *args: str) -> dict[str, Any]:
    result = cli("report", "--store", store, "--by", by, "--format", "json", *args)
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_the_api_answers_what_the_lab_reports_json_gives_per_unit(
    dashboard: str, store: str
) -> None:
    status, answer = _api(dashboard + "api/units")
    assert status == 200, answer
    for by in ("project", "user"):
        report = _lab_json(store, by)
        assert answer["groups"][by] == report["per_unit"], by
        assert answer["total"] == report["per_unit_total"], by
    vision = next(u for u in answer["groups"]["project"] if u["project"] == "vision")
    assert (vision["unit"], vision["runs"], vision["count"]) == ("volumes", 2, 1500)
    assert vision["energy_kwh_per_unit"] == pytest.approx(9 / 1500)
    assert vision["emissions_kg_per_unit"] == pytest.approx(0.504 / 1500)
    assert vision["sci_kg_per_unit"] == pytest.approx((0.504 + 2 * 0.0123) / 1500)
    ann_requests = next(u for u in answer["groups"]["user"] if u["unit"] == "requests")
    assert ann_requests["user"] == "ann" and ann_requests["sci_kg_per_unit"] is None
    assert "speech" not in {u["project"] for u in answer["groups"]["project"]}  # counted none
    assert answer["note"] == (
        "Only the runs that counted a unit; each figure is the group's sum over them divided by "
        "the units. Energy includes PUE; CO2e is operational (E x I); SCI = (E x I + M) / R with "
        "M the embodied share (ISO/IEC 21031:2024), '-' where a run's M is unknown."
    )


def test_the_api_honours_the_filters_as_the_lab_report_does(dashboard: str, store: str) -> None:
    status, answer = _api(dashboard + "api/units?project=vision&since=2026-02")
    assert status == 200, answer
    report = _lab_json(store, "project", "--project", "vision", "--since", "2026-02")
    assert answer["groups"]["project"] == report["per_unit"]
    assert answer["total"] == report["per_unit_total"]
    assert [u["count"] for u in answer["total"]] == [1000]  # ben's January run is before
    # ben's runs per project are the lab report's by user and project, ben's lines
    status, answer = _api(dashboard + "api/units?user=ben")
    assert status == 200, answer
    by_user_project = _lab_json(store, "user,project")["per_unit"]
    bens = [{k: v for k, v in u.items() if k != "user"} for u in by_user_project]
    assert answer["groups"]["project"] == [
        u for u, full in zip(bens, by_user_project, strict=True) if full["user"] == "ben"
    ]
    ben = [u for u in _lab_json(store, "user")["per_unit"] if u["user"] == "ben"]
    assert answer["groups"]["user"] == ben
    assert answer["total"] == [{k: v for k, v in u.items() if k != "user"} for u in ben]
    status, answer = _api(dashboard + "api/units?host=elsewhere")
    assert (status, answer["groups"], answer["total"], answer["tables"]) == (
        200,
        {"project": [], "user": []},
        [],
        {},
    )
    assert "no run of this selection counted a unit of work" in answer["status"]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("since=2026-13", "since"),
        ("until=garbage", "until"),
        ("since=2026-05&until=2026-03", "since 2026-05 is after until 2026-03"),
        ("sinse=2026-01", "'sinse'"),
        ("by=project", "'by'"),
    ],
)
def test_a_bad_query_is_a_one_line_400(dashboard: str, query: str, named: str) -> None:
    status, answer = _api(f"{dashboard}api/units?{query}")
    assert status == 400 and list(answer) == ["error"] and named in answer["error"], answer


def test_the_run_records_are_read_once_per_request_and_only_for_this_panel(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.testclient import TestClient

    from impactlib.server.dashboard import create_app

    opened = open_store(store)
    reads: list[str] = []
    list_runs = opened.list_runs

    def counting(*args: Any, **kwargs: Any) -> Any:
        reads.append("list_runs")
        return list_runs(*args, **kwargs)

    monkeypatch.setattr(opened, "list_runs", counting)
    with TestClient(create_app(opened)) as client:
        assert client.get("/api/totals").status_code == 200
        assert client.get("/").status_code == 200
        assert reads == []  # the charts come from the rollups
        for query in ("", "?user=ben", "?project=nlp&since=2026-02"):
            before = len(reads)
            assert client.get("/api/units" + query).status_code == 200
            assert len(reads) - before == 1, query


def test_chromium_draws_the_panel_with_its_figures(dashboard: str, tmp_path: Path) -> None:
    dom = _chromium(dashboard, tmp_path, "--dump-dom").stdout
    assert element_text(dom, "u-status") == "units of work counted: requests, volumes"
    assert table_rows(dom, "u-by-project") == [
        ["project", *HEADER],
        ["nlp", "requests", "1", "300", "15 Wh", "840 mg", "-"],
        ["nlp", "volumes", "1", "250", "9 Wh", "504 mg", "553 mg"],
        ["vision", "volumes", "2", "1,500", "6 Wh", "336 mg", "352 mg"],
        ALL_REQUESTS,
        ALL_VOLUMES,
    ]
    assert table_rows(dom, "u-by-user") == [
        ["user", *HEADER],
        ["ann", "requests", "1", "300", "15 Wh", "840 mg", "-"],
        ["ann", "volumes", "1", "1,000", "4.5 Wh", "252 mg", "264 mg"],
        ["ben", "volumes", "2", "750", "9 Wh", "504 mg", "537 mg"],
        ALL_REQUESTS,
        ALL_VOLUMES,
    ]
    assert "<h2>Per unit of work</h2>" in dom and "ISO/IEC 21031:2024" in dom
    # the other panels are still drawn beside it
    assert re.search(r'<canvas id="c-energy-project"[^>]*aria-label="Energy per project: ', dom)
    assert '<table id="w-by-user">' in dom and 'id="b-status"' in dom


def test_chromium_draws_the_filters_the_address_names(dashboard: str, tmp_path: Path) -> None:
    dom = _chromium(dashboard + "?project=vision&since=2026-02", tmp_path, "--dump-dom").stdout
    assert table_rows(dom, "u-by-user") == [
        ["user", *HEADER],
        ["ann", "volumes", "1", "1,000", "4.5 Wh", "252 mg", "264 mg"],
        ["all", "volumes", "1", "1,000", "4.5 Wh", "252 mg", "264 mg"],
    ]


def test_chromium_says_why_a_bad_month_shows_no_table(dashboard: str, tmp_path: Path) -> None:
    dom = _chromium(dashboard + "?since=2026-13", tmp_path, "--dump-dom").stdout
    status = element_text(dom, "u-status")
    assert "since" in status and "'2026-13' is not a month" in status, status
    assert 'id="u-by-project"' not in dom
