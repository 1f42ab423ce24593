"""What past runs would have emitted under another choice: a later start, another PUE, another
grid (``impactlib report --what-if``).

A lab decides with these figures (docs/decisions.md), so each answer keeps the rule its
numbers can be trusted by:

- ``shift=24h``: each run keeps its duration and its per-minute energy series, moved as one
  block to the start within ``[start, start + 24h]`` where the series' intensity makes it
  emit least. Both the run as it ran and the moved run are priced from the *same* live
  series of the run's zone (the source :mod:`impactlib.carbon.select` picks, fetched a UTC
  day at a time through the on-disk cache), so the saving is never a difference of two
  sources. A zone with only an annual value (the tables) cannot tell one hour from another:
  its runs are listed as not priced, with why, rather than shown saving 0 %.
- ``pue=1.2``: the run's recorded emissions scaled by ``new PUE / recorded PUE`` (the
  emissions are ``energy x PUE x intensity``, so this is exact).
- ``zone=SE``: the run's per-minute energy, with its own PUE, priced in the other zone by
  :func:`impactlib.carbon.pricing.price_run` (live where a source answers, the table
  otherwise), against the emissions it was recorded with.

A run that cannot be priced (never priced, still running, unknown location, no per-minute
series, no series for its period) is listed with the reason, never silently left out of a total nor
priced at a made-up value. Order of jobs, queueing and deadlines are ignored: the answer is
an upper bound of what shifting alone could save, stated as such.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Protocol

from .._time import iso_z, parse_utc, utc
from ..carbon.base import EnergyBucket, IntensityPoint, IntensitySeries
from ..carbon.location import WORLD_ZONE, Location
from ..carbon.pricing import price_run
from ..carbon.select import is_live, make_source, source_name, static_series
from ..config import Config
from ..errors import ConfigError, ProviderError, UsageError
from ..footprint import LocatedBy, Status
from ..store.records import RunRecord, SeriesRow
from ..units import J_PER_KWH
from .schedule import format_duration, parse_duration

MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)
MAX_SHIFT = timedelta(days=7)  # a week of minutes per run is already 10,081 starts to try
SHIFT_RULE = (
    "a start may move later within the shift; order of jobs, queueing and deadlines are "
    "ignored, so this is what shifting alone could at most have saved"
)


class Lever(Enum):
    """What a what-if changes."""

    SHIFT = "shift"
    PUE = "pue"
    ZONE = "zone"


@dataclass(frozen=True)
class WhatIf:
    """A parsed ``--what-if KEY=VALUE``: the lever and its value in the form it needs."""

    lever: Lever
    text: str  # as given, for titles: ``shift=24h``
    shift: timedelta = timedelta(0)
    pue: float = 1.0
    zone: str = ""


def parse_what_if(text: str) -> WhatIf:
    """``shift=24h``, ``pue=1.2`` or ``zone=SE``; :class:`UsageError` (one line) otherwise."""
    key, sep, value = text.partition("=")
    key, value = key.strip().lower(), value.strip()
    levers = ", ".join(f"{lever.value}=..." for lever in Lever)
    if not sep or not value or key not in {lever.value for lever in Lever}:
        raise UsageError(
            f"--what-if {text!r}: use one of {levers} (e.g. shift=24h, pue=1.2, zone=SE)"
        )
    lever = Lever(key)
    shown = f"{key}={value}"
    if lever is Lever.SHIFT:
        try:
            shift = parse_duration(value)
        except UsageError as exc:
            raise UsageError(f"--what-if {shown}: {exc}") from exc
        if shift > MAX_SHIFT:
            raise UsageError(f"--what-if {shown}: shift at most {format_duration(MAX_SHIFT)}")
        return WhatIf(lever, shown, shift=shift)
    if lever is Lever.PUE:
        try:
            pue = float(value)
        except ValueError:
            pue = 0.0
        if not 1.0 <= pue < float("inf"):
            raise UsageError(f"--what-if {shown}: a PUE is a number >= 1.0, e.g. pue=1.2")
        return WhatIf(lever, shown, pue=pue)
    zone = value.upper() if ":" not in value else value
    try:
        static_series(zone)
    except ConfigError as exc:
        raise UsageError(f"--what-if {shown}: {exc}") from exc
    return WhatIf(lever, f"zone={zone}", zone=zone)


@dataclass(frozen=True)
class RunSaving:
    """One priced run: what it emitted as priced here (``baseline_kg``) and under the
    what-if (``whatif_kg``), and which series priced it."""

    run_id: str
    user: str
    project: str
    started_at: str
    baseline_kg: float
    whatif_kg: float
    priced_by: str  # the series (source, zone, resolution) both figures come from
    moved_by: timedelta | None = None  # shift: how much later the cleanest start is

    @property
    def saving_kg(self) -> float:
        """Emissions avoided (negative: the what-if emits more)."""
        return self.baseline_kg - self.whatif_kg


@dataclass(frozen=True)
class Unpriced:
    """A run left out of the totals, and why."""

    run_id: str
    user: str
    project: str
    reason: str


@dataclass(frozen=True)
class GroupSaving:
    """Savings of the priced runs of one user or project (or of all: ``name`` ``all``)."""

    name: str
    runs: int
    baseline_kg: float
    whatif_kg: float

    @property
    def saving_kg(self) -> float:
        """Emissions avoided."""
        return self.baseline_kg - self.whatif_kg

    @property
    def saving_share(self) -> float | None:
        """``saving_kg / baseline_kg``; None when there was nothing to save from."""
        return self.saving_kg / self.baseline_kg if self.baseline_kg > 0 else None


@dataclass(frozen=True)
class WhatIfReport:
    """Everything ``report --what-if`` shows: savings per user, per project and in all, the
    runs behind them, those not priced, and the assumptions in words."""

    what_if: WhatIf
    runs: tuple[RunSaving, ...]
    unpriced: tuple[Unpriced, ...]
    assumptions: tuple[str, ...]

    def by(self, key: str) -> tuple[GroupSaving, ...]:
        """Savings per ``user`` or ``project``, largest saving first."""
        names = sorted({getattr(r, key) for r in self.runs})
        groups = (_group(n, [r for r in self.runs if getattr(r, key) == n]) for n in names)
        return tuple(sorted(groups, key=lambda g: (-g.saving_kg, g.name)))

    @property
    def total(self) -> GroupSaving:
        """All priced runs together."""
        return _group("all", self.runs)


def _group(name: str, runs: Sequence[RunSaving]) -> GroupSaving:
    return GroupSaving(
        name, len(runs), sum(r.baseline_kg for r in runs), sum(r.whatif_kg for r in runs)
    )


SeriesOf = Callable[[str], Sequence[SeriesRow]]


def what_if(
    spec: WhatIf, records: Iterable[RunRecord], series: SeriesOf, config: Config
) -> WhatIfReport:
    """The report of ``spec`` over ``records`` (their per-minute energy from ``series``)."""
    pricer: _Pricer
    if spec.lever is Lever.SHIFT:
        pricer = _Shift(spec.shift, config)
    elif spec.lever is Lever.PUE:
        pricer = _Pue(spec.pue)
    else:
        pricer = _Zone(spec.zone, config)
    runs: list[RunSaving] = []
    unpriced: list[Unpriced] = []
    for record in records:
        fp = record.footprint
        try:
            if fp is None or fp.carbon is None:
                raise _NotPriced("its emissions were never priced")
            if record.status == Status.RUNNING:
                raise _NotPriced("still running: its energy is not all in")
            runs.append(pricer.price(record, series))
        except _NotPriced as exc:
            unpriced.append(Unpriced(record.id, record.user, record.project, str(exc)))
    return WhatIfReport(spec, tuple(runs), tuple(unpriced), pricer.assumptions())


class _NotPriced(Exception):
    """Why one run is left out (its message is what the report lists)."""


class _Pricer(Protocol):
    """One lever's way of pricing a run, and what it assumed."""

    def price(self, record: RunRecord, series: SeriesOf) -> RunSaving:
        """The run under the what-if; :class:`_NotPriced` saying why it cannot be."""
        ...

    def assumptions(self) -> tuple[str, ...]:
        """What the figures assumed, in words, with the series that priced them."""
        ...


