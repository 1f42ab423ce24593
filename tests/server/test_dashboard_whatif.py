"""The dashboard's what-if view: its API answers what ``report --what-if --format json``
answers, and headless Chromium draws its headline, its tables per user and project, the runs
not priced and the assumptions, for the default lever (shift=24h, over a replayed RTE day)
and for one named in the page's address."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from domtext import element_text, table_rows
from server.test_dashboard import _chromium, _free_port, _wait_until_listening
from whatif_lab import SHIFT_HEADLINE, replayed_lab, report_json

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")


@pytest.fixture
def dashboard(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """The dashboard of :func:`whatif_lab.seed`'s store, served through the CLI, pricing
    from RTE replayed on 127.0.0.1."""
    with replayed_lab(monkeypatch, tmp_path):
        port = _free_port()
        command = [sys.executable, "-m", "impactlib.cli.main", "dashboard", "--port", str(port)]
        proc = subprocess.Popen(command, env=dict(os.environ), stderr=subprocess.PIPE, text=True)
        try:
            _wait_until_listening(proc, port)
            yield f"http://127.0.0.1:{port}/"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def _api(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_api_answers_what_the_report_answers(dashboard: str) -> None:
    status, answer = _api(dashboard + "api/whatif?what_if=shift%3D24h")
    assert status == 200
    tables = answer.pop("tables")
    assert answer == report_json("--what-if", "shift=24h")
    assert tables["user"]["total"][-2:] == ["518 g", "66 %"]
    status, by_vision = _api(dashboard + "api/whatif?project=vision")  # shift=24h by default
    assert status == 200 and by_vision == {
        **report_json("--what-if", "shift=24h", "--project", "vision"),
        "tables": by_vision["tables"],
    }
    status, bad = _api(dashboard + "api/whatif?what_if=shift%3Dabc")
    assert status == 400 and "shift=abc" in bad["error"]


def test_chromium_draws_the_shift_view_with_its_figures(dashboard: str, tmp_path: Path) -> None:
    dom = _chromium(dashboard, tmp_path, "--dump-dom").stdout
    assert element_text(dom, "w-headline").strip() == SHIFT_HEADLINE
    by_user = table_rows(dom, "w-by-user")
    assert by_user[0] == ["user", "runs", "as run", "what-if", "saved", "saved %"]
    assert ["ann", "1", "300 g", "45 g", "255 g", "85 %"] in by_user
    assert by_user[-1] == ["all", "2", "780 g", "262 g", "518 g", "66 %"]
    assert ["nlp", "1", "480 g", "218 g", "263 g", "55 %"] in table_rows(dom, "w-by-project")
    unpriced = element_text(dom, "w-unpriced")
    assert "run-cat" in unpriced and "run-dan" in unpriced
    assert "queueing and deadlines are ignored" in element_text(
        dom, "w-assumptions", "div|ul|table"
    )


def test_chromium_draws_the_lever_the_address_names(dashboard: str, tmp_path: Path) -> None:
    dom = _chromium(dashboard + "?what_if=pue%3D1.2", tmp_path, "--dump-dom").stdout
    assert (
        element_text(dom, "w-headline").strip() == report_json("--what-if", "pue=1.2")["headline"]
    )
    assert table_rows(dom, "w-by-user")[-1][-1] == "20 %"
