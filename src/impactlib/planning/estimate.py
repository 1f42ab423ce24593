"""Estimates before (or during) a run: the Green Algorithms formula and epoch extrapolation.

Two questions a researcher asks before spending compute: *what will this cost?* and, once a
training has started, *what will the whole of it cost?*  The first is answered with the
Green Algorithms model (Lannelongue, Grealey & Inouye, Adv. Sci. 2021,
doi:10.1002/advs.202100707)::

    E [kWh] = t[h] * (n_cores * P_core * u_core + n_gpus * P_gpu * u_gpu + mem_GB * P_mem)
              * PUE * runs / 1000

with per-core CPU power and per-card GPU power from the bundled TDP tables and
``P_mem = 0.3725 W/GB`` (Green Algorithms ``referenceValues.csv``). Every number used is kept
with where it came from, so the formula can be printed with the values substituted: an
estimate nobody can check is not worth printing.

The second is answered from the cumulative energy measured at each epoch end: energy per epoch
times the epochs left, with the spread of the per-epoch energies, because a single mean hides
warm-up epochs and noisy neighbours.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import UsageError
from ..meters.tdp import (
    GA_DEFAULT_GPU_W,
    GA_DEFAULT_W_PER_CORE,
    TdpEntry,
    cpu_tdp,
    gpu_tdp,
    models,
    normalise,
)
from ..units import (
    G_PER_KG,
    J_PER_KWH,
    MEMORY_W_PER_GB,
    format_energy_j,
    format_number,
    format_power_w,
)

if TYPE_CHECKING:
    from ..config import Config
    from ..store.records import RunRecord

_GA_SOURCE = "Green Algorithms (Lannelongue et al. 2021)"


@dataclass(frozen=True)
class Term:
    """One line of the power sum: ``count x power_w x usage`` watts, and its energy.

    ``energy_kwh`` already includes hours, PUE and the number of runs, so the terms of an
    :class:`Estimate` add up to its total exactly.
    """

    component: str  # cpu, gpu, memory
    count: float  # cores, GPUs or GB
    unit: str  # "core", "GPU", "GB"
    power_w: float  # per unit
    usage: float
    source: str  # where power_w came from
    energy_kwh: float = 0.0

    @property
    def watts(self) -> float:
        """Average draw of this term in watts (before PUE)."""
        return self.count * self.power_w * self.usage


@dataclass(frozen=True)
class Estimate:
    """The result of :func:`estimate`: totals, breakdown and provenance."""

    terms: tuple[Term, ...]
    hours: float
    pue: float
    pue_source: str
    runs: int
    energy_kwh: float
    zone: str | None = None
    intensity_g_per_kwh: float | None = None
    intensity_source: str = ""
    emissions_kg: float | None = None

    @property
    def watts(self) -> float:
        """Sum of the terms' average draw (W, before PUE)."""
        return sum(t.watts for t in self.terms)

    def formula(self) -> str:
        """The Green Algorithms formula with this estimate's numbers substituted."""
        parts = []
        for t in self.terms:
            if t.component == "memory":
                parts.append(f"{_num(t.count)} GB x {_num(t.power_w)} W/GB")
            else:
                parts.append(
                    f"{_num(t.count)} {t.unit}{'s' if t.count != 1 else ''} x "
                    f"{_num(t.power_w)} W x {_num(t.usage)}"
                )
        inner = " + ".join(parts) if parts else "0 W"
        text = (
            f"E = {_num(self.hours)} h x ({inner}) x PUE {_num(self.pue)} x "
            f"{self.runs} run{'s' if self.runs != 1 else ''} / 1000 = {_num(self.energy_kwh)} kWh"
        )
        if self.emissions_kg is not None and self.intensity_g_per_kwh is not None:
            text += (
                f"; CO2e = {_num(self.energy_kwh)} kWh x {_num(self.intensity_g_per_kwh)} "
                f"gCO2e/kWh / 1000 = {_num(self.emissions_kg)} kg"
            )
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON shape of ``impactlib estimate --format json``."""
        return {
            "energy_kwh": self.energy_kwh,
            "emissions_kg": self.emissions_kg,
            "breakdown": [
                {
                    "component": t.component,
                    "count": t.count,
                    "unit": t.unit,
                    "power_w": t.power_w,
                    "usage": t.usage,
                    "watts": t.watts,
                    "energy_kwh": t.energy_kwh,
                    "source": t.source,
                }
                for t in self.terms
            ],
            "hours": self.hours,
            "pue": self.pue,
            "pue_source": self.pue_source,
            "runs": self.runs,
            "zone": self.zone,
            "intensity_g_per_kwh": self.intensity_g_per_kwh,
            "intensity_source": self.intensity_source,
            "formula": self.formula(),
            "method": _GA_SOURCE,
        }


def _num(value: float) -> str:
    """A number in the printed formula: four significant digits, never scientific notation."""
    return format_number(value, 4)


def _check_positive(name: str, value: float | None, *, allow_zero: bool = True) -> None:
    if value is None:
        return
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise UsageError(f"{name} must be a number {bound}, got {value}")


def cpu_term(
    model: str | None,
    cores: float | None,
    w_per_core: float | None,
    usage: float,
) -> Term | None:
    """The CPU line: from ``w_per_core`` if given, else the model's table row, else the
    Green Algorithms "Any" value (12 W/core) when only a core count is known."""
    if model is None and cores is None and w_per_core is None:
        return None
    if w_per_core is not None:
        if cores is None:
            raise UsageError("--cpu-w-per-core needs --cores N (how many cores the job uses)")
        return Term("cpu", cores, "core", w_per_core, usage, "given (--cpu-w-per-core)")
    if model is None:
        assert cores is not None
        return Term(
            "cpu", cores, "core", GA_DEFAULT_W_PER_CORE, usage, "Green Algorithms TDP_cpu 'Any'"
        )
    entry = cpu_tdp(model)
    per_core = entry.w_per_core
    if per_core is None and entry.tdp_w and entry.n_cores:
        per_core = entry.tdp_w / entry.n_cores
    if per_core is not None:
        n = cores if cores is not None else entry.n_cores
        if n is None:
            raise UsageError(f"CPU '{entry.name}': give --cores N (the table has no core count)")
        return Term("cpu", n, "core", per_core, usage, f"{entry.table}: {entry.name}")
    # Only a whole-package TDP is known (CodeCarbon table): usable for the whole chip only.
    if cores is not None:
        raise UsageError(
            f"CPU '{entry.name}': the table ({entry.table}) gives only the package TDP "
            f"({_num(entry.tdp_w or 0)} W), not per core; drop --cores to charge the whole chip "
            "or give --cpu-w-per-core W"
        )
    return Term("cpu", 1, "package", entry.tdp_w or 0.0, usage, f"{entry.table}: {entry.name}")


def gpu_term(
    model: str | None, count: float | None, w_per_gpu: float | None, usage: float
) -> Term | None:
    """The GPU line: power per card from ``w_per_gpu``, the model's row (a family name
    resolved by :func:`resolve_gpu`), or the Green Algorithms "Any" GPU (200 W) when only a
    count is given."""
    if model is None and count is None and w_per_gpu is None:
        return None
    n = 1.0 if count is None else count
    if w_per_gpu is not None:
        return Term("gpu", n, "GPU", w_per_gpu, usage, "given (--gpu-w)")
    if model is None:
        return Term("gpu", n, "GPU", GA_DEFAULT_GPU_W, usage, "Green Algorithms TDP_gpu 'Any'")
    entry, note = resolve_gpu(model)
    source = f"{entry.table}: {entry.name}" + (f" ({note})" if note else "")
    return Term("gpu", n, "GPU", entry.tdp_w or 0.0, usage, source)


class GpuChoice(NamedTuple):
    """The table row an estimate uses for a GPU name, and how a family name led to it."""

    entry: TdpEntry
    note: str  # "" for a name that is a row of the tables


def resolve_gpu(name: str) -> GpuChoice:
    """The row for ``name``, where ``name`` may be a family (``A100``, ``V100``, ``H100``).

    A name that is a table row is that row. A family whose variants all draw the same power
    is resolved (the estimate cannot differ); one whose variants differ is refused with the
    variants and their watts, because picking one silently would move the estimate by up to
    the ratio of their powers (an A100 draws 250 W as a PCIe card, 400 W as SXM4). Names that
    are neither go to the fuzzy lookup, which names close matches when it finds none.
    """
    family = models("GPU", name)
    if not family or any(normalise(e.name) == normalise(name) for e in family):
        return GpuChoice(gpu_tdp(name), "")
    if len(family) == 1:
        return GpuChoice(family[0], f"the only match for '{name}'")
    watts = sorted({e.tdp_w or 0.0 for e in family})
    if len(watts) == 1:
        return GpuChoice(
            family[0], f"'{name}' has {len(family)} variants, all {format_power_w(watts[0])}"
        )
    listed = ", ".join(
        f"{e.name} {format_power_w(e.tdp_w or 0.0)}"
        for e in sorted(family, key=lambda e: e.tdp_w or 0.0)
    )
    raise UsageError(
        f"GPU '{name}' is a family whose variants differ in power ({listed}); choose one, "
        f"e.g. --gpu '{family[0].name}', or give the power with --gpu-w W"
    )


def estimate(
    *,
    hours: float,
    cpu: str | None = None,
    cores: float | None = None,
    cpu_w_per_core: float | None = None,
    usage: float = 1.0,
    gpu: str | None = None,
    gpus: float | None = None,
    gpu_w: float | None = None,
    gpu_usage: float = 1.0,
    memory_gb: float = 0.0,
    memory_w_per_gb: float = MEMORY_W_PER_GB,
    zone: str | None = None,
    pue: float | None = None,
    pue_source: str | None = None,
    runs: int = 1,
) -> Estimate:
    """Energy and CO2e of a planned computation with the Green Algorithms formula.

    ``zone`` is anything :func:`impactlib.carbon.static.lookup` knows (country code, region,
    cloud region); without it the estimate has energy only, since a silent world average
    would make the CO2e figure look more certain than it is. ``pue`` defaults to 1.0 (a
    personal computer, Green Algorithms' own convention) and the result says so;
    ``pue_source`` says where a given ``pue`` came from (default: "given").
    """
    for name, value in (
        ("--hours", hours),
        ("--cores", cores),
        ("--cpu-w-per-core", cpu_w_per_core),
        ("--gpus", gpus),
        ("--gpu-w", gpu_w),
        ("--memory-gb", memory_gb),
        ("memory W/GB", memory_w_per_gb),
    ):
        _check_positive(name, value)
    for name, value in (("--usage", usage), ("--gpu-usage", gpu_usage)):
        if not (math.isfinite(value) and 0 <= value <= 1):
            raise UsageError(f"{name} must be a fraction in [0, 1], got {value}")
    if pue is not None and not (math.isfinite(pue) and pue >= 1.0):
        raise UsageError(f"--pue must be a number >= 1.0, got {pue}")
    if runs < 1:
        raise UsageError(f"--runs must be at least 1, got {runs}")
    pue_value = 1.0 if pue is None else pue
    if pue is None:
        pue_source = "default 1.0 (no data-centre overhead; pass --pue)"
    elif pue_source is None:
        pue_source = "given"

    raw = [
        cpu_term(cpu, cores, cpu_w_per_core, usage),
        gpu_term(gpu, gpus, gpu_w, gpu_usage),
    ]
    if memory_gb:
        raw.append(
            Term(
                "memory",
                memory_gb,
                "GB",
                memory_w_per_gb,
                1.0,
                "Green Algorithms referenceValues.csv memoryPower"
                if memory_w_per_gb == MEMORY_W_PER_GB
                else "configured memory_w_per_gb",
            )
        )
    terms = [t for t in raw if t is not None]
    if not terms:
        raise UsageError(
            "nothing to estimate: give --cpu MODEL, --cores N, --gpu MODEL, --gpus N "
            "or --memory-gb G"
        )
    factor = hours * pue_value * runs / 1000.0
    terms = [
        Term(t.component, t.count, t.unit, t.power_w, t.usage, t.source, t.watts * factor)
        for t in terms
    ]
    energy_kwh = sum(t.watts for t in terms) * factor
    result = Estimate(tuple(terms), hours, pue_value, pue_source, runs, energy_kwh)
    if zone is None:
        return result
    from ..carbon.static import lookup

    annual = lookup(zone)
    return Estimate(
        result.terms,
        hours,
        pue_value,
        pue_source,
        runs,
        energy_kwh,
        zone=annual.zone,
        intensity_g_per_kwh=annual.g_per_kwh,
        intensity_source=f"{annual.table}, year {annual.year} ({annual.name})",
        emissions_kg=energy_kwh * annual.g_per_kwh / G_PER_KG,
    )


# --- prediction from the first epochs -------------------------------------------------------


@dataclass(frozen=True)
class EpochPrediction:
    """Extrapolated energy of a whole training from its first ``epochs_seen`` epochs.

    ``per_epoch_j`` are the energies of the epochs seen (differences of the cumulative
    readings). The total is ``energy so far + mean x epochs left``; ``low_j``/``high_j`` use
    the cheapest and the dearest epoch seen instead of the mean, ``stdev_j`` is the sample
    standard deviation of the per-epoch energies (0 with one epoch).
    """

    epochs_seen: int
    total_epochs: int
    per_epoch_j: tuple[float, ...]
    so_far_j: float
    mean_epoch_j: float
    stdev_epoch_j: float
    total_j: float
    low_j: float
    high_j: float

    @property
    def remaining_epochs(self) -> int:
        """Epochs not yet run."""
        return self.total_epochs - self.epochs_seen

    @property
    def total_kwh(self) -> float:
        """Predicted total in kWh (same basis as the input: before PUE unless it included it)."""
        return self.total_j / J_PER_KWH

    def describe(self, pue: float = 1.0) -> str:
        """One line for humans: the prediction and its spread, ``pue`` applied."""

        def energy(joules: float) -> str:
            return format_energy_j(joules * pue)

        return (
            f"after {self.epochs_seen}/{self.total_epochs} epochs "
            f"({energy(self.so_far_j)} so far, {energy(self.mean_epoch_j)}/epoch "
            f"± {energy(self.stdev_epoch_j)}): predicted total {energy(self.total_j)} "
            f"(range {energy(self.low_j)} to {energy(self.high_j)})"
        )

    def to_dict(self, pue: float = 1.0) -> dict[str, Any]:
        """JSON-ready fields (energies in J before PUE, and kWh with ``pue``)."""
        k = pue / J_PER_KWH
        return {
            "epochs_seen": self.epochs_seen,
            "total_epochs": self.total_epochs,
            "per_epoch_j": list(self.per_epoch_j),
            "so_far_j": self.so_far_j,
            "mean_epoch_j": self.mean_epoch_j,
            "stdev_epoch_j": self.stdev_epoch_j,
            "total_j": self.total_j,
            "low_j": self.low_j,
            "high_j": self.high_j,
            "pue": pue,
            "energy_kwh": self.total_j * k,
            "energy_kwh_low": self.low_j * k,
            "energy_kwh_high": self.high_j * k,
        }


def predict_from_epochs(
    cumulative_epoch_energy_j: Sequence[float], total_epochs: int
) -> EpochPrediction:
    """Predict a full training's energy from the cumulative energy at each epoch end."""
    readings = [float(v) for v in cumulative_epoch_energy_j]
    if not readings:
        raise UsageError("no epoch energies recorded yet: run at least one epoch first")
    if any(not math.isfinite(v) for v in readings):
        raise UsageError("epoch energies must be finite numbers")
    if any(b < a for a, b in zip(readings, readings[1:], strict=False)) or readings[0] < 0:
        raise UsageError("epoch energies must be cumulative (non-decreasing, >= 0)")
    if total_epochs < len(readings):
        raise UsageError(
            f"--epochs {total_epochs} is fewer than the {len(readings)} epochs already recorded"
        )
    per_epoch = [readings[0]] + [b - a for a, b in zip(readings, readings[1:], strict=False)]
    mean = statistics.fmean(per_epoch)
    stdev = statistics.stdev(per_epoch) if len(per_epoch) > 1 else 0.0
    left = total_epochs - len(readings)
    so_far = readings[-1]
    return EpochPrediction(
        epochs_seen=len(readings),
        total_epochs=total_epochs,
        per_epoch_j=tuple(per_epoch),
        so_far_j=so_far,
        mean_epoch_j=mean,
        stdev_epoch_j=stdev,
        total_j=so_far + mean * left,
        low_j=so_far + min(per_epoch) * left,
        high_j=so_far + max(per_epoch) * left,
    )


def predict_from_run(record: RunRecord, total_epochs: int) -> EpochPrediction:
    """:func:`predict_from_epochs` on a stored run's epoch readings."""
    if not record.epochs:
        raise UsageError(
            f"run {record.id} has no epoch readings; call tracker.epoch_end() (or use "
            "EpochEnergyPredictor) at the end of each epoch"
        )
    return predict_from_epochs(record.epochs, total_epochs)


# Store access, kept to this one function so the estimate maths has no store dependency.
def load_run(run_id: str, config: Config) -> RunRecord:
    """The stored run ``run_id`` (UsageError if the store does not have it)."""
    from ..store import open_store

    record: RunRecord | None = open_store(config).get_run(run_id)
    if record is None:
        raise UsageError(f"no run with id '{run_id}' in the store; `impactlib report` lists runs")
    return record


@dataclass
class EpochEnergyPredictor:
    """Callback that predicts a whole training from its first epochs, while it runs.

    Call :meth:`on_epoch_end` (or the object itself) at the end of every epoch; it reads the
    cumulative energy with ``read_energy_j`` and, from ``report_after`` epochs on, hands a
    fresh :class:`EpochPrediction` to ``on_prediction`` (default: print one line). The
    signature accepts and ignores any arguments, so the method can be given directly to
    training loops that pass their own (Keras-style ``epoch, logs``, Lightning-style
    ``trainer, module``).
    """

    read_energy_j: Callable[[], float]
    total_epochs: int
    report_after: int = 1
    on_prediction: Callable[[EpochPrediction], None] | None = None
    readings: list[float] = field(default_factory=list)
    latest: EpochPrediction | None = None

    @classmethod
    def from_tracker(cls, tracker: Any, total_epochs: int, **kwargs: Any) -> EpochEnergyPredictor:
        """Read a running tracker's ``energy_consumption`` (kWh, PUE included)."""
        return cls(lambda: float(tracker.energy_consumption) * J_PER_KWH, total_epochs, **kwargs)

    def on_epoch_end(self, *args: Any, **kwargs: Any) -> EpochPrediction | None:
        """Record this epoch's cumulative energy; return (and report) the new prediction."""
        self.readings.append(float(self.read_energy_j()))
        if len(self.readings) < self.report_after or len(self.readings) > self.total_epochs:
            return None
        self.latest = predict_from_epochs(self.readings, self.total_epochs)
        if self.on_prediction is not None:
            self.on_prediction(self.latest)
        else:
            print(f"impactlib: {self.latest.describe()}")
        return self.latest

    __call__ = on_epoch_end
