"""Every example of docs/decisions.md, run through the CLI against :func:`whatif_lab.seed`'s
store (runs of March 2026 in France and Germany), with RTE's history and the GB forecast
replayed on 127.0.0.1: each command exits 0, and the what-if headline the page shows is the
one the command prints. A block no test here knows fails the test: a new example comes with
a way to run it."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from clihelp import cli
from docblocks import blocks
from whatif_lab import replayed_lab

from impactlib.store import open_store

DOCS = Path(__file__).resolve().parents[2] / "docs" / "decisions.md"
BLOCKS = blocks(DOCS)
COMMANDS = [line for b in BLOCKS if b.language == "sh" for line in b.text.splitlines()]
SHOWN = [b.text for b in BLOCKS if b.language == "text"]


def test_every_block_is_a_command_or_a_shown_answer() -> None:
    assert {b.language for b in BLOCKS} == {"sh", "text"}
    assert all(line.startswith("impactlib ") for line in COMMANDS)
    assert len(SHOWN) == 1


def gb_forecast(path: str, query: dict[str, list[str]]) -> dict[str, Any]:
    """48 hours of half-hour forecasts from the asked start: 250 g/kWh, 90 from 02:00 to 06:00."""
    del query
    start = datetime.fromisoformat(path.split("/")[2].replace("Z", "+00:00"))
    data = []
    for i in range(96):
        when = start + timedelta(minutes=30 * i)
        value = 90 if 2 <= when.hour < 6 else 250
        data.append(
            {
                "from": when.strftime("%Y-%m-%dT%H:%MZ"),
                "to": (when + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%MZ"),
                "intensity": {"forecast": value, "actual": None, "index": "moderate"},
            }
        )
    return {"data": data}


@pytest.fixture
def lab(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    with replayed_lab(monkeypatch, tmp_path, {r"/intensity/[^/]+/fw48h": gb_forecast}) as server:
        monkeypatch.setenv("IMPACTLIB_GB_URL", server.url)
        for run_id, accuracy in (("run-ann", 0.91), ("run-dan", 0.88)):  # for `impactlib pepr`
            open_store(str(tmp_path / "lab.db")).set_model(
                run_id, {"metrics": {"accuracy": accuracy}}
            )
        yield


def test_the_commands_run_in_order(lab: None) -> None:
    """The page's commands one after the other on one store, as a lab would type them: the
    budgets set are the ones shown, the what-if headline is the one the page quotes."""
    said = {}
    for command in COMMANDS:
        words = shlex.split(command, comments=True)
        done = cli(*words[1:])
        assert done.returncode == 0, f"{command}: {done.stderr}"
        assert done.stdout.strip(), command
        said[command] = done.stdout
    shift = next(c for c in COMMANDS if "--what-if shift=24h" in c)
    assert said[shift].splitlines()[0] == SHOWN[0]
    shown = said["impactlib budget show"]
    assert "vision" in shown and "lab" in shown, shown


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    kept = "".join(c for c in heading.strip().lower() if c.isalnum() or c in " -")
    return kept.replace(" ", "-")


def test_every_link_reaches_a_page_and_its_section() -> None:
    text = DOCS.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([\w.-]+\.md)(?:#([\w-]+))?\)", text)
    assert ("reporting.md", "budgets") in links
    for page, anchor in links:
        target = DOCS.parent / page
        assert target.exists(), page
        headings = [
            _anchor(line.lstrip("#"))
            for line in target.read_text(encoding="utf-8").splitlines()
            if line.startswith("#")
        ]
        assert not anchor or anchor in headings, (page, anchor)
