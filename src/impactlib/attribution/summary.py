"""A run's footprint, assembled from its window: the record every output starts from.

The tracker owns when a footprint is built (each checkpoint, each snapshot, the end); this
module owns what goes into it. A checkpoint prices with the provisional static value and
skips embodied emissions; the final footprint is priced minute by minute, adds the embodied
share of the devices the run used, and carries every warning a reader needs (uncalibrated
idle floors, meter diagnostics, a world-average intensity). A rank that follows another
rank's measurement gets zero figures that say why.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from .._time import from_wall_ns, iso_utc
from ..config import Config
from ..containers import container_of
from ..footprint import (
    ChargedTo,
    Component,
    ComponentEnergy,
    Container,
    FloorSource,
    Footprint,
    LocatedBy,
    Quality,
)
from ..notices import warn_estimates
from ..uncertainty import is_wall_remainder, platform_domain_bounds, with_range, with_ranges
from ..units import S_PER_H
from .scope import MachineScope
from .window import Window

if TYPE_CHECKING:
    from ..carbon.location import Location
    from ..carbon.pricing import ProvisionalPrice
    from ..meters import MeterSet


def _iso(wall_ns: int) -> str:
    return iso_utc(from_wall_ns(wall_ns))


def gpu_names(meters: MeterSet, domain_ids: Iterable[str]) -> list[str]:
    """Product names of the GPU domains among ``domain_ids`` (the domain id where the
    meter knows no name)."""
    names: dict[str, str] = {}
    for meter in meters.meters:
        names.update(meter.device_names())
    return [names.get(d, d) for d in domain_ids if d.startswith("gpu:")]


def floor_warnings(window: Window) -> list[str]:
    """A measured domain whose idle floor was not calibrated says so, and how to fix it:
    an observed floor may hold load; a learned one is only as good as the load it saw."""
    if isinstance(window.scope, MachineScope):
        return []  # the whole machine pays all of it: the floor changes nothing
    out = []
    for account in window.accounts.values():
        floor = account.floor
        if account.domain.quality is not Quality.MEASURED:
            continue
        if floor.source is FloorSource.OBSERVED:
            out.append(
                f"{account.domain.id}: idle floor only observed ({floor.watts:.1f} W, the "
                "lowest power seen); if the machine was never idle meanwhile it holds load, "
                "and this run's share of idle power may be understated; "
                "`impactlib calibrate` measures the host's idle power"
            )
        elif floor.source is FloorSource.LEARNED:
            out.append(
                f"{account.domain.id}: idle floor learned from runs' own samples "
                f"({floor.watts:.1f} W), not calibrated; "
                "`impactlib calibrate` measures the host's idle power"
            )
    return out


def announce_limits(window: Window, meters: MeterSet, location: Location) -> None:
    """Say, once per process and at the user's line, what makes the figures less than
    measured (an estimated CPU or GPU, the world-average intensity): a script's author reads
    Python's warnings, not ``footprint.warnings`` (:mod:`impactlib.notices`)."""
    world = location.detail if location.by is LocatedBy.WORLD_AVERAGE else None
    warn_estimates((a.domain for a in window.accounts.values()), meters.notes, world)


def ranged_components(window: Window) -> tuple[ComponentEnergy, ...]:
    """The window's components, each with its range: its method's error (a sensor's stated
    accuracy where it gives one; for the platform, the wall's range minus the other
    domains') and its idle floor's spread (the power model fit's residual where the floor
    came from a fit)."""
    components = window.components()
    out = []
    for component in components:
        account = window.accounts[component.domain]
        accuracy = account.domain.accuracy_percent
        wall = None
        if is_wall_remainder(component):
            wall = platform_domain_bounds(component, components, accuracy_percent=accuracy)
        out.append(
            with_range(
                component,
                window.charged_to,
                fit_residual=account.floor.spread,
                accuracy_percent=accuracy,
                domain_bounds=wall,
            )
        )
    return tuple(out)


def run_container(meters: MeterSet, config: Config) -> Container | None:
    """The container the run's processes are in: as the daemon saw it (from outside, where
    a private cgroup namespace hides nothing), else as this process's own cgroup says."""
    for meter in meters.meters:
        found = meter.container()
        if found is not None:
            return found
    return container_of(config.procfs_root)


def build_footprint(
    *,
    run_id: str,
    window: Window,
    meters: MeterSet,
    config: Config,
    location: Location,
    provisional: ProvisionalPrice,
    warnings: Sequence[str],
    final: bool,
    by_minute: Mapping[tuple[int, Component], float] | None = None,
) -> Footprint:
    """The footprint of ``window`` so far (``final``: priced minute by minute, with its
    embodied share and every warning). ``by_minute`` is the window's minute series when the
    caller already holds it; ``provisional`` prices a checkpoint without the network."""
    w = window
    components = ranged_components(w)
    out_warnings = list(warnings)
    if location.by is LocatedBy.WORLD_AVERAGE:
        out_warnings.append(f"carbon intensity: {location.detail}")
    if final:  # pricing and embodied figures are only needed once, at the end
        from ..carbon.pricing import price_final
        from ..embodied import embodied_for

        per_minute: dict[int, float] = {}
        for (minute, _), joules in (by_minute or w.minute_series()).items():
            per_minute[minute] = per_minute.get(minute, 0.0) + joules
        priced = price_final(
            per_minute,
            config,
            location,
            from_wall_ns(w.first_wall_ns),
            from_wall_ns(w.last_wall_ns),
        )
        kg, carbon = priced.kg, priced.carbon
        if priced.warning:
            out_warnings.append(priced.warning)
        embodied_kg, embodied_note = embodied_for(
            duration_s=w.duration_s,
            cpu_s=w.scope_cpu_s,
            ncpus=w.ncpus,
            gpu_hours=w.gpu_seconds / S_PER_H,
            gpus=lambda: gpu_names(
                meters, (d for d, a in w.accounts.items() if a.total.dt_busy > 0)
            ),
            config=config,
        )
        out_warnings += floor_warnings(w)
        out_warnings += meters.diagnostics()
    else:
        kg = provisional.kg(sum(c.energy_j for c in components), config.pue)
        carbon = provisional.carbon
        embodied_kg, embodied_note = None, ""
    footprint = Footprint(
        run_id=run_id,
        charged_to=w.charged_to,
        idle_policy=w.policy,
        started_at=_iso(w.first_wall_ns),
        ended_at=_iso(w.last_wall_ns) if final else None,
        duration_s=w.duration_s,
        components=components,
        pue=config.pue,
        emissions_kg=kg,
        carbon=carbon,
        cpu_hours=w.scope_cpu_s / S_PER_H,
        gpu_hours=w.gpu_seconds / S_PER_H,
        peak_memory_bytes=w.peak_rss,
        embodied_kg=embodied_kg,
        embodied_note=embodied_note,
        warnings=tuple(out_warnings),
        container=run_container(meters, config),
    )
    return with_ranges(footprint)


def follower_footprint(run_id: str, idle_policy: str, pue: float, explanation: str) -> Footprint:
    """Zero figures that say why: the node leader's record holds this rank's energy."""
    return Footprint(
        run_id=run_id,
        charged_to=ChargedTo.FOLLOWER,
        idle_policy=idle_policy,
        started_at=_iso(time.time_ns()),
        ended_at=None,
        duration_s=0.0,
        components=(),
        pue=pue,
        emissions_kg=0.0,
        carbon=None,
        warnings=(explanation,),
    )
