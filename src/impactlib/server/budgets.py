"""The dashboard's budget panel: what ``impactlib budget show --format json`` answers.

The figures are :func:`impactlib.report.budgets.document`'s, built by the same functions as
the CLI's over the same store, so the page, ``budget show`` and ``report --budget`` never
disagree; the cells people read (amounts in their units, the share, the day the budget would
be passed) are written there too, so the page's script only places them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .._time import now_utc
from ..report.budgets import document, statuses

if TYPE_CHECKING:
    from ..store.base import Store

PARAMETERS = ("token",)  # the panel shows every budget: nothing narrows it


def unknown_parameter(query: Mapping[str, str]) -> str | None:
    """The first query parameter the budgets' API does not take (a typo is refused, not
    ignored), or None."""
    return next((name for name in query if name not in PARAMETERS), None)


def answer(store: Store, at: datetime | None = None) -> dict[str, Any]:
    """Every budget's status at ``at`` (default: now)."""
    when = at or now_utc()
    return document(statuses(store, store.budgets(), when), when)
