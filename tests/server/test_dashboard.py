"""`impactlib dashboard`: answers 200 with the store's projects, asks for a token when told
to, rejects a bad month with a one-line 400, serves the lab report's totals, and draws its
energy and CO2e charts, with value labels in people's units, in headless Chromium."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from clihelp import cli
from sample_runs import make_record, save_record

from impactlib.server.dashboard import CHARTS
from impactlib.store import open_store

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

# user, project, server, month, CPU and GPU joules: from 3 Wh to 7.5 kWh (PUE 1.5), so that
# one chart needs more than one unit.
PEOPLE = (
    ("ann", "vision", "node1", "2026-01", 3.6e6, 7.2e6),
    ("ben", "nlp", "node2", "2026-02", 7.2e6, 7.2e6),
    ("cat", "speech", "node1", "2026-03", 10.8e6, 7.2e6),
    ("dan", "speech", "node2", "2026-03", 3.6e3, 3.6e3),
)
UNATTRIBUTED_J = 5.4e5  # the daemon's remainder on node1 in March: 150 Wh


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _store(tmp_path: Path) -> str:
    path = tmp_path / "lab.db"
    store = open_store(str(path))
    for i, (user, project, host, month, cpu_j, gpu_j) in enumerate(PEOPLE):
        record = make_record(f"r{i}", project=project, cpu_j=cpu_j, gpu_j=gpu_j)
        assert record.footprint is not None
        fp = replace(record.footprint, started_at=f"{month}-05T09:00:00+00:00")
        save_record(
            store, replace(record, user=user, host=host, started_at=fp.started_at, footprint=fp)
        )
    minute = {
        "host": "node1",
        "minute": "2026-03-05T09:00:00+00:00",
        "name": "",
        "floor_w": None,
        "quality": "measured",  # the daemon read node1's counters
    }
    store.add_host_minutes(
        [
            {
                **minute,
                "kind": "machine",
                "domain": "cpu:package-0",
                "energy_j": 4 * UNATTRIBUTED_J,
            },
            {
                **minute,
                "kind": "unattributed",
                "domain": "cpu:package-0",
                "energy_j": UNATTRIBUTED_J,
            },
        ]
    )
    return str(path)


def _serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """The dashboard of a fresh store (``tmp_path/lab.db``) served through the CLI."""
    port = _free_port()
    tmp_path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "impactlib.cli.main",
            "dashboard",
            "--store",
            _store(tmp_path),
            "--port",
            str(port),
            *args,
        ],
        env={**os.environ, **(env or {})},
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_listening(proc, port)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[str]:
    yield from _serve(tmp_path)


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")


def test_answers_200_with_the_projects_and_the_bundled_chart_library(dashboard: str) -> None:
    status, page = _get(dashboard)
    assert status == 200
    for project in ("vision", "nlp", "speech"):
        assert f"<li>{project}</li>" in page
    assert "cdn" not in page.lower() and 'src="static/chart.umd.min.js"' in page
    status, script = _get(dashboard + "static/chart.umd.min.js")
    assert status == 200 and "Chart.js v4" in script[:200]
    status, body = _get(dashboard + "api/totals?user=ann")
    assert status == 200
    projects = [g["project"] for g in json.loads(body)["groups"]["project"]]
    assert projects == ["vision"]


@pytest.mark.parametrize("parameter", ["since", "until"])
@pytest.mark.parametrize(
    "given", ["2026-13", "2026-00", "garbage", "2026-1", "26-01", "2026-03-05"]
)
def test_a_bad_month_is_a_one_line_400_naming_the_parameter(
    dashboard: str, parameter: str, given: str
) -> None:
    status, body = _get(f"{dashboard}api/totals?{parameter}={given}")
    assert status == 400, body
    assert "\n" not in body.strip()
    error = json.loads(body)["error"]
    assert parameter in error and repr(given) in error and "YYYY-MM" in error, error


def test_months_out_of_order_and_unknown_parameters_are_a_400(dashboard: str) -> None:
    status, body = _get(dashboard + "api/totals?since=2026-05&until=2026-03")
    assert status == 400 and "since 2026-05 is after until 2026-03" in json.loads(body)["error"]
    status, body = _get(dashboard + "api/totals?sinse=2026-01")  # a typo is not ignored
    error = json.loads(body)["error"]
    assert status == 400 and "'sinse'" in error and "since" in error, error
    # good months, a year included, still answer
    assert _get(dashboard + "api/totals?since=2026&until=2026-02")[0] == 200


def _lab_report(store: str, by: str, *args: str) -> dict[str, object]:
    result = cli("report", "--store", store, "--by", by, "--format", "json", *args)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


@pytest.mark.parametrize("months", [(), ("--since", "2026-02", "--until", "2026-03")])
def test_the_api_serves_the_lab_reports_totals(tmp_path: Path, months: tuple[str, ...]) -> None:
    """Each chart's lines, the total and the unattributed energy are the lab report's JSON
    (same numbers, same names) for the same store and months."""
    query = "&".join(f"{k.lstrip('-')}={v}" for k, v in zip(months[::2], months[1::2], strict=True))
    for url in _serve(tmp_path):
        status, body = _get(f"{url}api/totals?{query}")
        assert status == 200, body
        api = json.loads(body)
        store = str(tmp_path / "lab.db")
        by_user_month = _lab_report(store, "user,month", *months)
        assert api["total"] == by_user_month["total"]
        for dimension in ("month", "user", "project", "host"):
            report = _lab_report(store, dimension, *months)
            assert api["groups"][dimension] == report["groups"], dimension
        assert api["unattributed"] == _lab_report(store, "user", *months)["unattributed"]


def test_token_is_required_when_given(tmp_path: Path) -> None:
    given: list[tuple[tuple[str, ...], dict[str, str]]] = [
        (("--token", "s3cret"), {}),
        ((), {"IMPACTLIB_DASHBOARD_TOKEN": "s3cret"}),
    ]
    for args, env in given:
        for url in _serve(tmp_path / str(len(env)), *args, env=env):
            assert _get(url)[0] == 403
            assert _get(url + "?token=wrong")[0] == 403
            assert _get(url + "?token=s3cret")[0] == 200
            assert _get(url + "api/totals", {"Authorization": "Bearer s3cret"})[0] == 200
            assert _get(url + "api/totals?token=s3cret")[0] == 200  # token is no bad parameter


def test_bound_beyond_loopback_it_makes_up_a_token(tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "impactlib.cli.main",
            "dashboard",
            "--store",
            _store(tmp_path),
            "--host",
            "0.0.0.0",
            "--port",
            str(port),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # the URL to open, with its token
        token = line.rsplit("?token=", 1)[1].strip()
        assert len(token) >= 24
        url = f"http://127.0.0.1:{port}/"
        _wait_until_listening(proc, port)
        assert _get(url)[0] == 403
        assert _get(url + "?token=" + token)[0] == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _wait_until_listening(proc: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.1)
    raise AssertionError("the dashboard did not start listening within 30 s")


def _chromium(url: str, tmp_path: Path, *action: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium on ``url`` with no network but this machine (the page must need
    nothing from elsewhere: no CDN), given time to fetch the totals and draw."""
    from report.test_html_chromium import CHROMIUM, FLAGS

    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    flags = [f.replace("~NOTFOUND", "~NOTFOUND, EXCLUDE 127.0.0.1") for f in FLAGS]
    return subprocess.run(
        [
            CHROMIUM,
            *flags,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=10000",
            "--window-size=1200,1500",
            *action,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _chart_labels(dom: str) -> dict[str, str]:
    """Each canvas's id and its label (what the chart shows, for people who cannot see it)."""
    import re

    found = re.findall(r'<canvas id="c-([\w-]+)"[^>]*aria-label="([^"]*)"', dom)
    return dict(found)


def _markdown_total_row(store: str) -> dict[str, str]:
    """The lab report's "all" row in Markdown, heading by heading (first column apart)."""
    text = _cli_text("report", "--store", store, "--by", "user", "--format", "markdown")
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("|")
    ]
    header, total = rows[0], next(row for row in rows if row[0] == "all")
    return dict(zip(header[1:], total[1:], strict=True))


def _cli_text(*args: str) -> str:
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_chromium_shows_energy_and_co2e_with_value_labels_in_peoples_units(
    dashboard: str, tmp_path: Path
) -> None:
    dom = _chromium(dashboard, tmp_path, "--dump-dom").stdout
    labels = _chart_labels(dom)
    assert set(labels) == {chart.id for chart in CHARTS}, labels
    # the same cells as the lab report's table: each bar's value in the unit its size calls for
    assert labels["energy-user"] == (
        "Energy per user: ann 4.5 kWh, ben 6 kWh, cat 7.5 kWh, dan 3 Wh"
    )
    assert labels["co2e-user"] == "CO2e per user: ann 252 g, ben 336 g, cat 420 g, dan 168 mg"
    assert labels["energy-month"] == (
        "Energy per month: 2026-01 4.5 kWh, 2026-02 6 kWh, 2026-03 7.5 kWh"
    )
    assert labels["co2e-host"] == "CO2e per server: node1 672 g, node2 336 g"
    summary = dom.split('id="total"', 1)[1].split("</div>", 1)[0]
    row = _markdown_total_row(str(tmp_path / "lab.db"))
    assert row["runs"] == "4" and row["energy"].startswith("18 kWh (")  # the store's figures
    low, high = (float(v) for v in row["energy"][8:-1].split("\u2013"))
    assert low <= 18 <= high  # with its range, as the lab report's total row gives it
    for heading, cell in row.items():  # what the lab report's total row says, said the same
        assert f"{heading} {cell}" in summary, (heading, cell, summary)
    assert "150 Wh" in summary, summary  # the servers' energy no run was charged


def test_chromium_says_why_a_bad_month_shows_nothing(dashboard: str, tmp_path: Path) -> None:
    dom = _chromium(dashboard + "?since=2026-13", tmp_path, "--dump-dom").stdout
    total = dom.split('id="total"', 1)[1].split("</div>", 1)[0]
    assert "since" in total and "'2026-13' is not a month" in total, total


def test_chromium_paints_every_chart(dashboard: str, tmp_path: Path) -> None:
    from report.test_html_chromium import decode_png

    shot = tmp_path / "dashboard.png"
    result = _chromium(dashboard, tmp_path, f"--screenshot={shot}")
    assert shot.exists(), result.stderr[-2000:]
    width, height, pixels = decode_png(shot.read_bytes())
    assert (width, height) == (1200, 1500)
    counts: dict[bytes, int] = {}
    for px in pixels:
        counts[px] = counts.get(px, 0) + 1
    assert len(counts) > 50  # text and charts, not a blank page
    for chart in CHARTS:  # every chart's bars are painted in its colour
        assert counts.get(bytes.fromhex(chart.colour[1:]), 0) > 1000, chart
    out = Path(__file__).parent.parent / "output"
    if out.is_dir():
        shot.replace(out / "dashboard.png")
