"""How far off each figure may be: a range (low, high) around every energy and emission.

No energy tracker says how far its figures may be from the truth, and the published
comparisons say it can be far: CodeCarbon about twice other RAPL tools (Jay et al., CCGrid
2023), calculators up to 40 % off a wall meter (Fischer 2025), TDP models 27-37 % off
(arXiv 2506.14551, 2025). So every component of a footprint carries ``low_j``/``high_j``
around its charged energy, from three parts:

* the **method**'s own error (:data:`METHOD_ERRORS`): a counter's published accuracy, a
  power integration's sampling coverage, a model's published validation, a wall meter's
  sensor class (or the accuracy the sensor states);
* the **attribution**'s: the idle floor's spread (the power model fit's residual where the
  model has one, else by where the floor came from: :data:`FLOOR_SPREADS`), applied to the
  idle power the run was charged;
* for emissions, the **carbon intensity**'s: a static annual average has the zone's hourly
  spread, a live source its own (actual or forecast values): :func:`intensity_error`.

**The rule** combining them (docs/measurement.md, "Ranges"): bounds add linearly. A
component's range is its method's bounds widened by the attribution's; a total's low is the
sum of its parts' lows, its high the sum of their highs; emissions' bounds are the energy's
bounds priced at the intensity's bounds. That is the fully correlated, worst case: these
errors are systematic (a sensor's calibration, a model's bias, a grid's hours), shared by
every run on the same hardware and zone, so independence (root-sum-square) would claim a
precision nobody measured. It is also additive, so a run, a project, a month and a lab add
their bounds the same way in any order, and every output shows the same range.

Every constant below names its source and year; where no study gives a number, the source
says it is this project's judgement and why. ``low <= value <= high`` always holds.

This module sits with the record vocabulary (it knows methods and floor sources, nothing of
meters or attribution): producers pass what they know (a fit's residual, a sampling
coverage, a sensor's stated accuracy), outputs read :func:`footprint_range`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict, TypeVar

from .footprint import (
    ChargedTo,
    Component,
    ComponentEnergy,
    FloorSource,
    Footprint,
    Method,
    QualityClass,
)
from .units import j_to_kwh

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing's own from Python 3.11


@dataclass(frozen=True)
class RelativeError:
    """How far the truth may lie below and above a figure, as fractions of it, and who says
    so (``source``: authors, venue and year, or this project's judgement with its reason)."""

    below: float
    above: float
    source: str

    def bounds(self, value: float) -> tuple[float, float]:
        """(low, high) around ``value`` (never below zero for a positive value; a negative
        one, an imported remainder, widens the other way)."""
        if value < 0:
            return value * (1.0 + self.above), value * (1.0 - self.below)
        return max(value * (1.0 - self.below), 0.0), value * (1.0 + self.above)

    @property
    def half_width(self) -> float:
        """Half the range, as a fraction of the value."""
        return (self.below + self.above) / 2.0


def _symmetric(fraction: float, source: str) -> RelativeError:
    return RelativeError(fraction, fraction, source)


# --- the methods' own errors ----------------------------------------------------------------

# RAPL package energy, Haswell and later: "highly correlated with plug power, promisingly
# accurate" (Khan, Hirki, Niemi, Nurminen, Ou: "RAPL in Action", ACM TOMPECS 3(2), 2018).
# They give no single bound; +-5 % is our reading of their comparisons with plug power.
RAPL_PACKAGE = _symmetric(
    0.05, "Khan et al. 2018, RAPL in Action (TOMPECS): package RAPL tracks plug power"
)
# RAPL DRAM is a model on most parts: it follows trends "usually by a constant power
# offset" and is worst at idle (Desrochers, Paradis, Weaver, MEMSYS 2016).
RAPL_DRAM = _symmetric(
    0.15, "Desrochers et al. 2016 (MEMSYS): DRAM RAPL is offset by a constant, worst at idle"
)
# NVML: nvmlDeviceGetPowerUsage is "accurate to within +/- 5% of current power draw"
# (NVIDIA NVML API reference; stated for Fermi/Kepler, no later figure is published). The
# energy counter integrates the same sensor on the device, with no sampling gap.
NVML_SENSOR = 0.05
NVML_ENERGY = _symmetric(
    NVML_SENSOR, "NVIDIA NVML API reference: board power within +-5 % (energy counter)"
)
# Integrating NVML power readings sees only part of the time: on A100/H100 "only 25 % of
# the runtime is sampled" (Yang, Adamek, Armour: "Part-time Power Measurements", arXiv
# 2312.02741, SC 2024). The error grows with the unseen share; Yang et al. publish no
# formula, so the sampling term is our bound: GAP_ERROR times the unseen share, added to
# the sensor's +-5 % (at their 25 % coverage: +-24 %).
NVML_POWER_COVERAGE = 0.25  # Yang et al. 2024, A100/H100: used when the coverage is unknown
GAP_ERROR = 0.25  # this project's judgement (2026): error of a fully unseen interval
# AMD SMI's energy counter: AMD publishes no accuracy figure; twice NVML's documented
# +-5 %, as this project's judgement (2026) for an undocumented on-die counter.
AMDSMI_ENERGY = _symmetric(
    0.10, "impactlib judgement 2026: AMD publishes no accuracy; twice NVML's +-5 %"
)
# TDP times load: an 8xH100 node drew 76 % of its TDP in training, TDP-based estimates
# were off by 27-37 % (Brookhaven, arXiv 2506.14551, 2025); the upper end is used.
MODEL_TDP = _symmetric(0.37, "arXiv 2506.14551 (2025): TDP-based estimates off by 27-37 %")
# Memory modelled from the memory installed (0.3725 W/GB, Green Algorithms, Lannelongue
# et al. 2021): no validation is published; BoAmps' widest class, as our judgement (2026).
MODEL_MEMORY = _symmetric(
    0.50, "impactlib judgement 2026: no validation of 0.3725 W/GB; BoAmps' low class"
)
# Calculators of the Green Algorithms kind (TDP x usage x time): CodeCarbon and the ML
# CO2 calculator "consistently make errors of up to 40 %" against external measurements
# (Fischer, arXiv 2509.22092, 2025).
GREEN_ALGORITHMS = _symmetric(
    0.40, "Fischer 2025 (arXiv 2509.22092): calculators off by up to 40 %"
)
# SLURM's energy accounting reads RAPL or a BMC through its acct_gather_energy plugin,
# sampled every EnergyIPMIFrequency/acct_gather_node_freq seconds: a BMC's +-5 % plus
# sampling, +-10 % as this project's judgement (2026).
SLURM_EXCLUSIVE = _symmetric(
    0.10, "impactlib judgement 2026: a BMC or RAPL (+-5 %) sampled by SLURM's plugin"
)
# CodeCarbon reports "almost twice as high as other tools based on the same interface
# (Intel RAPL)" (Jay et al., CCGrid 2023; CodeCarbon issue #788): the truth may be half;
# above, Fischer 2025's up to 40 %.
CODECARBON = RelativeError(
    0.50, 0.40, "Jay et al. 2023 (CCGrid): about 2x RAPL tools; Fischer 2025: up to 40 %"
)
# A BMC's power reading (IPMI DCMI, Redfish), read from the power supplies' own meters: +-5 %
# as this project's judgement (2026), the class usually quoted for server PSU metering; the
# vendors' manuals consulted (Dell iDRAC6/CMC) state none, so `impactlib validate` against a
# wattmeter gives a host's real figure.
BMC_METER = _symmetric(0.05, "impactlib judgement 2026: BMC/PSU power metering, about +-5 %")
# An hwmon power sensor that states no accuracy (power1_accuracy): a board sensor of
# unknown class, twice a BMC's as this project's judgement (2026).
HWMON_METER = _symmetric(
    0.10, "impactlib judgement 2026: hwmon sensor of unknown class; twice a BMC's +-5 %"
)
# A platform constant calibrated once against a wattmeter or BMC (`impactlib calibrate
# --wall-watts`): fans, disks and PSU losses move with load and temperature around it;
# +-25 % (BoAmps' medium class) as this project's judgement (2026).
MODEL_PLATFORM = _symmetric(
    0.25, "impactlib judgement 2026: one calibrated constant for fans, disks, PSU losses"
)
# A method this version does not know (a newer record): the widest class, said so.
UNKNOWN = _symmetric(0.50, "unknown method: BoAmps' low class (+-50 %)")

METHOD_ERRORS: Mapping[Method, RelativeError] = {
    Method.RAPL: RAPL_PACKAGE,  # DRAM domains: RAPL_DRAM (method_error)
    Method.NVML_ENERGY: NVML_ENERGY,
    Method.AMDSMI_ENERGY: AMDSMI_ENERGY,
    Method.MODEL_TDP: MODEL_TDP,
    Method.MODEL_MEMORY: MODEL_MEMORY,
    Method.GREEN_ALGORITHMS: GREEN_ALGORITHMS,
    Method.SLURM_EXCLUSIVE: SLURM_EXCLUSIVE,
    Method.CODECARBON: CODECARBON,
    Method.HWMON: HWMON_METER,
    Method.IPMI_DCMI: BMC_METER,
    Method.REDFISH: BMC_METER,
    Method.MODEL_PLATFORM: MODEL_PLATFORM,
    Method.UNKNOWN: UNKNOWN,
}


def nvml_power_error(coverage: float | None = None) -> RelativeError:
    """The error of integrated NVML power readings that saw ``coverage`` of the time (0-1;
    None: Yang et al.'s 25 % for A100/H100)."""
    seen = NVML_POWER_COVERAGE if coverage is None else min(max(coverage, 0.0), 1.0)
    return _symmetric(
        NVML_SENSOR + GAP_ERROR * (1.0 - seen),
        f"NVML +-5 % plus sampling gaps ({seen:.0%} of the time seen; Yang et al. 2024)",
    )


def sensor_error(accuracy_percent: float) -> RelativeError:
    """The error of a sensor that states its accuracy (hwmon ``power1_accuracy``, e.g.
    ``95.0%``: within 5 % of the reading)."""
    fraction = min(max(1.0 - accuracy_percent / 100.0, 0.0), 1.0)
    return _symmetric(fraction, f"the sensor's stated accuracy ({accuracy_percent:g} %)")


def method_error(
    method: Method,
    component: Component,
    *,
    coverage: float | None = None,
    accuracy_percent: float | None = None,
) -> RelativeError:
    """The error of ``method`` measuring ``component``: RAPL's DRAM domain is a model,
    NVML power integration depends on its ``coverage``, a sensor that states its
    ``accuracy_percent`` is taken at its word; the daemon's readings are those of the
    meter it read (RAPL for CPU and DRAM, NVML's counter for a GPU)."""
    if accuracy_percent is not None:
        return sensor_error(accuracy_percent)
    if method is Method.NVML_POWER:
        return nvml_power_error(coverage)
    if method in (Method.RAPL, Method.DAEMON) and component is Component.DRAM:
        return RAPL_DRAM
    if method is Method.DAEMON and component is Component.PLATFORM:
        return HWMON_METER  # the daemon's wall sensor, of a class the tracker is not told
    if method is Method.DAEMON:
        return NVML_ENERGY if component is Component.GPU else RAPL_PACKAGE
    return METHOD_ERRORS.get(method, UNKNOWN)


# --- the platform's: a remainder ---------------------------------------------------------------

WALL_METHODS = frozenset({Method.HWMON, Method.IPMI_DCMI, Method.REDFISH, Method.DAEMON})


def is_wall_remainder(component: ComponentEnergy) -> bool:
    """Whether ``component`` is the wall minus the other domains (its error is the wall's,
    on the whole wall, plus the parts')."""
    return component.component is Component.PLATFORM and component.method in WALL_METHODS


def platform_domain_bounds(
    platform: ComponentEnergy,
    parts: Iterable[ComponentEnergy],
    *,
    accuracy_percent: float | None = None,
) -> tuple[float, float]:
    """(low, high) of the platform domain's whole energy (``domain_j``): the wall's range
    minus the parts' ranges, crosswise (the linear rule). The wall's error applies to the
    whole wall, not to the remainder alone: 5 % of a 100 W wall is 5 W, an eighth of a
    40 W platform."""
    others = [p for p in parts if p is not platform]
    wall = platform.domain_j + sum(p.domain_j for p in others)
    wall_low, wall_high = method_error(
        platform.method, Component.PLATFORM, accuracy_percent=accuracy_percent
    ).bounds(wall)
    parts_low = parts_high = 0.0
    for part in others:
        low, high = method_error(part.method, part.component).bounds(part.domain_j)
        parts_low += low
        parts_high += high
    low = min(max(wall_low - parts_high, 0.0), platform.domain_j)
    return low, max(wall_high - parts_low, platform.domain_j)


# --- the attribution's ------------------------------------------------------------------------

# The spread of an idle floor, as a fraction of it, by where it came from (docs/
# measurement.md "Ranges"), used where the floor has no fit residual:
FLOOR_SPREADS: Mapping[FloorSource, RelativeError] = {
    # A calibration steps the load on an otherwise idle host: its residuals are those of a
    # clean fit; +-5 % as this project's judgement (2026).
    FloorSource.CALIBRATED: _symmetric(0.05, "impactlib judgement 2026: a calibration's fit"),
    # A learned fit is refused beyond 15 % RMS scatter (power_model.MAX_REL_RESIDUAL).
    FloorSource.LEARNED: _symmetric(0.15, "power_model.MAX_REL_RESIDUAL: learned fits <= 15 %"),
    # An estimation model's idle power (TDP tables' idle share): the TDP model's error.
    FloorSource.MODEL: _symmetric(0.37, MODEL_TDP.source),
    # The lowest power seen may hold the run's own load: +-50 % (BoAmps' low class).
    FloorSource.OBSERVED: _symmetric(
        0.50, "impactlib judgement 2026: lowest power seen may hold load"
    ),
}


def floor_spread(source: FloorSource, fit_residual: float | None = None) -> float:
    """The idle floor's relative spread: the power model fit's relative RMS residual where
    the model has one, else by the floor's source."""
    if fit_residual is not None and fit_residual >= 0:
        return fit_residual
    return FLOOR_SPREADS[source].half_width


def attribution_j(component: ComponentEnergy, charged_to: ChargedTo, spread: float) -> float:
    """How much a floor off by ``spread`` moves the charged energy: the idle energy charged
    times the spread. A run charged for the whole machine pays all of the idle power, so the
    floor moves nothing. (Where the floor is known, the exact change also takes back the
    dynamic energy a higher floor removes; the idle share alone bounds it from above.)"""
    if charged_to is ChargedTo.MACHINE:
        return 0.0
    return component.idle_j * spread


# --- a component's range ---------------------------------------------------------------------


@dataclass(frozen=True)
class ComponentRange:
    """A component's charged energy and its range (joules, before PUE). ``derived``: the
    record stored no range (written before ranges existed), so it was derived from its
    method and floor source when read."""

    low_j: float
    energy_j: float
    high_j: float
    derived: bool = False


class RangeEvidence(TypedDict, total=False):
    """What a producer may know beyond the component itself, to narrow or place its range:
    the power model fit's residual, the sampling coverage, the sensor's stated accuracy, or
    the bounds of the whole domain (such as a platform's wall balance)."""

    fit_residual: float | None
    coverage: float | None
    accuracy_percent: float | None
    domain_bounds: tuple[float, float] | None


def component_bounds(
    component: ComponentEnergy, charged_to: ChargedTo, **evidence: Unpack[RangeEvidence]
) -> tuple[float, float]:
    """(low_j, high_j) of a component's charged energy: its method's bounds (or, given
    ``domain_bounds`` of the whole domain, such as a platform's wall balance, the charged
    share of those), widened on both sides by the attribution's (linear: the documented
    rule)."""
    value = component.energy_j
    domain_bounds = evidence.get("domain_bounds")
    if domain_bounds is not None and component.domain_j > 0:
        share = value / component.domain_j
        low, high = domain_bounds[0] * share, domain_bounds[1] * share
    else:
        low, high = method_error(
            component.method,
            component.component,
            coverage=evidence.get("coverage"),
            accuracy_percent=evidence.get("accuracy_percent"),
        ).bounds(value)
    spread = floor_spread(component.idle_floor_source, evidence.get("fit_residual"))
    moved = abs(attribution_j(component, charged_to, spread))
    low -= moved
    return (max(low, 0.0) if value >= 0 else low), high + moved


def with_range(
    component: ComponentEnergy, charged_to: ChargedTo, **evidence: Unpack[RangeEvidence]
) -> ComponentEnergy:
    """``component`` with its ``low_j``/``high_j`` set (what producers store)."""
    low, high = component_bounds(component, charged_to, **evidence)
    return _set(component, low_j=low, high_j=high)


T = TypeVar("T")


def _set(record: T, **values: object) -> T:
    """A copy of a frozen, already checked record with ``values`` set: what
    ``dataclasses.replace`` gives without re-running every field's check, which made setting
    ranges a tenth of an ingest of 100,000 jobs."""
    out = copy.copy(record)
    for name, value in values.items():
        object.__setattr__(out, name, value)
    return out


def component_range(component: ComponentEnergy, charged_to: ChargedTo) -> ComponentRange:
    """A component's range: the stored one, or (a record from before ranges) derived from
    its method and floor source, marked ``derived``."""
    if component.low_j is not None and component.high_j is not None:
        return ComponentRange(component.low_j, component.energy_j, component.high_j)
    low, high = component_bounds(component, charged_to)
    return ComponentRange(low, component.energy_j, high, derived=True)


# --- carbon intensity's -----------------------------------------------------------------------

# A static annual average prices every hour of the year alike; a run's hours may be cleaner
# or dirtier. No bundled table holds hourly values, so one generic band is used for every
# zone: hourly intensity in grids with much wind or solar swings by more than this, in
# fossil- or hydro-dominated grids by less. +-30 %: this project's judgement (2026) (a
# zone's own spread replaces it once hourly data is bundled; a live source's price has its
# own, below).
STATIC_HOURLY = _symmetric(
    0.30, "impactlib judgement 2026: an annual average vs the run's hours, any zone"
)
# A live source's measured values (RTE eCO2mix, NESO's actual, Electricity Maps' history):
# generation accounting of the operator, +-10 % as this project's judgement (2026).
LIVE_ACTUAL = _symmetric(0.10, "impactlib judgement 2026: a grid operator's measured mix")
# A live source's forecast values (NESO's fw48h, Electricity Maps' forecast): +-20 %, this
# project's judgement (2026): a day-ahead forecast of the mix adds its own error.
LIVE_FORECAST = _symmetric(0.20, "impactlib judgement 2026: a day-ahead forecast of the mix")
STATIC_SOURCE = "static"  # carbon.static's source name (a mix is "<live>+static")


def intensity_error(source: str, detail: str) -> RelativeError:
    """The error of an intensity from ``source`` (a CarbonInfo's): a static average, or a
    price partly from one (``rte+static``), has the hourly spread; a live source its own,
    the forecast's where any of its points (listed at the end of ``detail``) was one."""
    if source == STATIC_SOURCE or source.endswith("+" + STATIC_SOURCE):
        return STATIC_HOURLY
    if source in ("rte", "gb", "electricitymaps"):
        points = detail.rpartition("points:")[2]
        return LIVE_FORECAST if "forecast" in points else LIVE_ACTUAL
    return STATIC_HOURLY  # an imported record's intensity: an annual average


# --- a footprint's ranges --------------------------------------------------------------------

# BoAmps' quality classes, by the relative half-width of the energy's range.
QUALITY_CLASSES: tuple[tuple[float, QualityClass], ...] = (
    (0.10, QualityClass.HIGH),
    (0.25, QualityClass.MEDIUM),
)


def quality_class(low: float, value: float, high: float) -> QualityClass:
    """BoAmps' class of a range: high (within +-10 %), medium (+-25 %), low (wider). A zero
    figure with a zero range is exact: high."""
    half = (high - low) / 2.0
    if value <= 0:
        return QualityClass.HIGH if half <= 0 else QualityClass.LOW
    for limit, name in QUALITY_CLASSES:
        if half / value <= limit + 1e-12:
            return name
    return QualityClass.LOW


@dataclass(frozen=True)
class FootprintRange:
    """A footprint's totals with their ranges (energy PUE included), and its class.
    ``derived``: part of it was derived when read (a record from before ranges)."""

    energy_low_j: float
    energy_j: float
    energy_high_j: float
    emissions_low_kg: float
    emissions_kg: float
    emissions_high_kg: float
    quality_class: QualityClass
    derived: bool

    @property
    def energy_low_kwh(self) -> float:
        return j_to_kwh(self.energy_low_j)

    @property
    def energy_high_kwh(self) -> float:
        return j_to_kwh(self.energy_high_j)


def emissions_bounds(
    fp: Footprint, energy_low_j: float, energy_high_j: float
) -> tuple[float, float]:
    """Emissions' bounds: the energy's bounds (before PUE) priced at the intensity's."""
    energy = fp.energy_j
    if fp.emissions_kg <= 0 or energy <= 0:
        return fp.emissions_kg, fp.emissions_kg
    if fp.carbon is None:
        spread = STATIC_HOURLY
    else:
        spread = intensity_error(fp.carbon.source, fp.carbon.detail)
    low = fp.emissions_kg * (energy_low_j / energy) * (1.0 - spread.below)
    high = fp.emissions_kg * (energy_high_j / energy) * (1.0 + spread.above)
    return max(min(low, fp.emissions_kg), 0.0), max(high, fp.emissions_kg)


def sum_bounds(ranges: Iterable[ComponentRange]) -> tuple[float, float]:
    """(low, high) of a sum: the lows added, the highs added (the documented rule)."""
    low = high = 0.0
    for part in ranges:
        low += part.low_j
        high += part.high_j
    return low, high


def with_ranges(fp: Footprint) -> Footprint:
    """``fp`` with its emissions' range and quality class set, from its components' stored
    ranges (a component without one gets its method's)."""
    parts = tuple(
        c if c.low_j is not None and c.high_j is not None else with_range(c, fp.charged_to)
        for c in fp.components
    )
    fp = _set(fp, components=parts)
    low, high = sum_bounds(component_range(c, fp.charged_to) for c in parts)
    em_low, em_high = emissions_bounds(fp, low, high)
    return _set(
        fp,
        emissions_low_kg=em_low,
        emissions_high_kg=em_high,
        quality_class=quality_class(low, fp.energy_j, high),
    )


def footprint_range(fp: Footprint) -> FootprintRange:
    """The ranges every output shows: stored where the record has them, else derived."""
    parts = [component_range(c, fp.charged_to) for c in fp.components]
    low, high = sum_bounds(parts)
    derived = any(p.derived for p in parts)
    if fp.emissions_low_kg is not None and fp.emissions_high_kg is not None:
        em_low, em_high = fp.emissions_low_kg, fp.emissions_high_kg
    else:
        em_low, em_high = emissions_bounds(fp, low, high)
        derived = derived or fp.emissions_kg > 0
    klass = fp.quality_class or quality_class(low, fp.energy_j, high)
    return FootprintRange(
        energy_low_j=low * fp.pue,
        energy_j=fp.energy_j * fp.pue,
        energy_high_j=high * fp.pue,
        emissions_low_kg=em_low,
        emissions_kg=fp.emissions_kg,
        emissions_high_kg=em_high,
        quality_class=klass,
        derived=derived,
    )
