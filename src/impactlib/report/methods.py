"""What a paper should say about its compute: the methods paragraph and the figures table.

The fields follow the minimal list drawn from Henderson et al. (JMLR 2020), Green AI
(Schwartz et al. 2020) and Green Algorithms' reporting advice: energy split by component,
CO2e with the intensity value, source and year, PUE, wall-clock time, hardware, how each
figure was obtained (measured, attributed or estimated), location and how it was found,
parameters and FLOPs with their convention, and embodied emissions on their own line.

Everything here returns plain text and plain cells; the Markdown, LaTeX and HTML renderers
only escape and lay them out, so the three formats always say the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..units import S_PER_H
from . import equivalents

if TYPE_CHECKING:
    from ..footprint import Footprint
    from ..store.records import RunRecord

COMPONENT_NAMES = {"cpu": "CPU", "dram": "DRAM", "gpu": "GPU", "memory": "memory"}
METHOD_NAMES = {
    "rapl": "Intel/AMD RAPL energy counters",
    "nvml-energy": "NVML total-energy counter",
    "nvml-power": "NVML power readings integrated over time",
    "model-tdp": "a TDP-based model (no meter readable)",
    "daemon": "RAPL counters read by the impactlib daemon",
    "amdsmi": "AMD SMI energy counter",
}


@dataclass(frozen=True)
class FiguresTable:
    """Header and rows of formatted cells; ``total`` is the sum row (None for one run)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    total: tuple[str, ...] | None


def fmt(value: float | None, digits: int = 3) -> str:
    """Compact number for tables: ``digits`` significant digits, thousands separated."""
    if value is None:
        return "-"
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def fmt_count(value: Any) -> str:
    """Parameter and FLOP counts in engineering units (1.2 M, 3.4 G)."""
    if value is None or value == "":
        return "-"
    number = float(value)
    for size, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(number) >= size:
            return f"{number / size:.3g} {suffix}"
    return f"{number:.0f}"


def _kinds(records: Sequence[RunRecord]) -> list[str]:
    seen: dict[str, None] = {}
    for rec in records:
        if rec.footprint:
            for comp in rec.footprint.components:
                seen[comp.component] = None
    order = list(COMPONENT_NAMES)
    return sorted(seen, key=lambda k: order.index(k) if k in order else len(order))


def figures(records: Sequence[RunRecord]) -> FiguresTable:
    """The standard figures, one row per run (plus a total row for several runs).

    Columns with nothing to say for any run (no GPU, no model logged) are left out, since an
    empty column in a paper's table reads as a missing measurement.
    """
    kinds = _kinds(records)
    show_embodied = any(r.footprint and r.footprint.embodied_kg is not None for r in records)
    show_gpu_h = any(r.footprint and r.footprint.gpu_hours for r in records)
    show_model = any(r.model for r in records)
    columns = ["Run", "Duration (h)", "Energy (kWh)"]
    columns += [f"{COMPONENT_NAMES.get(k, k)} (kWh)" for k in kinds]
    columns += ["PUE", "Intensity (gCO2e/kWh)", "CO2e (kg)"]
    if show_embodied:
        columns.append("Embodied (kg)")
    columns.append("CPU-h")
    if show_gpu_h:
        columns.append("GPU-h")
    if show_model:
        columns += ["Params", "FLOPs/forward"]
    rows = []
    sums = {"h": 0.0, "e": 0.0, "co2": 0.0, "emb": 0.0, "cpu": 0.0, "gpu": 0.0}
    by_kind = dict.fromkeys(kinds, 0.0)
    for rec in records:
        fp = rec.footprint
        if fp is None:
            continue
        hours = fp.duration_s / S_PER_H
        row = [rec.id, fmt(hours), fmt(fp.energy_kwh, 4)]
        for k in kinds:
            value = fp.component_kwh(k)
            by_kind[k] += value
            row.append(fmt(value, 4))
        intensity = f"{fmt(fp.carbon.mean_g_per_kwh)} ({fp.carbon.zone})" if fp.carbon else "-"
        row += [fmt(fp.pue), intensity, fmt(fp.emissions_kg, 4)]
        if show_embodied:
            row.append(fmt(fp.embodied_kg, 3))
        row.append(fmt(fp.cpu_hours))
        if show_gpu_h:
            row.append(fmt(fp.gpu_hours))
        if show_model:
            model = rec.model or {}
            row += [fmt_count(model.get("params")), fmt_count(model.get("forward_flops"))]
        rows.append(tuple(row))
        sums["h"] += hours
        sums["e"] += fp.energy_kwh
        sums["co2"] += fp.emissions_kg
        sums["emb"] += fp.embodied_kg or 0.0
        sums["cpu"] += fp.cpu_hours
        sums["gpu"] += fp.gpu_hours
    total = None
    if len(rows) > 1:
        t = ["Total", fmt(sums["h"]), fmt(sums["e"], 4)]
        t += [fmt(by_kind[k], 4) for k in kinds]
        t += ["", "", fmt(sums["co2"], 4)]
        if show_embodied:
            t.append(fmt(sums["emb"], 3))
        t.append(fmt(sums["cpu"]))
        if show_gpu_h:
            t.append(fmt(sums["gpu"]))
        if show_model:
            t += ["", ""]
        total = tuple(t)
    return FiguresTable(tuple(columns), tuple(rows), total)


