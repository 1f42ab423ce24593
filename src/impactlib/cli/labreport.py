"""The lab's outputs of ``report`` and ``export``: ``report --by/--since/--until`` and the
GES 1point5 files (``export --format ges1point5-equipment | lab-summary``).

Kept apart from ``cli/report.py`` (the per-run report) so that each reads on its own; the
report command reads ``--by``, ``--since`` and ``--until`` here (the lab report itself is
built by :mod:`impactlib.report.lab` and laid out by each format), export calls
:func:`ges1point5_text`. Months are the lab report's unit (its figures come from monthly
rollups), so ``--since``/``--until`` take ``YYYY-MM`` (or a year, ``YYYY``), inclusive, and
also select the runs of a plain report by the month they started.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .._time import parse_month as parse_month_text
from ..errors import UsageError
from ..store import RunRecord, with_liveness
from ..store.rollup import DIMENSIONS, FIRST_MONTH, LAST_MONTH, daemon_hosts

if TYPE_CHECKING:
    from ..config import Config


def parse_by(text: str) -> tuple[str, ...]:
    """``user,month`` -> ("user", "month"); unknown or repeated names are a usage error."""
    names = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    unknown = [n for n in names if n not in DIMENSIONS]
    if unknown or not names:
        raise UsageError(
            f"option --by: unknown '{', '.join(unknown) or text}'; use one or more of "
            f"{', '.join(DIMENSIONS)}, comma-separated (e.g. --by user,month)"
        )
    if len(set(names)) != len(names):
        raise UsageError(f"option --by: '{text}' names a dimension twice; name each once")
    return names


def parse_month(option: str, text: str | None, end: bool) -> str:
    """``YYYY-MM`` or ``YYYY`` (January, or December for ``--until``) as ``YYYY-MM``."""
    if text is None:
        return LAST_MONTH if end else FIRST_MONTH
    try:
        return parse_month_text(text, end)
    except ValueError as exc:
        raise UsageError(f"option {option}: {exc} (lab reports are kept by UTC month)") from exc


def month_range(since: str | None, until: str | None) -> tuple[str, str]:
    """``--since`` and ``--until`` as inclusive ``YYYY-MM`` bounds, in order."""
    first, last = parse_month("--since", since, end=False), parse_month("--until", until, end=True)
    if first > last:
        raise UsageError(f"--since {since} is after --until {until}; swap them")
    return first, last


def in_months(records: Sequence[RunRecord], since: str, until: str) -> list[RunRecord]:
    """The runs that started within the months ``since``..``until`` (inclusive)."""
    return [r for r in records if since <= r.started_at[:7] <= until]


def ges1point5_text(
    fmt: str, config: Config, project: str | None, inventory: Path | None, sites: Path | None
) -> str:
    """The GES 1point5 equipment TSV or the lab summary CSV (input files read first, so a
    bad one stops the command before the store is opened or anything written)."""
    from ..report import ges1point5
    from ..store import open_store

    listed = ges1point5.read_inventory(inventory) if inventory is not None else []
    places = ges1point5.read_sites(sites) if sites is not None else []
    store = open_store(config)
    records = [with_liveness(r) for r in store.list_runs(project=project)]
    if fmt == "lab-summary":
        return ges1point5.lab_summary(records, places)
    seen = ges1point5.seen_equipment(records, daemon_hosts(store))
    return ges1point5.equipment_tsv(seen, listed)
