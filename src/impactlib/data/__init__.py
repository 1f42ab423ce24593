"""Bundled reference tables (see ATTRIBUTION.md for sources and licences)."""

from __future__ import annotations

import csv
import io
import json
from functools import cache
from pathlib import Path
from typing import Any


def read_text(name: str) -> str:
    """The text of a bundled data file (a UTF-8 BOM is dropped). Read next to this module:
    ``importlib.resources`` imports zipfile and its readers on first use, ~6 ms of every
    tracker's start-up, for a package that is always installed as plain files."""
    return Path(__file__).with_name(name).read_text(encoding="utf-8-sig")


def read_bytes(name: str) -> bytes:
    """The bytes of a bundled data file, for callers that search it without decoding it."""
    return Path(__file__).with_name(name).read_bytes()


@cache
def load_json(name: str) -> Any:
    """A bundled JSON file, parsed once per process."""
    return json.loads(read_text(name))


@cache
def load_csv(name: str, skip_lines: int = 0) -> tuple[dict[str, str], ...]:
    """Rows of a bundled CSV as dictionaries; ``skip_lines`` skips unit/notes lines above
    the header (Green Algorithms files carry one), ``#`` comment lines are ignored."""
    lines = [ln for ln in read_text(name).splitlines() if not ln.startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines[skip_lines:])))
    return tuple({(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader)
