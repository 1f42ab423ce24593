"""The figures a person reads, computed once from run records.

Every output (the run summary, ``report`` in each format, the lab report) renders these
records and computes nothing of its own: a total, a share "measured" or a location's
provenance is worked out here, once, so two outputs can never disagree on it. The rules:

- energy includes PUE; embodied emissions stay apart from operational CO2e;
- "measured" is said only of energy a meter read (quality ``measured``, or ``attributed``:
  a meter's reading split between runs); a model's estimate or an imported figure is not;
- a run without a finished footprint counts as a run with nothing measured;
- settings are shown as the record stores them (secrets are masked before they are stored),
  each with where its value came from;
- every energy and emissions total carries its range (:mod:`impactlib.uncertainty`): ranges
  add linearly, so a group's is the sum of its runs' (a lab line's, of its runs' monthly
  shares) and every output shows the same one, written ``3.2 kWh (2.9–3.6)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from ..footprint import LocatedBy, Quality, QualityClass
from ..units import (
    ENERGY_SCALES,
    J_PER_KWH,
    MASS_SCALES,
    Scale,
    format_in,
    format_number,
    format_scaled,
    scale_for,
)
from .perunit import NO_WORK, MassRange, WorkFigures, sci_terms, work_figures

if TYPE_CHECKING:
    from ..footprint import CarbonInfo, ComponentEnergy, Footprint
    from ..store.records import RunRecord
    from ..store.rollup import LabTotal

MODEL_FIGURES = frozenset({"params", "forward_flops"})  # model size, shown as their own columns
DEFAULT_SOURCE = "default"  # a setting no layer gave: the record keeps no source for it


@dataclass(frozen=True)
class QualityEnergy:
    """Energy of one quality (``measured``, ``attributed``, ``estimated``, ``imported``)."""

    quality: Quality
    energy_j: float  # PUE included


class Bounds(NamedTuple):
    """The low and high ends of a figure's range, in the figure's unit."""

    low: float
    high: float

    def plus(self, other: Bounds) -> Bounds:
        """The range of the sum of two figures (the documented rule: bounds add)."""
        return Bounds(self.low + other.low, self.high + other.high)


@dataclass(frozen=True)
class Amounts:
    """What runs add up to. Energies include PUE; ``embodied_kg`` is None when no run's is
    known (zero would claim it was). ``energy_bounds_j``/``emissions_bounds_kg``: the
    ranges of ``energy_j``/``emissions_kg`` (None: unknown)."""

    runs: int
    duration_s: float
    energy_j: float
    emissions_kg: float
    embodied_kg: float | None
    cpu_hours: float
    gpu_hours: float
    metered_j: float  # the part of energy_j a meter read
    energy_bounds_j: Bounds | None = None
    emissions_bounds_kg: Bounds | None = None

    @property
    def metered_share(self) -> float | None:
        """The share of the energy a meter read; None when there is no energy to share."""
        return self.metered_j / self.energy_j if self.energy_j > 0 else None

    @property
    def quality_class(self) -> QualityClass | None:
        """BoAmps' class of the energy's range (None: the range is unknown)."""
        if self.energy_bounds_j is None:
            return None
        from ..uncertainty import quality_class

        return quality_class(self.energy_bounds_j.low, self.energy_j, self.energy_bounds_j.high)


def add_up(parts: Iterable[Amounts]) -> Amounts:
    """The sum of ``parts`` (embodied: the sum of those known, None if none is)."""
    items = list(parts)
    embodied = [a.embodied_kg for a in items if a.embodied_kg is not None]
    energy_bounds = [a.energy_bounds_j for a in items]
    emissions_bounds = [a.emissions_bounds_kg for a in items]
    return Amounts(
        runs=sum(a.runs for a in items),
        duration_s=sum(a.duration_s for a in items),
        energy_j=sum(a.energy_j for a in items),
        emissions_kg=sum(a.emissions_kg for a in items),
        embodied_kg=sum(embodied) if embodied else None,
        cpu_hours=sum(a.cpu_hours for a in items),
        gpu_hours=sum(a.gpu_hours for a in items),
        metered_j=sum(a.metered_j for a in items),
        energy_bounds_j=add_bounds(energy_bounds),
        emissions_bounds_kg=add_bounds(emissions_bounds),
    )


@dataclass(frozen=True)
class Location:
    """Where the run was priced, and how that place was found."""

    zone: str
    located_by: LocatedBy
    detail: str  # the same in a sentence: which setting, which timezone
    configured: bool  # given by a setting (flag, IMPACTLIB_*, file or init argument)
    world_average: bool  # nothing known: the world average was used


@dataclass(frozen=True)
class Intensity:
    """The carbon intensity a run was priced at."""

    g_per_kwh: float  # mean over the run
    source: str  # static table, rte, gb, electricitymaps
    detail: str  # table and year, or resolution and actual/forecast mix
    fallback: str | None  # what failed and what was used instead


@dataclass(frozen=True)
class Metric:
    """One task metric (``impactlib metrics accuracy=0.91``, ``Tracker.log_metrics``)."""

    name: str
    value: float


@dataclass(frozen=True)
class Setting:
    """One effective setting of a run and where its value came from."""

    key: str
    value: Any
    source: str  # argument, an IMPACTLIB_* variable, a file, or "default"


@dataclass(frozen=True)
class SlurmJobFigures:
    """The SLURM job a run was part of, as its users and ``sacct`` name it."""

    job_id: str  # "123", or "100_7" for an array task
    step: str | None  # "0" for a tracker in an srun step; None in the batch script
    array_task: str | None
    cluster: str | None

    def describe(self) -> str:
        """``SLURM job 100_7 (step 0, array task 7, cluster hpc)``."""
        parts = [
            f"{name} {value}"
            for name, value in (
                ("step", self.step),
                ("array task", self.array_task),
                ("cluster", self.cluster),
            )
            if value
        ]
        return f"SLURM job {self.job_id}" + (f" ({', '.join(parts)})" if parts else "")


def slurm_job(slurm: Mapping[str, Any] | None) -> SlurmJobFigures | None:
    """The job of a record's ``config["slurm"]`` (a tracker's or ``slurm ingest``'s), or
    None for a run outside SLURM."""
    if not isinstance(slurm, Mapping) or not slurm.get("job_id"):
        return None

    def text(key: str) -> str | None:
        value = slurm.get(key)
        return None if value is None or value == "" else str(value)

    job_id = str(slurm["job_id"])
    return SlurmJobFigures(
        job_id=job_id,
        step=text("step"),
        array_task=text("array_task_id") or job_id.partition("_")[2] or None,  # sacct: 100_7
        cluster=text("cluster"),
    )


@dataclass(frozen=True)
class RunFigures:
    """One run as people read it."""

    id: str
    project: str
    experiment: str
    user: str
    host: str
    status: str
    started_at: str
    amounts: Amounts
    finished: bool  # has a footprint (a run killed before its first checkpoint has none)
    pue: float | None
    by_quality: tuple[QualityEnergy, ...]
    location: Location | None
    intensity: Intensity | None
    metrics: tuple[Metric, ...]
    settings: tuple[Setting, ...]
    slurm: Mapping[str, Any] | None  # the SLURM job the run was part of, as recorded
    # BoAmps' class of the run's energy range; None for a run with no footprint.
    quality_class: QualityClass | None = None
    # The record stored no range (written before ranges existed): derived from its methods.
    ranges_derived: bool = False
    work: WorkFigures = NO_WORK  # per unit of work, SCI, windows (:mod:`.perunit`)

    @property
    def quality(self) -> str:
        """One word for the run's energy: its shared quality, or the weakest of a mix."""
        return quality_label(q.quality for q in self.by_quality)

    @property
    def job(self) -> SlurmJobFigures | None:
        """The SLURM job the run was part of, if any."""
        return slurm_job(self.slurm)

    @property
    def slurm_job(self) -> str | None:
        """The SLURM job id (``123`` or ``123_4`` for an array task), if any."""
        job = self.job
        return None if job is None else job.job_id


