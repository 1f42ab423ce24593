"""`impactlib dashboard`: answers 200 with the store's projects, asks for a token when told
to, and draws its charts in headless Chromium (screenshot checked: not blank, bars painted)."""

from __future__ import annotations

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
from sample_runs import make_record, save_record

from impactlib.server.dashboard import CHARTS
from impactlib.store import open_store

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _store(tmp_path: Path) -> str:
    path = tmp_path / "lab.db"
    store = open_store(str(path))
    people = (
        ("ann", "vision", "node1", "2026-01"),
        ("ben", "nlp", "node2", "2026-02"),
        ("cat", "speech", "node1", "2026-03"),
    )
    for i, (user, project, host, month) in enumerate(people):
        record = make_record(f"r{i}", project=project, cpu_j=3.6e6 * (i + 1))
        assert record.footprint is not None
        fp = replace(record.footprint, started_at=f"{month}-05T09:00:00+00:00")
        save_record(
            store, replace(record, user=user, host=host, started_at=fp.started_at, footprint=fp)
        )
    return str(path)


def _serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    port = _free_port()
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
    assert status == 200 and '"label":"vision"' in body and '"nlp"' not in body


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


def test_chromium_draws_the_charts(dashboard: str, tmp_path: Path) -> None:
    from report.test_html_chromium import CHROMIUM, FLAGS, decode_png

    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    # No network but this machine: the page must need nothing from elsewhere (no CDN).
    flags = [f.replace("~NOTFOUND", "~NOTFOUND, EXCLUDE 127.0.0.1") for f in FLAGS]
    shot = tmp_path / "dashboard.png"
    result = subprocess.run(
        [
            CHROMIUM,
            *flags,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=10000",
            f"--screenshot={shot}",
            "--window-size=1200,900",
            dashboard,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shot.exists(), result.stderr[-2000:]
    width, height, pixels = decode_png(shot.read_bytes())
    assert (width, height) == (1200, 900)
    counts: dict[bytes, int] = {}
    for px in pixels:
        counts[px] = counts.get(px, 0) + 1
    assert len(counts) > 50  # text and charts, not a blank page
    for _, _, _, colour in CHARTS:  # every chart's bars are painted in its colour
        assert counts.get(bytes.fromhex(colour[1:]), 0) > 1000, colour
    out = Path(__file__).parent.parent / "output"
    if out.is_dir():
        shot.replace(out / "dashboard.png")
