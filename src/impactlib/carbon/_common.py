"""Small helpers shared by the live providers: stamps, cache lifetimes, point ends."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from .._time import now_utc, parse_utc, utc
from ..errors import ProviderError
from .base import IntensityPoint, PointKind

# History that ended this long ago is settled enough to keep for a day; newer answers change
# (late data, consolidation) and are kept only for minutes.
SETTLED_AFTER = timedelta(hours=3)
SETTLED_TTL_S = 86400.0
RECENT_TTL_S = 600.0
FORECAST_TTL_S = 900.0


def parse_stamp(provider: str, text: Any) -> datetime:
    """A provider's ISO 8601 time stamp as aware UTC; a bad stamp is a malformed answer."""
    if not isinstance(text, str) or not text:
        raise ProviderError(f"{provider}: malformed answer (time stamp {text!r})")
    try:
        return parse_utc(text)
    except ValueError as exc:
        raise ProviderError(f"{provider}: malformed answer (time stamp {text!r})") from exc


def history_ttl(end: datetime) -> float:
    """How long an answer about an interval ending at ``end`` may be reused."""
    return SETTLED_TTL_S if utc(end) < now_utc() - SETTLED_AFTER else RECENT_TTL_S


def number(provider: str, value: Any) -> float | None:
    """A finite, non-negative intensity, None for a null; anything else is malformed."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProviderError(f"{provider}: malformed answer (intensity {value!r})")
    if value != value or value < 0 or value in (float("inf"),):
        raise ProviderError(f"{provider}: malformed answer (intensity {value!r})")
    return float(value)


def instants_to_points(
    stamps: Sequence[tuple[datetime, float, PointKind]], step: timedelta
) -> list[IntensityPoint]:
    """Points from instant-stamped values: each holds until the next stamp, at most ``step``
    (so a hole in the data stays a hole instead of being bridged by an old value)."""
    ordered = sorted(stamps, key=lambda s: s[0])
    points: list[IntensityPoint] = []
    for i, (start, value, kind) in enumerate(ordered):
        end = start + step
        if i + 1 < len(ordered) and ordered[i + 1][0] > start:
            end = min(end, ordered[i + 1][0])
        if end > start:
            points.append(IntensityPoint(start, end, value, kind))
    return points


def clip(
    points: Sequence[IntensityPoint], start: datetime, end: datetime
) -> tuple[IntensityPoint, ...]:
    """Points overlapping ``[start, end]``, de-duplicated by start time (last one wins)."""
    by_start = {p.start: p for p in points if p.end > start and p.start <= end}
    return tuple(by_start[k] for k in sorted(by_start))