@dataclass(frozen=True)
class GroupFigures:
    """The runs of one project (or user) added up."""

    name: str
    amounts: Amounts


@dataclass(frozen=True)
class ReportFigures:
    """A report's runs, their totals per ``by`` and overall, and the metrics they logged."""

    runs: tuple[RunFigures, ...]
    by: str  # what the groups are: project or user
    groups: tuple[GroupFigures, ...]
    total: Amounts
    metric_names: tuple[str, ...]  # every task metric logged by some run, in first-seen order


def quality_label(qualities: Iterable[Quality]) -> str:
    """One word for a set of qualities: the shared one, or the weakest of a mix.

    ``part estimated`` says that some figure was modelled, which a reader must know first;
    a mix of meter readings is ``attributed`` (all read, some split).
    """
    found = set(qualities)
    if not found:
        return "-"
    if len(found) == 1:
        return str(found.pop())
    if Quality.ESTIMATED in found:
        return "part estimated"
    return str(Quality.ATTRIBUTED) if all(q.metered for q in found) else "part imported"


def footprint_amounts(fp: Footprint | None) -> Amounts:
    """One run's amounts (a run with no footprint: one run with nothing measured), with the
    ranges its record stores (derived from its methods for a record from before ranges)."""
    if fp is None:
        return Amounts(1, 0.0, 0.0, 0.0, None, 0.0, 0.0, 0.0, Bounds(0.0, 0.0), Bounds(0.0, 0.0))
    from ..uncertainty import footprint_range

    ranges = footprint_range(fp)
    return Amounts(
        runs=1,
        duration_s=fp.duration_s,
        energy_j=fp.energy_j * fp.pue,
        emissions_kg=fp.emissions_kg,
        embodied_kg=fp.embodied_kg,
        cpu_hours=fp.cpu_hours,
        gpu_hours=fp.gpu_hours,
        metered_j=fp.metered_j * fp.pue,
        energy_bounds_j=Bounds(ranges.energy_low_j, ranges.energy_high_j),
        emissions_bounds_kg=Bounds(ranges.emissions_low_kg, ranges.emissions_high_kg),
    )


