"""One UTC/ISO helper: every stamp written is read back as the same instant, naive means UTC."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from impactlib._time import (
    epoch_minutes,
    from_wall_ns,
    iso_utc,
    iso_z,
    minute_iso,
    minute_start,
    parse_user_time,
    parse_utc,
    utc,
)
from impactlib.errors import UsageError

PARIS_SUMMER = timezone(timedelta(hours=2))


def test_stored_and_displayed_forms() -> None:
    when = datetime(2024, 1, 15, 18, 0, 5, 123456, tzinfo=timezone.utc)
    assert iso_utc(when) == "2024-01-15T18:00:05.123+00:00"
    assert iso_utc(when, timespec="seconds") == "2024-01-15T18:00:05+00:00"
    assert iso_z(when.replace(microsecond=0)) == "2024-01-15T18:00:05Z"
    assert iso_z(datetime(2024, 7, 1, 20, 0, tzinfo=PARIS_SUMMER)) == "2024-07-01T18:00:00Z"


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-15T18:00Z",
        "2024-01-15T18:00:00Z",
        "2024-01-15T18:00:00.000+00:00",
        "2024-01-15T20:00:00+02:00",
        "2024-01-15T18:00:00",  # naive: taken to be UTC, never local time
        " 2024-01-15T18:00:00z ",
    ],
)
def test_parse_reads_every_form_as_the_same_instant(text: str) -> None:
    parsed = parse_utc(text)
    assert parsed == datetime(2024, 1, 15, 18, 0, tzinfo=timezone.utc)
    assert parsed.utcoffset() == timedelta(0)


def test_round_trips() -> None:
    when = datetime(2025, 3, 30, 1, 59, 59, 999000, tzinfo=timezone.utc)
    assert parse_utc(iso_utc(when)) == when
    assert parse_utc(iso_z(when)) == when


def test_bad_text_is_a_value_error_and_bad_user_input_a_usage_error() -> None:
    with pytest.raises(ValueError):
        parse_utc("yesterday")
    with pytest.raises(UsageError, match="bad time 'yesterday': use ISO 8601") as info:
        parse_user_time("yesterday")
    assert isinstance(info.value.__cause__, ValueError)
    assert parse_user_time("2024-01-15T18:00Z") == parse_utc("2024-01-15T18:00:00+00:00")


def test_naive_datetimes_are_utc() -> None:
    naive = datetime(2024, 1, 15, 18, 0)
    assert utc(naive) == datetime(2024, 1, 15, 18, 0, tzinfo=timezone.utc)
    assert utc(datetime(2024, 1, 15, 20, 0, tzinfo=PARIS_SUMMER)).hour == 18


def test_minute_helpers_agree() -> None:
    minute = 28_429_920  # 2024-01-21T00:00Z
    assert minute_start(minute) == datetime(2024, 1, 21, tzinfo=timezone.utc)
    assert minute_iso(minute) == "2024-01-21T00:00:00+00:00"
    assert epoch_minutes(minute_iso(minute)) == minute
    assert epoch_minutes("2024-01-21T00:00:30Z") == minute + 0.5
    assert from_wall_ns(minute * 60 * 10**9 + 500_000_000) == minute_start(minute) + timedelta(
        milliseconds=500
    )
