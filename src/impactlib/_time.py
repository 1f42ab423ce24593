"""The one place that turns instants into UTC datetimes and ISO 8601 text, and back.

Why one module: every record, series row and provider answer is stamped in UTC, and carbon
intensity is looked up by those stamps. Eight private copies of "parse, then make it aware"
had drifted (one read a naive stamp as local time, one as UTC); a stamp read in one place
and written in another must mean the same instant. The rules here:

- a naive datetime or stamp is taken to be UTC already (impactlib never writes local time);
- stored text (records, series) is :func:`iso_utc`: ``2024-01-15T18:00:00.000+00:00``
  (a run's ``updated_at`` to the microsecond, see ``Store._next_stamp``);
- text shown to people or exchanged as JSON is :func:`iso_z`: ``2024-01-15T18:00:00Z``;
- :func:`parse_utc` reads both, and what providers send (``Z``, offsets, with or without
  seconds or fractions); it raises :class:`ValueError`, which each caller turns into its own
  error (a malformed provider answer, bad command-line input).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from .errors import UsageError

UTC = timezone.utc
S_PER_MINUTE = 60
_MONTH = re.compile(r"(\d{4})(?:-(\d{2}))?")


def utc(when: datetime) -> datetime:
    """``when`` as an aware UTC datetime (a naive value is taken to be UTC already)."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def now_utc() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def from_wall_ns(wall_ns: int) -> datetime:
    """The aware UTC datetime of a ``time.time_ns()`` reading."""
    return datetime.fromtimestamp(wall_ns / 1e9, tz=UTC)


def iso_utc(when: datetime, timespec: str = "milliseconds") -> str:
    """Stored form of an instant: ISO 8601 with a ``+00:00`` offset."""
    return utc(when).isoformat(timespec=timespec)


def iso_z(when: datetime) -> str:
    """Displayed and JSON form of an instant: ISO 8601 with a ``Z`` suffix."""
    return utc(when).isoformat().replace("+00:00", "Z")


def parse_utc(text: str) -> datetime:
    """An aware UTC datetime from ISO 8601 text; :class:`ValueError` if it is not one."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    return utc(datetime.fromisoformat(value))


def parse_user_time(text: str) -> datetime:
    """A time given by a person (``--at``, ``--now``); :class:`UsageError` naming the fix."""
    try:
        return parse_utc(text)
    except ValueError as exc:
        raise UsageError(f"bad time {text!r}: use ISO 8601, e.g. 2024-01-15T18:00Z") from exc


def minute_start(minute: int) -> datetime:
    """Start of the UTC minute numbered ``minute`` since the epoch (series buckets)."""
    return datetime.fromtimestamp(minute * S_PER_MINUTE, tz=UTC)


def minute_iso(minute: int) -> str:
    """Stored stamp of a series bucket: the start of its minute, to the second."""
    return iso_utc(minute_start(minute), timespec="seconds")


def epoch_minutes(text: str) -> float:
    """Minutes since the epoch of an ISO 8601 stamp (for charts that need a number axis)."""
    return parse_utc(text).timestamp() / S_PER_MINUTE


def parse_month(text: str, end: bool = False) -> str:
    """A month given by a person, ``YYYY-MM`` or a year ``YYYY``, as ``YYYY-MM``.

    A year stands for its January, or its December when ``end`` (an inclusive upper bound).
    Lab reports and the dashboard read their ``since``/``until`` here, so both accept the same
    forms; :class:`ValueError` names the form, each caller says which option or parameter.
    """
    match = _MONTH.fullmatch(text.strip())
    if not match or not 1 <= int(match[2] or 1) <= 12:
        raise ValueError(f"'{text}' is not a month; give YYYY-MM (e.g. 2026-03) or a year YYYY")
    return f"{match[1]}-{match[2] or ('12' if end else '01')}"