def _join(items: Sequence[str]) -> str:
    items = [i for i in dict.fromkeys(items) if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _meters(footprints: Sequence[Footprint]) -> str:
    parts: dict[str, dict[str, None]] = {}
    for fp in footprints:
        for comp in fp.components:
            name = COMPONENT_NAMES.get(comp.component, comp.component)
            method = METHOD_NAMES.get(comp.method, comp.method)
            text = f"{method} ({comp.quality}, scope {comp.scope})"
            if comp.note:
                text += f" [{comp.note}]"
            parts.setdefault(name, {})[text] = None
    return "; ".join(f"{name}: {_join(list(texts))}" for name, texts in parts.items())


def methods_paragraph(records: Sequence[RunRecord]) -> str:
    """The methods paragraph for a paper, in plain text (renderers escape it)."""
    footprints = [r.footprint for r in records if r.footprint is not None]
    if not footprints:
        return "No finished measurements were found for the selected runs."
    hours = sum(fp.duration_s for fp in footprints) / S_PER_H
    energy = sum(fp.energy_kwh for fp in footprints)
    co2 = sum(fp.emissions_kg for fp in footprints)
    hosts = _join(sorted({r.host for r in records if r.host}))
    projects = _join(sorted({r.project for r in records if r.project}))
    n = len(footprints)
    out = [
        f"We measured the energy use of {n} run{'s' if n != 1 else ''} "
        f"(project {projects or 'unnamed'}; {fmt(hours)} h of wall-clock time"
        + (f" on {hosts}" if hosts else "")
        + f") with impactlib: {fmt(energy, 4)} kWh in total, PUE included, "
        f"for {fmt(co2, 4)} kg CO2e of operational emissions."
    ]
    hardware = [str(r.config.get("hardware")) for r in records if r.config.get("hardware")]
    if hardware:
        out.append(f"Hardware: {_join(hardware)}.")
    out.append(f"Energy by component and how it was obtained: {_meters(footprints)}.")
    scopes = _join(sorted({f"{fp.scope} (idle policy {fp.idle_policy})" for fp in footprints}))
    out.append(
        f"Energy was attributed to the tracked scope {scopes}: dynamic energy by usage share, "
        "idle energy by the stated policy; the unattributed rest of each device is not counted."
    )
    carbons = [fp.carbon for fp in footprints if fp.carbon is not None]
    if carbons:
        descs = []
        for c in carbons:
            desc = (
                f"{c.zone} ({c.source}, {c.detail or 'no detail'}; mean {fmt(c.mean_g_per_kwh)} "
                f"gCO2e/kWh; location from {c.located_by})"
            )
            if c.fallback:
                desc += f" - fallback: {c.fallback}"
            descs.append(desc)
        out.append(f"Carbon intensity: {_join(descs)}.")
    else:
        out.append("No carbon intensity was available, so operational emissions are not given.")
    pues = sorted({fp.pue for fp in footprints})
    out.append(
        f"A power usage effectiveness (PUE) of {_join([fmt(p) for p in pues])} was applied to all "
        "energy figures" + (" (1.0: no data-centre overhead counted)." if pues == [1.0] else ".")
    )
    embodied = [fp for fp in footprints if fp.embodied_kg is not None]
    if embodied:
        total = sum(fp.embodied_kg or 0.0 for fp in embodied)
        notes = _join([fp.embodied_note for fp in embodied if fp.embodied_note][:1])
        out.append(
            f"Embodied (manufacturing) emissions, reported separately: {fmt(total, 3)} kg CO2e"
            + (f" ({notes})" if notes else "")
            + "."
        )
    models = [r.model for r in records if r.model]
    if models:
        conv = models[0].get("flops_convention", "convention not recorded")
        out.append(
            "Model size and compute: "
            + _join(
                [
                    f"{fmt_count(m.get('params'))} parameters, "
                    f"{fmt_count(m.get('forward_flops'))} FLOPs per forward pass"
                    for m in models
                ]
            )
            + f" (FLOPs: {conv})."
        )
    warnings = sorted({w for fp in footprints for w in fp.warnings})
    if warnings:
        out.append(f"Caveats recorded during measurement: {_join(warnings)}.")
    return " ".join(out)


def human_summary(records: Sequence[RunRecord]) -> str:
    """One or two sentences for readers: the totals and one everyday equivalent."""
    footprints = [r.footprint for r in records if r.footprint is not None]
    energy = sum(fp.energy_kwh for fp in footprints)
    co2 = sum(fp.emissions_kg for fp in footprints)
    text = f"{fmt(energy, 4)} kWh and {fmt(co2, 4)} kg CO2e in {len(footprints)} run(s)."
    extra = equivalents.sentence(co2)
    return f"{text} {extra}".strip()


def citations(records: Sequence[RunRecord]) -> list[str]:
    """Sources to cite below the report: intensity tables, equivalents, embodied rows."""
    footprints = [r.footprint for r in records if r.footprint is not None]
    out: dict[str, None] = {}
    for fp in footprints:
        if fp.carbon and fp.carbon.detail:
            out[f"Carbon intensity ({fp.carbon.zone}): {fp.carbon.detail}"] = None
    co2 = sum(fp.emissions_kg for fp in footprints)
    for source in equivalents.citations(co2):
        out[f"Equivalents: {source}"] = None
    return list(out)
