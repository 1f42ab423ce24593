"""The scheduler finds the true minimum window (checked by brute force) and says when it cannot."""

from __future__ import annotations

import json
import shlex
import sys
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from replay_server import DATA

from impactlib.carbon.base import IntensityPoint, IntensitySeries
from impactlib.errors import ProviderError, UsageError
from impactlib.planning.schedule import (
    best_window,
    format_duration,
    parse_duration,
    run_at,
    scheduler_commands,
)

UTC = timezone.utc
T0 = datetime(2024, 1, 15, 18, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def series_of(values: list[float], step_min: int = 30) -> IntensitySeries:
    step = timedelta(minutes=step_min)
    pts = tuple(
        IntensityPoint(T0 + i * step, T0 + (i + 1) * step, v, "forecast")
        for i, v in enumerate(values)
    )
    return IntensitySeries("gb", "GB", pts, step.total_seconds(), "test")


def brute_mean(values: list[float], step_min: int, start: datetime, length: timedelta) -> float:
    """Mean by summing whole seconds one minute at a time (independent of the scheduler)."""
    total = 0.0
    minutes = int(length.total_seconds() // 60)
    for k in range(minutes):
        t = start + k * MIN
        total += values[int((t - T0).total_seconds() // (step_min * 60))]
    return total / minutes


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("90m", 90), ("6h", 360), ("1h30m", 90), ("2d", 2880), ("1d2h", 1560), ("45 m", 45)],
)
def test_parse_duration(text: str, minutes: int):
    assert parse_duration(text) == timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["", "6", "6x", "h", "0h", "-1h", "1h 30", "6hh", "abc"])
def test_parse_duration_rejects(text: str):
    with pytest.raises(UsageError, match="bad duration"):
        parse_duration(text)


def test_format_duration():
    assert format_duration(timedelta(hours=25, minutes=5)) == "1d1h5m"


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(st.integers(0, 500).map(float), min_size=2, max_size=40),
    length_min=st.integers(1, 600),
    now_min=st.integers(0, 29),
    within_min=st.one_of(st.none(), st.integers(0, 1200)),
)
def test_best_window_matches_brute_force(
    values: list[float], length_min: int, now_min: int, within_min: int | None
):
    series = series_of(values)
    now = T0 + now_min * MIN
    length = length_min * MIN
    horizon = T0 + len(values) * 30 * MIN
    if now + length > horizon:
        with pytest.raises(UsageError, match="reaches only"):
            best_window(series, length, now=now)
        return
    within = None if within_min is None else within_min * MIN
    win = best_window(series, length, within=within, now=now)
    latest = horizon - length
    if within is not None:
        latest = min(latest, now + within)
    # Every minute-aligned start from now (all step edges are minute-aligned here).
    starts = [now + k * MIN for k in range(int((latest - now).total_seconds() // 60) + 1)]
    brute = min(brute_mean(values, 30, s, length) for s in starts)
    assert win.mean_intensity == pytest.approx(brute, abs=1e-9)
    assert now <= win.start <= latest and win.end == win.start + length
    assert win.mean_intensity == pytest.approx(brute_mean(values, 30, win.start, length), abs=1e-9)
    now_mean = brute_mean(values, 30, now, length)
    assert win.now_intensity == pytest.approx(now_mean, abs=1e-9)
    if now_mean > 0:
        assert win.saving_pct == pytest.approx(100 * (1 - brute / now_mean), abs=1e-6)


def test_recorded_gb_forecast_against_brute_force():
    data = json.loads((DATA / "gb_national_fw48h.json").read_text())["data"]
    values = [float(d["intensity"]["forecast"]) for d in data]
    values[0] = float(data[0]["intensity"]["actual"])  # the current half hour has an actual
    from impactlib.carbon.gb import _points

    pts = _points({"data": data}, regional=False)
    series = IntensitySeries("gb", "GB", tuple(pts), 1800.0, "recorded")
    now = T0 + 10 * MIN
    win = best_window(series, "6h", within="24h", now=now)
    starts = [now + k * MIN for k in range(24 * 60 + 1)]
    best = min(starts, key=lambda s: brute_mean(values, 30, s, timedelta(hours=6)))
    assert win.mean_intensity == pytest.approx(brute_mean(values, 30, best, timedelta(hours=6)))
    assert win.saving_pct > 5
    assert win.start.minute in (0, 30) or win.start == now


def test_ties_go_to_now():
    win = best_window(series_of([100.0] * 10), "1h", now=T0 + 5 * MIN)
    assert win.start == T0 + 5 * MIN and win.saving_pct == 0


def test_forecast_shorter_than_job():
    with pytest.raises(UsageError) as err:
        best_window(series_of([100.0] * 96), "3d", now=T0)
    message = str(err.value)
    assert "reaches only 2d ahead" in message and "3d job" in message and "\n" not in message


def test_forecast_that_does_not_cover_now():
    with pytest.raises(ProviderError, match="does not cover now"):
        best_window(series_of([100.0] * 4), "1h", now=T0 + timedelta(days=3))


def test_forecast_starting_at_next_hour_counts_from_there():
    win = best_window(series_of([300.0, 100.0, 300.0], 60), "1h", now=T0 - 20 * MIN)
    assert win.start == T0 + timedelta(hours=1)
    assert win.now_intensity == 300.0


def test_scheduler_commands_quote_everything():
    win = best_window(series_of([300.0, 100.0, 300.0, 300.0]), "30m", now=T0)
    argv = ["python", "train.py", "--name", "it's; rm -rf ~", "$(reboot)"]
    lines = scheduler_commands(win, argv)
    # at: the echoed text, once unquoted, is the exact command line
    echoed = shlex.split(lines["at"].split(" | ")[0])[1]
    assert shlex.split(echoed) == argv
    assert lines["at"].endswith(win.start.astimezone().strftime("-t %Y%m%d%H%M.%S"))
    tokens = shlex.split(lines["systemd-run"])
    assert tokens[tokens.index("--") + 1 :] == argv
    assert "--on-calendar=2024-01-15 18:30:00 UTC" in tokens
    sb = shlex.split(lines["sbatch"])
    assert shlex.split(sb[-1].removeprefix("--wrap=")) == argv
    assert "--time=0-00:30:00" in sb
    with pytest.raises(UsageError):
        scheduler_commands(win, [])


def test_run_at_waits_then_runs_and_passes_exit_code():
    win = best_window(series_of([300.0, 100.0, 300.0, 300.0]), "30m", now=T0)
    clock = [T0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        clock[0] += timedelta(seconds=s)

    code = run_at(
        win, [sys.executable, "-c", "raise SystemExit(7)"], sleep=sleep, clock=lambda: clock[0]
    )
    assert code == 7
    assert sum(slept) == pytest.approx(1800) and max(slept) <= 60


def test_run_at_missing_command():
    win = best_window(series_of([1.0, 1.0]), "30m", now=T0)
    with pytest.raises(UsageError, match="command not found"):
        run_at(win, ["/nonexistent/impactlib-test-cmd"], clock=lambda: T0 + timedelta(days=1))
