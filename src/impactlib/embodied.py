"""Embodied (manufacturing) emissions of the hardware a run used, amortised over its life.

A GPU or a server emits most of its manufacturing CO2e before it is switched on, so a run
"uses up" a share of it: ``embodied x hours used / (lifetime hours x use ratio)``, the linear
rule of the BLOOM paper (Luccioni, Viguier & Ligozat, JMLR 24(253), 2023) and BoaviztAPI.
Dividing by the *used* hours (``use_ratio``) charges idle time to the jobs that do run, as a
lab's accounts would.

Values come from the bundled ``embodied_reference_values.csv``; each row names its source,
which the note returned here cites. The result is always reported on its own line, never
added silently to operational CO2e, because its uncertainty (a factor of two or more between
sources for the same A100) is of another order than a metered kWh.

:func:`embodied_for_run` is the calculation and raises on bad input; :func:`embodied_for`
is what a tracker calls when a run ends, and never raises: a missing embodied line must not
cost the run its record.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

from . import data
from .errors import UsageError
from .units import S_PER_H, format_duration_s, format_mass_kg

if TYPE_CHECKING:
    from .config import Config

HOURS_PER_YEAR = 8760.0
# Defaults when neither the configuration nor the row gives them: IDRIS's replacement rate and
# utilisation as used in the BLOOM paper (6 years, 85 %).
DEFAULT_LIFETIME_YEARS = 6.0
DEFAULT_USE_RATIO = 0.85

_TABLE = "embodied_reference_values.csv"


@dataclass(frozen=True)
class EmbodiedItem:
    """One row of the reference table."""

    item: str
    kg: float
    lifetime_years: float | None
    use_ratio: float | None
    status: str  # published / derived
    source: str


@lru_cache(maxsize=1)
def reference_items() -> tuple[EmbodiedItem, ...]:
    """Every row of the bundled embodied reference table."""
    rows = []
    for row in data.load_csv(_TABLE):
        rows.append(
            EmbodiedItem(
                item=row["item"],
                kg=float(row["embodied_kgco2e"]),
                lifetime_years=float(row["lifetime_years"]) if row["lifetime_years"] else None,
                use_ratio=float(row["use_ratio"]) if row["use_ratio"] else None,
                status=row["status"],
                source=row["source"],
            )
        )
    return tuple(rows)


def _row(prefix: str) -> EmbodiedItem:
    for item in reference_items():
        if item.item.startswith(prefix):
            return item
    raise LookupError(prefix)  # pragma: no cover - the bundled table has these rows


def server_item() -> EmbodiedItem:
    """The GPU-server chassis without its GPUs (BLOOM: 2 500 kgCO2e), used for any host."""
    return _row("GPU server chassis")


def gpu_item(name: str) -> tuple[EmbodiedItem, bool]:
    """The reference row for a GPU model and whether it is that model (False = proxy).

    H100 and L4 have rows of their own (BoaviztAPI factors); A100 uses the BLOOM paper's
    published lower bound. Any other GPU gets the A100 lower bound as a stated proxy: a
    number with a caveat is more useful in a report than a missing line.
    """
    key = re.sub(r"[^a-z0-9]+", " ", name.lower())
    words = set(key.split())
    if "h100" in words:
        return _row("NVIDIA H100"), True
    if "l4" in words:
        return _row("NVIDIA L4"), True
    a100 = _row("NVIDIA A100 GPU (lower-bound")
    return a100, "a100" in words


def amortise(kg: float, hours: float, lifetime_years: float, use_ratio: float) -> float:
    """Share of ``kg`` charged to ``hours`` of use: ``kg x hours / (lifetime h x use_ratio)``."""
    if not (lifetime_years > 0 and 0 < use_ratio <= 1):
        raise UsageError(
            f"embodied amortisation needs lifetime > 0 and use ratio in (0, 1], got "
            f"{lifetime_years} years and {use_ratio}"
        )
    return kg * hours / (lifetime_years * HOURS_PER_YEAR * use_ratio)


def _assumptions(item: EmbodiedItem, config: Config | None) -> tuple[float, float]:
    lifetime = config.embodied_lifetime_years if config is not None else None
    ratio = config.embodied_use_ratio if config is not None else None
    if lifetime is None:
        lifetime = item.lifetime_years or DEFAULT_LIFETIME_YEARS
    if ratio is None:
        ratio = item.use_ratio or DEFAULT_USE_RATIO
    return lifetime, ratio


def embodied_for_run(
    duration_s: float,
    gpus: Sequence[str] = (),
    cpu_share: float = 0.0,
    config: Config | None = None,
    *,
    gpu_hours: float | None = None,
) -> tuple[float, str]:
    """Embodied kgCO2e charged to one run, and a note citing rows and assumptions.

    ``gpus`` names each GPU the run used, one entry per device (two A100s are two entries);
    model names such as ``NVIDIA A100-SXM4-40GB`` pick the matching row. Each GPU is charged
    for ``duration_s``, or, when ``gpu_hours`` is given (device-hours actually held), for an
    equal share of those. ``cpu_share`` is the fraction of the host (chassis, CPUs, memory)
    the run held, e.g. its CPU time / (duration x CPUs of the machine); 0 leaves the host out.
    Lifetime and use ratio come from ``config.embodied_lifetime_years`` /
    ``config.embodied_use_ratio`` when set, else from each row (else 6 years, 85 %).
    """
    if not (math.isfinite(duration_s) and duration_s >= 0):
        raise UsageError(f"duration must be >= 0 seconds, got {duration_s}")
    if not (math.isfinite(cpu_share) and 0.0 <= cpu_share <= 1.05):
        raise UsageError(f"host share must be a fraction in [0, 1], got {cpu_share}")
    share = min(cpu_share, 1.0)  # CPU-time ratios can overshoot 1 by sampling jitter
    hours = duration_s / S_PER_H
    if gpu_hours is not None and not (math.isfinite(gpu_hours) and gpu_hours >= 0):
        raise UsageError(f"GPU-hours must be >= 0, got {gpu_hours}")
    names = list(gpus)
    if gpu_hours is not None and gpu_hours > 0 and not names:
        names = ["unknown GPU"]
    hours_per_gpu = hours if gpu_hours is None else gpu_hours / max(len(names), 1)
    total = 0.0
    parts: list[str] = []
    sources: dict[str, None] = {}
    if share > 0:
        item = server_item()
        life, ratio = _assumptions(item, config)
        kg = amortise(item.kg, hours * share, life, ratio)
        total += kg
        parts.append(
            f"host share {share:.3g} x {item.kg:g} kg server (BLOOM proxy, GPUs excluded) "
            f"over {life:g} y at {ratio:.0%} use = {format_mass_kg(kg)}"
        )
        sources[item.source] = None
    counts: dict[tuple[str, bool, str], int] = {}
    for name in names:
        item, exact = gpu_item(name)
        counts[(item.item, exact, name)] = counts.get((item.item, exact, name), 0) + 1
    for (item_name, exact, name), n in counts.items():
        item = next(i for i in reference_items() if i.item == item_name)
        life, ratio = _assumptions(item, config)
        kg = n * amortise(item.kg, hours_per_gpu, life, ratio)
        total += kg
        label = item_name if exact else f"{item_name} as proxy for '{name}'"
        parts.append(
            f"{n} x GPU {label} for {format_duration_s(hours_per_gpu * S_PER_H)}: "
            f"{item.kg:g} kg over {life:g} y at {ratio:.0%} use = {format_mass_kg(kg)}"
        )
        sources[item.source] = None
    if not parts:
        return 0.0, "no host share or GPU used: no embodied emissions charged"
    note = (
        "embodied x hours used / (lifetime h x use ratio), "
        f"run of {format_duration_s(hours * S_PER_H)}: "
        + "; ".join(parts)
        + ". Sources: "
        + "; ".join(sources)
        + " (bundled embodied_reference_values.csv)"
    )
    return total, note


class EmbodiedShare(NamedTuple):
    """A run's embodied line: kg CO2e (None when it could not be computed) and its note."""

    kg: float | None
    note: str


def embodied_for(
    *,
    duration_s: float,
    cpu_s: float,
    ncpus: int,
    gpu_hours: float,
    gpus: Callable[[], Iterable[str]],
    config: Config,
) -> EmbodiedShare:
    """The embodied share of a finished run, for its record; never raises.

    ``cpu_s`` is the CPU time of the tracked scope and ``ncpus`` the host's logical CPUs:
    their ratio to the duration is the share of the host the run held. ``gpus`` names the
    GPUs the run used, one entry per device; it is called here, inside the guard, because
    naming devices asks the driver, which can fail when a run ends. Any failure gives
    ``(None, "embodied not computed: <why>")``.
    """
    try:
        kg, note = embodied_for_run(
            duration_s=duration_s,
            gpu_hours=gpu_hours,
            gpus=list(gpus()),
            cpu_share=cpu_s / max(duration_s * ncpus, 1e-9),
            config=config,
        )
    except Exception as exc:  # a missing embodied line must not cost the run its record
        return EmbodiedShare(None, f"embodied not computed: {exc}")
    return EmbodiedShare(kg, note)