def _by_quality(components: Sequence[ComponentEnergy], pue: float) -> tuple[QualityEnergy, ...]:
    sums: dict[Quality, float] = {}
    for c in components:
        sums[c.quality] = sums.get(c.quality, 0.0) + c.energy_j * pue
    return tuple(QualityEnergy(q, j) for q, j in sums.items())


def location(carbon: CarbonInfo) -> Location:
    """Where a run was priced and how it was located, from its record."""
    how = carbon.located_by
    return Location(
        zone=carbon.zone,
        located_by=how,
        detail=carbon.located_detail or how.label,
        configured=how is LocatedBy.CONFIGURATION,
        world_average=how is LocatedBy.WORLD_AVERAGE,
    )


def intensity(carbon: CarbonInfo) -> Intensity:
    """The intensity a run was priced at, from its record."""
    return Intensity(carbon.mean_g_per_kwh, carbon.source, carbon.detail, carbon.fallback)


def metrics(model: Mapping[str, Any] | None) -> tuple[Metric, ...]:
    """The run's numeric task metrics (model size figures apart: they have columns of their
    own)."""
    logged = (model or {}).get("metrics") or {}
    return tuple(
        Metric(str(name), float(value))
        for name, value in logged.items()
        if isinstance(value, (int, float))
        and not isinstance(value, bool)
        and name not in MODEL_FIGURES
    )


def settings(config: Mapping[str, Any]) -> tuple[Setting, ...]:
    """The run's effective settings with their sources, as the record stores them."""
    values = config.get("values") or {}
    sources = config.get("sources") or {}
    return tuple(
        Setting(str(key), value, str(sources.get(key, DEFAULT_SOURCE)))
        for key, value in values.items()
    )


def run_figures(record: RunRecord) -> RunFigures:
    """Everything a person reads about one run."""
    fp = record.footprint
    slurm = record.config.get("slurm")
    return RunFigures(
        id=record.id,
        project=record.project,
        experiment=record.experiment,
        user=record.user,
        host=record.host,
        status=record.status,
        started_at=record.started_at,
        amounts=footprint_amounts(fp),
        finished=fp is not None,
        pue=None if fp is None else fp.pue,
        by_quality=() if fp is None else _by_quality(fp.components, fp.pue),
        location=None if fp is None or fp.carbon is None else location(fp.carbon),
        intensity=None if fp is None or fp.carbon is None else intensity(fp.carbon),
        metrics=metrics(record.model),
        settings=settings(record.config),
        slurm=slurm if isinstance(slurm, Mapping) else None,
        work=work_of(fp, record.model),
        **_run_ranges(fp),
    )