def _saving(
    record: RunRecord, baseline: float, whatif: float, by: str, moved_by: timedelta | None = None
) -> RunSaving:
    return RunSaving(
        record.id, record.user, record.project, record.started_at, baseline, whatif, by, moved_by
    )


def _minutes(rows: Sequence[SeriesRow]) -> dict[datetime, float]:
    """A run's energy per UTC minute (joules before PUE, components added)."""
    out: dict[datetime, float] = {}
    for row in rows:
        minute = utc(parse_utc(row.minute)).replace(second=0, microsecond=0)
        out[minute] = out.get(minute, 0.0) + row.energy_j
    return out


class _Pue(_Pricer):
    def __init__(self, pue: float) -> None:
        self.pue = pue

    def price(self, record: RunRecord, series: SeriesOf) -> RunSaving:
        fp = record.footprint
        assert fp is not None and fp.carbon is not None
        whatif = fp.emissions_kg * self.pue / fp.pue if fp.pue > 0 else 0.0
        return _saving(record, fp.emissions_kg, whatif, f"as recorded, PUE {fp.pue:g}")

    def assumptions(self) -> tuple[str, ...]:
        return (
            f"each run's recorded emissions scaled by {self.pue:g} / its recorded PUE "
            "(same energy, same intensity: only the facility overhead changes)",
        )


