"""Small helpers shared by the live providers: UTC parsing, cache lifetimes, point ends."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from ..errors import ProviderError
from .base import IntensityPoint, PointKind

UTC = timezone.utc
# History that ended this long ago is settled enough to keep for a day; newer answers change
# (late data, consolidation) and are kept only for minutes.
SETTLED_AFTER = timedelta(hours=3)
SETTLED_TTL_S = 86400.0
RECENT_TTL_S = 600.0
FORECAST_TTL_S = 900.0


def utc(when: datetime) -> datetime:
    """``when`` as an aware UTC datetime (naive values are taken to be UTC already)."""
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def now_utc() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def parse_utc(provider: str, text: Any) -> datetime:
    """Parse the ISO 8601 stamps the providers use (``Z``, ``+00:00``, with or without
    seconds or milliseconds); a bad stamp is a malformed answer."""
    if not isinstance(text, str) or not text:
        raise ProviderError(f"{provider}: malformed answer (time stamp {text!r})")
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    try:
        return utc(datetime.fromisoformat(value))
    except ValueError:
        raise ProviderError(f"{provider}: malformed answer (time stamp {text!r})") from None


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