def report_figures(records: Sequence[RunRecord], by: str = "project") -> ReportFigures:
    """The runs' figures, their totals per ``by`` (``project`` or ``user``, sorted by name)
    and overall."""
    runs = tuple(run_figures(r) for r in records)
    grouped: dict[str, list[Amounts]] = {}
    for run in runs:
        grouped.setdefault(str(getattr(run, by)), []).append(run.amounts)
    groups = tuple(GroupFigures(name, add_up(parts)) for name, parts in sorted(grouped.items()))
    names = dict.fromkeys(m.name for run in runs for m in run.metrics)
    return ReportFigures(runs, by, groups, add_up(r.amounts for r in runs), tuple(names))


def lab_amounts(line: LabTotal) -> Amounts:
    """A lab report line (from the monthly rollups) as amounts: the same figures, read in
    the same units, as a report of runs."""
    return Amounts(
        runs=line.runs,
        duration_s=line.duration_s,
        energy_j=line.energy_kwh * J_PER_KWH,
        emissions_kg=line.emissions_kg,
        embodied_kg=None,  # the rollups do not keep it
        cpu_hours=line.cpu_hours,
        gpu_hours=line.gpu_hours,
        metered_j=line.measured_kwh * J_PER_KWH,
        energy_bounds_j=Bounds(line.energy_low_kwh * J_PER_KWH, line.energy_high_kwh * J_PER_KWH),
        emissions_bounds_kg=Bounds(line.emissions_low_kg, line.emissions_high_kg),
    )


# --- ranges (issue 18): how far a figure may be off, written once for every output --------

RANGE_DASH = "\u2013"  # an en dash: "2.9–3.6"


def add_bounds(parts: Iterable[Bounds | None]) -> Bounds | None:
    """The range of a sum: the lows added, the highs added (the documented rule); None when
    a part's range is unknown."""
    total = Bounds(0.0, 0.0)
    for part in parts:
        if part is None:
            return None
        total = total.plus(part)
    return total


def _run_ranges(fp: Footprint | None) -> dict[str, Any]:
    """A run's quality class, and whether its ranges were derived when read."""
    if fp is None:
        return {"quality_class": None, "ranges_derived": False}
    from ..uncertainty import footprint_range

    ranges = footprint_range(fp)
    return {"quality_class": ranges.quality_class, "ranges_derived": ranges.derived}


RANGE_DIGITS = 3  # a range's ends to three significant digits, as values: "4.5 kWh (4.27–4.73)"


def _outward(value: float, up: bool) -> float:
    """``value`` rounded away from the range's inside, to :data:`RANGE_DIGITS` significant
    digits (whole units from 10 on, as :func:`format_number` prints them): a printed range
    always holds the true one, and so the printed value (itself rounded to three digits)."""
    if value <= 0 or not math.isfinite(value):
        return value
    if value >= 10 ** (RANGE_DIGITS - 1):
        step = 1.0
    else:
        step = 10.0 ** (math.floor(math.log10(value)) - RANGE_DIGITS + 1)
    units = value / step
    nearest = round(units)
    if math.isclose(units, nearest, rel_tol=1e-9):  # already on the grid: float noise only
        return nearest * step
    return (math.ceil(units) if up else math.floor(units)) * step


def bounds_text(bounds: Bounds, scale: Scale) -> str:
    """``2.9–3.6``: a range in ``scale``'s unit, without its symbol (a column names it),
    rounded outward."""
    low = format_number(_outward(bounds.low / scale.size, up=False), RANGE_DIGITS)
    high = format_number(_outward(bounds.high / scale.size, up=True), RANGE_DIGITS)
    return f"{low}{RANGE_DASH}{high}"


def ranged_text(
    value: float, bounds: Bounds | None, scales: Sequence[Scale], qualifier: str = ""
) -> str:
    """``3.2 kWh (2.9–3.6)``: a value with its unit (and ``qualifier``: ``1.2 kg CO2e``),
    then its range in the same unit; the value alone where the range is unknown or empty
    (an exact zero)."""
    beside = range_text(value, bounds, scales)
    if not beside:
        return format_scaled(value, scales) + qualifier
    scale = scale_for(value if value else bounds.high if bounds else 0.0, scales)
    return f"{format_in(value, scale)} {scale.symbol}{qualifier} {beside}"