class _Zone(_Pricer):
    def __init__(self, zone: str, config: Config) -> None:
        self.zone = zone
        self.config = config
        self.used: set[str] = set()

    def price(self, record: RunRecord, series: SeriesOf) -> RunSaving:
        fp = record.footprint
        assert fp is not None and fp.carbon is not None
        minutes = _minutes(series(record.id))
        start = parse_utc(fp.started_at)
        end = start + timedelta(seconds=fp.duration_s)
        try:
            live = is_live(source_name(self.config, self.zone))
        except ConfigError as exc:
            raise _NotPriced(str(exc)) from exc
        if not minutes:
            if live:
                raise _NotPriced(
                    f"no per-minute energy kept, and {self.zone} is priced minute by minute"
                )
            minutes = {start: fp.energy_j}  # one annual value: only the total matters
        buckets = [EnergyBucket(m, j) for m, j in sorted(minutes.items())]
        config = dataclasses.replace(self.config, pue=fp.pue)
        where = Location(self.zone, LocatedBy.CONFIGURATION, f"what-if zone={self.zone}")
        try:
            kg, carbon = price_run(buckets, config, where, start, end)
        except (ProviderError, ConfigError) as exc:
            raise _NotPriced(f"{self.zone} could not be priced: {exc}") from exc
        priced_by = f"{carbon.source} {carbon.zone}: {carbon.detail}"
        if carbon.fallback:
            priced_by += f" ({carbon.fallback})"
        self.used.add(priced_by)
        return _saving(record, fp.emissions_kg, kg, priced_by)

    def assumptions(self) -> tuple[str, ...]:
        return (
            f"each run's per-minute energy, with its own PUE, priced in {self.zone} at the same "
            "minutes, against the emissions it was recorded with",
            *(f"series: {s}" for s in sorted(self.used)),
            "intensities of two zones may have different bases (production or consumption, "
            "direct or life-cycle): each series names its own",
        )