def energy_text(amounts: Amounts) -> str:
    """The energy with its range: ``3.2 kWh (2.9–3.6)``."""
    return ranged_text(amounts.energy_j, amounts.energy_bounds_j, ENERGY_SCALES)


def emissions_text(amounts: Amounts) -> str:
    """The emissions with their range, for a column headed CO2e: ``1.2 kg (0.84–1.6)``."""
    return ranged_text(amounts.emissions_kg, amounts.emissions_bounds_kg, MASS_SCALES)


def emissions_phrase(amounts: Amounts) -> str:
    """The emissions with their range, in a sentence: ``1.2 kg CO2e (0.84–1.6)`` (the unit
    with what it counts, then the range)."""
    return ranged_text(
        amounts.emissions_kg, amounts.emissions_bounds_kg, MASS_SCALES, qualifier=" CO2e"
    )


def range_text(value: float, bounds: Bounds | None, scales: Sequence[Scale]) -> str:
    """``(2.9–3.6)``: the range alone, in the unit ``value`` is shown in (a table's column
    beside the value's); empty where unknown or empty."""
    if bounds is None or bounds.low == bounds.high == value:
        return ""
    return f"({bounds_text(bounds, scale_for(value if value else bounds.high, scales))})"


def energy_range_text(amounts: Amounts) -> str:
    """The energy's range beside it: ``(2.9–3.6)``."""
    return range_text(amounts.energy_j, amounts.energy_bounds_j, ENERGY_SCALES)


def emissions_range_text(amounts: Amounts) -> str:
    """The emissions' range beside them: ``(0.84–1.6)``."""
    return range_text(amounts.emissions_kg, amounts.emissions_bounds_kg, MASS_SCALES)


def class_text(amounts: Amounts) -> str:
    """The quality class's word (``high``, ``medium``, ``low``), ``-`` where unknown."""
    klass = amounts.quality_class
    return "-" if klass is None else str(klass)


def range_figures(amounts: Amounts) -> dict[str, Any]:
    """The ranges as raw numbers in fixed units (kWh, kg), for JSON and CSV; None where
    unknown."""
    energy, emissions = amounts.energy_bounds_j, amounts.emissions_bounds_kg
    klass = amounts.quality_class
    return {
        "energy_low_kwh": None if energy is None else energy.low / J_PER_KWH,
        "energy_high_kwh": None if energy is None else energy.high / J_PER_KWH,
        "emissions_low_kg": None if emissions is None else emissions.low,
        "emissions_high_kg": None if emissions is None else emissions.high,
        "quality_class": None if klass is None else str(klass),
    }


# --- per unit of work (issue 19): the SCI's terms and the windows, from the record ----------


def work_of(fp: Footprint | None, model: Mapping[str, Any] | None) -> WorkFigures:
    """A run's figures per unit of work and its windows (:mod:`.perunit`), from the same
    amounts every output shows (energy with PUE, CO2e, embodied, their ranges)."""
    if fp is None or fp.carbon is None or not model:
        return NO_WORK
    amounts = footprint_amounts(fp)
    bounds = amounts.emissions_bounds_kg
    terms = sci_terms(
        energy_j=amounts.energy_j,
        emissions_kg=amounts.emissions_kg,
        embodied_kg=amounts.embodied_kg,
        priced_g_per_kwh=fp.carbon.mean_g_per_kwh,
        source=fp.carbon.source,
        zone=fp.carbon.zone,
        emissions_range=None if bounds is None else MassRange(bounds.low, bounds.high),
    )
    return work_figures(model, terms, fp.pue)


def component_ranges(fp: Footprint) -> dict[str, dict[str, float | bool]]:
    """Each component's range by domain, as shown: ``low_kwh``/``high_kwh`` (PUE included,
    as ``energy_kwh``), and ``range_derived`` where the record stored none (its ``low_j``/
    ``high_j`` stay as stored: null)."""
    from ..uncertainty import component_range

    out: dict[str, dict[str, float | bool]] = {}
    for c in fp.components:
        part = component_range(c, fp.charged_to)
        out[c.domain] = {
            "low_kwh": part.low_j * fp.pue / J_PER_KWH,
            "high_kwh": part.high_j * fp.pue / J_PER_KWH,
            "range_derived": part.derived,
        }
    return out