class _Shift(_Pricer):
    def __init__(self, shift: timedelta, config: Config) -> None:
        self.shift = shift
        self.config = config
        self.days: dict[tuple[str, datetime], IntensitySeries | ProviderError] = {}
        self.used: set[str] = set()

    def price(self, record: RunRecord, series: SeriesOf) -> RunSaving:
        fp = record.footprint
        assert fp is not None and fp.carbon is not None
        zone = fp.carbon.zone
        if zone == WORLD_ZONE:
            raise _NotPriced("its location is unknown (world average)")
        minutes = _minutes(series(record.id))
        if not minutes:
            raise _NotPriced("no per-minute energy kept (an imported or accounting record)")
        try:
            name = source_name(self.config, zone)
        except ConfigError as exc:
            raise _NotPriced(str(exc)) from exc
        if not is_live(name):
            raise _NotPriced(
                f"zone {zone} has only an annual value (static table), which cannot tell one "
                "hour from another; set IMPACTLIB_ELECTRICITYMAPS_KEY for its hourly history"
            )
        first, last = min(minutes), max(minutes)
        span = self._series(name, zone, first, last + MINUTE + self.shift)
        steps = int((last - first) / MINUTE) + 1
        energy = [minutes.get(first + i * MINUTE, 0.0) for i in range(steps)]
        offsets = int(self.shift / MINUTE)
        intensity = [span.near(first + i * MINUTE) for i in range(steps + offsets)]
        best = cleanest_offset(energy, [p.g_per_kwh if p else None for p in intensity], offsets)
        if best is None:
            raise _NotPriced(
                f"the {name} series for {zone} does not cover the run's own minutes "
                f"({iso_z(first)} to {iso_z(last + MINUTE)})"
            )
        offset, base_g, best_g = best
        kg_per_g = fp.pue / J_PER_KWH / 1000.0
        priced_by = f"{name} {zone}, {span.resolution_s / 60:g}-minute values ({span.basis})"
        self.used.add(f"{priced_by}: {span.detail}")
        return _saving(
            record,
            base_g * kg_per_g,
            best_g * kg_per_g,
            priced_by,
            moved_by=offset * MINUTE,
        )

    def _series(self, name: str, zone: str, start: datetime, end: datetime) -> IntensitySeries:
        """The live history over ``[start, end]``, asked a UTC day at a time (so runs of the
        same days share the answers, here and in the on-disk cache); the points of the days
        that answered, or :class:`_NotPriced` naming the first failure if none did."""
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        points: list[IntensityPoint] = []
        failure: ProviderError | None = None
        found: IntensitySeries | None = None
        while day < end:
            key = (zone, day)
            if key not in self.days:
                try:  # a source (and its network budget) per day, as --reprice has per run
                    source = make_source(name, self.config)
                    self.days[key] = source.history(zone, day, day + DAY)
                except ProviderError as exc:
                    self.days[key] = exc
            answer = self.days[key]
            if isinstance(answer, ProviderError):
                failure = failure or answer
            else:
                found = answer
                points += [p for p in answer.points if p.start < day + DAY and p.end > day]
            day += DAY
        if found is None:
            raise _NotPriced(f"no {name} history for {zone} over its period: {failure}")
        return dataclasses.replace(found, points=tuple({p.start: p for p in points}.values()))

    def assumptions(self) -> tuple[str, ...]:
        return (
            f"each run's per-minute energy moved as one block to the start within "
            f"{format_duration(self.shift)} after its own where it emits least (whole minutes); "
            "the run as it ran and the moved run are priced from the same series, with the "
            "run's own PUE",
            SHIFT_RULE,
            *(f"series: {s}" for s in sorted(self.used)),
        )


def cleanest_offset(
    energy: Sequence[float], intensity: Sequence[float | None], offsets: int
) -> tuple[int, float, float] | None:
    """The offset (minutes, 0 to ``offsets``) at which ``energy`` weighs least on
    ``intensity``, with ``sum(E_i * CI_i)`` at offset 0 and at that offset (J x g/kWh);
    None when offset 0 itself is not covered. Offsets whose minutes are not all covered
    are not candidates; ties go to the earliest.

    Why not a plain double loop: intensity is a step function (15 or 30 minutes), so each
    offset adds up one product per step, from prefix sums of the energy.
    """
    n = len(energy)
    prefix = [0.0]
    for joules in energy:
        prefix.append(prefix[-1] + joules)
    steps: list[tuple[int, int, float | None]] = []  # [lo, hi) minute indices of one value
    for i, value in enumerate(intensity):
        if steps and steps[-1][2] == value and steps[-1][1] == i:
            steps[-1] = (steps[-1][0], i + 1, value)
        else:
            steps.append((i, i + 1, value))
    starts = [lo for lo, _, _ in steps]

    def weighted(k: int) -> float | None:
        total = 0.0
        for lo, hi, value in steps[bisect.bisect_right(starts, k) - 1 :]:
            if lo >= k + n:
                break
            share = prefix[min(hi, k + n) - k] - prefix[max(lo, k) - k]
            if value is None:
                return None
            total += share * value
        return total

    base = weighted(0)
    if base is None:
        return None
    best_k, best = 0, base
    for k in range(1, offsets + 1):
        total = weighted(k)
        if total is not None and total < best - 1e-9 * max(1.0, abs(best)):
            best_k, best = k, total
    return best_k, base, best
