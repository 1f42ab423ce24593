"""What a paper should say about its compute: the methods text and the figures table.

The fields follow the minimal list drawn from Henderson et al. (JMLR 2020), Green AI
(Schwartz et al. 2020) and Green Algorithms' reporting advice: energy split by component,
CO2e with the intensity value, source and year, PUE, wall-clock time, hardware, how each
figure was obtained (measured, attributed or estimated), location and how it was found,
parameters and FLOPs with their convention, and embodied emissions on their own line.

The methods text is prose a reviewer can read: one paragraph per distinct configuration
(hardware, meters, attribution, carbon source, PUE), built from fixed sentences and numbers
only. The records' own notes (file paths, error messages, fixes naming commands or settings,
URLs) are true and useful to the authors but do not belong in a paper, so they go to a
separate notes list. Everything here returns plain text and plain cells; the Markdown, LaTeX
and HTML renderers only escape and lay them out, so the three formats always say the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ..footprint import ChargedTo, Component, LocatedBy, Quality
from ..units import (
    ENERGY_SCALES,
    J_PER_KWH,
    MASS_SCALES,
    S_PER_H,
    TIME_SCALES,
    Scale,
    format_duration_s,
    format_in,
    format_mass_kg,
    format_number,
    scale_for,
)
from . import equivalents
from .figures import (
    Amounts,
    Bounds,
    add_bounds,
    add_up,
    bounds_text,
    emissions_phrase,
    energy_text,
    footprint_amounts,
    slurm_job,
)
from .figures import metrics as task_metrics

if TYPE_CHECKING:
    from ..footprint import CarbonInfo, ComponentEnergy, Footprint
    from ..store.records import RunRecord

SHORT_ID_LEN = 8  # like git's short hashes: unique in any store a person reads at once
COMPONENT_NAMES = {"cpu": "CPU", "dram": "DRAM", "gpu": "GPU", "memory": "memory"}
# How each method obtained its energy, as a clause after "<component> energy was".
METHOD_PROSE = {
    "rapl": "read from the processor's RAPL energy counters",
    "daemon": "read from the processor's RAPL energy counters by the impactlib system service",
    "nvml-energy": "read from the GPU's cumulative energy counter through the NVIDIA driver",
    "nvml-power": "obtained by integrating the GPU power reported by the NVIDIA driver",
    "amdsmi": "read from the GPU's energy counter through AMD SMI",
}
# Where a record's idle floor came from, as a sentence (estimated domains carry their own).
FLOOR_PROSE = {
    "calibrated": "Idle power came from a calibration of the host's power against load.",
    "learned": "Idle power came from a power model of the host learned from earlier runs.",
    "observed": (
        "Idle power was the lowest observed during the run, which may understate the idle share."
    ),
}
IDLE_POLICY_PROSE = {
    "usage": "idle power by its share of the machine's capacity",
    "allocation": "idle power by the processors, GPUs and memory allocated to it",
    "none": "no idle power",
}
SCOPE_NAMES = {ChargedTo.TREE: "process tree", ChargedTo.CGROUP: "control group"}
# How the zone was found, as the end of the sentence that names the intensity's source.
LOCATION_PROSE = {
    LocatedBy.CONFIGURATION: "",
    LocatedBy.TIMEZONE: ", for a location guessed from the system timezone",
    LocatedBy.WORLD_AVERAGE: ", as no location was configured",
    LocatedBy.IMPORTED: ", for the location the imported record gives",
}
PROVIDER_NAMES = {
    "static": "the bundled annual table",
    "rte": "RTE eCO2mix",
    "gb": "the GB Carbon Intensity service",
    "electricitymaps": "Electricity Maps",
}


def short_id(run_id: str) -> str:
    """The first characters of a run id: what people read and type (``--run`` takes it)."""
    return run_id[:SHORT_ID_LEN]


def model_constants(note: str) -> str:
    """The constants of an estimation model from its component note, e.g.
    ``P = TDP x (0.12 + 0.88 x utilisation); TDP 150 W x 2 socket(s) ...``.

    Drops what the note repeats from elsewhere (why no meter was usable, which is a warning
    of its own, and the idle floor, shown beside the figure).
    """
    kept = [
        part.removeprefix("estimated: ")
        for part in note.split("; ")
        if part and not part.startswith(("no meter because", "idle floor"))
    ]
    return "; ".join(kept)


def fmt_count(value: Any) -> str:
    """Parameter and FLOP counts: ``2,410``, then in engineering units (``1.2 M``, ``3.4 G``)."""
    if value is None or value == "":
        return "-"
    number = float(value)
    for size, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M")):
        if abs(number) >= size:
            return f"{format_number(number / size)} {suffix}"
    return f"{number:,.0f}"


def model_value(model: dict[str, Any] | None, key: str) -> Any:
    """A model figure (``params``, ``forward_flops``) logged with the model or as a metric."""
    if not model:
        return None
    metrics = model.get("metrics") or {}
    return model.get(key, metrics.get(key))


def _pue(value: float) -> str:
    text = format_number(value)
    return text if "." in text else f"{text}.0"


def _kinds(footprints: Sequence[Footprint]) -> list[Component]:
    seen = {comp.component for fp in footprints for comp in fp.components}
    order = list(COMPONENT_NAMES)
    return sorted(seen, key=lambda k: order.index(k) if k in order else len(order))


class FiguresTable(NamedTuple):
    """Header and rows of formatted cells; ``total`` is the sum row (None for one run)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    total: tuple[str, ...] | None


class _Column(NamedTuple):
    header: str
    cells: list[str]
    total: str


def _scaled(title: str, values: Sequence[float | None], several: bool, scale: Scale) -> _Column:
    """A numeric column in one unit for all its cells (and its total); ``-`` where unknown."""
    cells = ["-" if v is None else format_in(v, scale) for v in values]
    total = format_in(sum(v or 0.0 for v in values), scale) if several else ""
    return _Column(f"{title} ({scale.symbol})", cells, total)


def _ranged(title: str, bounds: Sequence[Bounds | None], several: bool, scale: Scale) -> _Column:
    """The ranges of a column's figures, in its unit (``2.9–3.6``); the total's is their sum
    (ranges add: :mod:`impactlib.uncertainty`)."""
    cells = ["-" if b is None else bounds_text(b, scale) for b in bounds]
    total = add_bounds(bounds) if several else None
    total_text = "" if total is None else bounds_text(total, scale)
    return _Column(f"{title} range ({scale.symbol})", cells, total_text)


def _largest(values: Sequence[float | None], several: bool) -> float:
    """The largest figure a column shows: its total when there is a total row."""
    known = [v for v in values if v is not None]
    return sum(known) if several else max(known, default=0.0)


def _timed(title: str, values: Sequence[float | None], several: bool) -> _Column:
    return _scaled(title, values, several, scale_for(_largest(values, several), TIME_SCALES))


def _massed(title: str, values: Sequence[float | None], several: bool) -> _Column:
    return _scaled(title, values, several, scale_for(_largest(values, several), MASS_SCALES))


def figures(records: Sequence[RunRecord]) -> FiguresTable:
    """The standard figures, one row per run (plus a total row for several runs).

    Each quantity has one unit per column, named in the header and chosen by magnitude, so
    that a column reads down without unit changes. Columns with nothing to say for any run
    (no GPU, no model logged) are left out: an empty column in a paper's table reads as a
    missing measurement. Each task metric a run logged (accuracy, F1...) is a column of its
    own, after the model's size.
    """
    runs = [r for r in records if r.footprint is not None]
    fps = [r.footprint for r in runs if r.footprint is not None]
    several = len(fps) > 1
    kinds = _kinds(fps)
    energy = [fp.energy_j * fp.pue for fp in fps]
    by_kind = {k: [fp.component_kwh(k) * J_PER_KWH for fp in fps] for k in kinds}
    energy_scale = scale_for(_largest(energy, several), ENERGY_SCALES)
    emissions = [fp.emissions_kg for fp in fps]
    amounts = [footprint_amounts(fp) for fp in fps]  # their ranges and quality classes
    embodied = [fp.embodied_kg for fp in fps]
    columns = [_Column("Run", [short_id(r.id) for r in runs], "Total")]
    jobs = [slurm_job(r.config.get("slurm")) for r in runs]
    if any(jobs):  # which SLURM job each run was, as sacct names it
        columns.append(_Column("SLURM job", [j.job_id if j else "-" for j in jobs], ""))
    columns += [
        _timed("Duration", [fp.duration_s for fp in fps], several),
        _scaled("Energy", energy, several, energy_scale),
        _ranged("Energy", [a.energy_bounds_j for a in amounts], several, energy_scale),
    ]
    columns += [
        _scaled(_capital(COMPONENT_NAMES.get(k, k)), by_kind[k], several, energy_scale)
        for k in kinds
    ]
    columns.append(_Column("PUE", [_pue(fp.pue) for fp in fps], ""))
    columns.append(_Column("Intensity (gCO2e/kWh)", [_intensity(fp.carbon) for fp in fps], ""))
    columns.append(_massed("CO2e", emissions, several))
    mass_scale = scale_for(_largest(emissions, several), MASS_SCALES)
    columns.append(_ranged("CO2e", [a.emissions_bounds_kg for a in amounts], several, mass_scale))
    total_class = add_up(amounts).quality_class if several else None
    columns.append(
        _Column(
            "Quality",
            [str(a.quality_class or "-") for a in amounts],
            str(total_class or "") if several else "",
        )
    )
    if any(e is not None for e in embodied):
        columns.append(_massed("Embodied CO2e", embodied, several))
    columns.append(_timed("CPU time", [fp.cpu_hours * S_PER_H for fp in fps], several))
    if any(fp.gpu_hours for fp in fps):
        columns.append(_timed("GPU time", [fp.gpu_hours * S_PER_H for fp in fps], several))
    for key, title in (("params", "Params"), ("forward_flops", "FLOPs/forward")):
        if any(model_value(r.model, key) is not None for r in runs):
            cells = [fmt_count(model_value(r.model, key)) for r in runs]
            columns.append(_Column(title, cells, ""))
    logged = [{m.name: m.value for m in task_metrics(r.model)} for r in runs]
    for name in dict.fromkeys(name for values in logged for name in values):
        cells = [format_number(v[name]) if name in v else "-" for v in logged]
        columns.append(_Column(name, cells, ""))
    rows = tuple(tuple(col.cells[i] for col in columns) for i in range(len(runs)))
    total = tuple(col.total for col in columns) if several else None
    return FiguresTable(tuple(col.header for col in columns), rows, total)


def _intensity(carbon: CarbonInfo | None) -> str:
    return f"{format_number(carbon.mean_g_per_kwh)} ({carbon.zone})" if carbon else "-"


class MethodsText(NamedTuple):
    """The methods section: prose paragraphs for the paper, and the notes behind them."""

    paragraphs: tuple[str, ...]
    notes: tuple[str, ...]


def _join(items: Iterable[str]) -> str:
    unique = [i for i in dict.fromkeys(items) if i]
    if len(unique) <= 1:
        return "".join(unique)
    return ", ".join(unique[:-1]) + " and " + unique[-1]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class _Configuration(NamedTuple):
    """What makes two runs' methods read the same (runs that share it share a paragraph)."""

    hardware: str
    meters: tuple[tuple[str, str, str, str], ...]  # component, method, quality, floor source
    charged_to: ChargedTo
    idle_policy: str
    carbon: tuple[str, str, str] | None  # source, zone, how the zone was found
    pue: float


def _configuration(record: RunRecord) -> _Configuration:
    fp = record.footprint
    assert fp is not None
    meters = sorted(
        {(c.component, c.method, c.quality, c.idle_floor_source) for c in fp.components}
    )
    carbon = (fp.carbon.source, fp.carbon.zone, fp.carbon.located_by) if fp.carbon else None
    hardware = str(record.config.get("hardware") or "")
    return _Configuration(hardware, tuple(meters), fp.charged_to, fp.idle_policy, carbon, fp.pue)


def _opening(records: Sequence[RunRecord], footprints: Sequence[Footprint]) -> str:
    projects = sorted({r.project for r in records if r.project})
    label = f" of project{'s' if len(projects) > 1 else ''} {_join(projects)}" if projects else ""
    total = _total(footprints)
    verb = "measured" if total.metered_j > 0 else "tracked"  # "measured": a meter read some
    return (
        f"We {verb} {_plural(total.runs, 'run')}{label} with impactlib: "
        f"{format_duration_s(total.duration_s)} of wall-clock time, "
        f"{energy_text(total)} of electricity and "
        f"{emissions_phrase(total)} of operational emissions."
    )


def _total(footprints: Sequence[Footprint]) -> Amounts:
    """What the finished runs add up to, as every other output adds them."""
    return add_up(footprint_amounts(fp) for fp in footprints)


def _hardware(subject: str, group: Sequence[RunRecord]) -> str:
    hosts = sorted({r.host for r in group if r.host})
    where = f" on host{'s' if len(hosts) > 1 else ''} {_join(hosts)}" if hosts else ""
    hardware = _join(str(r.config.get("hardware", "")) for r in group)
    if not where and not hardware:
        return ""
    described = f": {hardware.replace('; ', ', ')}" if hardware else ""
    return f"{subject} ran{where}{described}." if where else f"{subject} used {hardware}."


def _model_prose(component: ComponentEnergy) -> str:
    """How a model estimated a component (after "estimated"), with the constants its note
    records."""
    note = component.note
    if component.method == "model-tdp":
        text = "from thermal design power (TDP)"
        per_socket = re.search(r"TDP ([\d.]+) W x (\d+) socket", note)
        per_core = re.search(r"([\d.]+) W/core x (\d+) core", note)
        if per_socket:
            text += f", {per_socket[1]} W per socket for {_plural(int(per_socket[2]), 'socket')}"
        elif per_core:
            text += (
                f", a generic {per_core[1]} W per core for {_plural(int(per_core[2]), 'core')} "
                "as the processor model is not in the bundled tables"
            )
        idle = re.search(r"TDP x \(([\d.]+) \+", note)
        if idle:
            text += (
                f", scaled linearly with utilisation from {format_number(float(idle[1]) * 100)} % "
                "of TDP when idle"
            )
        return text
    if component.method == "model-memory":
        per_gb = re.search(r"([\d.]+) W/GB x ([\d.]+) GB", note)
        if per_gb:
            return f"at {per_gb[1]} W per GB for {per_gb[2]} GB installed"
        return "from a constant power per GB installed"
    return "by a model"


def _energy_sources(fps: Sequence[Footprint]) -> list[str]:
    """One sentence per meter (component kinds sharing it together), then one for all that
    was estimated, which a reader must not take for a measurement."""
    by_method: dict[str, dict[str, ComponentEnergy]] = {}
    for fp in fps:
        for comp in fp.components:
            by_method.setdefault(comp.method, {}).setdefault(comp.component, comp)
    out, models = [], []
    for method, comps in by_method.items():
        names = [COMPONENT_NAMES.get(k, k) for k in comps]
        if next(iter(comps.values())).quality is Quality.ESTIMATED:
            models += [(COMPONENT_NAMES.get(k, k), _model_prose(c)) for k, c in comps.items()]
        else:
            how = METHOD_PROSE.get(method, "read from a hardware energy meter")
            out.append(f"{_capital(_join(names))} energy {_were(names)} {how}.")
    if len(models) == 1:
        name, how = models[0]
        out.append(f"{_capital(name)} energy was not measured but estimated {how}.")
    elif models:
        names = [name for name, _ in models]
        hows = "; ".join(f"{name} {how}" for name, how in models)
        out.append(f"{_capital(_join(names))} energy were not measured but estimated: {hows}.")
    return out


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _were(names: Sequence[str]) -> str:
    return "were" if len(names) > 1 else "was"


def _attribution(fps: Sequence[Footprint]) -> list[str]:
    fp = fps[0]
    each = "Each run" if len(fps) > 1 else "The run"
    if fp.charged_to is ChargedTo.MACHINE:
        text = (
            "The whole machine's energy was charged to the runs, which had it to themselves."
            if len(fps) > 1
            else "The whole machine's energy was charged to the run, which had it to itself."
        )
    else:
        scope = SCOPE_NAMES.get(fp.charged_to, "tracked processes")
        idle = IDLE_POLICY_PROSE.get(fp.idle_policy, f"idle power by the {fp.idle_policy} policy")
        text = (
            f"{each} was charged its {scope}'s share: dynamic energy by its CPU time, {idle}; "
            "other processes' energy was not counted."
        )
    floors = {c.idle_floor_source for f in fps for c in f.components if c.quality.metered}
    return [text] + [FLOOR_PROSE[s] for s in sorted(floors) if s in FLOOR_PROSE]


def _carbon(fps: Sequence[Footprint]) -> str:
    carbons = [fp.carbon for fp in fps if fp.carbon is not None]
    if not carbons:
        return "No carbon intensity was available, so operational emissions are not given."
    first = carbons[0]
    means = sorted(c.mean_g_per_kwh for c in carbons)
    value = (
        f"{format_number(means[0])} gCO2e/kWh"
        if format_number(means[0]) == format_number(means[-1])
        else f"between {format_number(means[0])} and {format_number(means[-1])} gCO2e/kWh"
    )
    zone = ", the world average," if first.zone == "WORLD" else f" for zone {first.zone},"
    source = PROVIDER_NAMES.get(first.source, first.source)
    year = re.search(r"\b(?:19|20)\d\d\b", first.detail)
    if first.source == "static" and year:
        source += f" ({year[0]} values)"
    text = f"Emissions were priced per minute at {value}{zone} from {source}"
    if any(c.fallback for c in carbons):
        text += " after the live source failed"
    return text + LOCATION_PROSE[first.located_by] + "."


def _located(carbon: CarbonInfo) -> str:
    """How the zone was found, in the record's own sentence (which names the setting or the
    timezone), else in the vocabulary's words."""
    return carbon.located_detail or carbon.located_by.label


def _pue_sentence(fps: Sequence[Footprint]) -> str:
    pue = fps[0].pue
    if pue == 1.0:
        return "No data-centre overhead was counted (PUE 1.0)."
    return f"Energy includes a data-centre power usage effectiveness (PUE) of {_pue(pue)}."


def _group_paragraph(subject: str, group: Sequence[RunRecord]) -> str:
    fps = [r.footprint for r in group if r.footprint is not None]
    parts = [_hardware(subject, group), *_energy_sources(fps), *_attribution(fps)]
    parts += [_carbon(fps), _pue_sentence(fps)]
    return " ".join(p for p in parts if p)


def _closing(records: Sequence[RunRecord], footprints: Sequence[Footprint]) -> str:
    parts = []
    embodied = [fp.embodied_kg for fp in footprints if fp.embodied_kg is not None]
    if embodied:
        parts.append(
            f"Embodied emissions, {format_mass_kg(sum(embodied))} CO2e for the "
            f"{_plural(len(embodied), 'run') if len(embodied) > 1 else 'run'}, are reported "
            "separately: the hardware's "
            "manufacturing emissions in proportion to its time of use over its expected lifetime."
        )
    sizes = _model_sizes(records)
    if sizes:
        parts.append(sizes)
    return " ".join(parts)


def _model_sizes(records: Sequence[RunRecord]) -> str:
    """Parameters and FLOPs per forward pass of the logged models, with their convention."""
    logged = [r for r in records if model_value(r.model, "params") is not None]
    if not logged:
        return ""
    sizes = []
    for rec in logged:
        text = f"{fmt_count(model_value(rec.model, 'params'))} parameters"
        flops = model_value(rec.model, "forward_flops")
        if flops is not None:
            text += f" and {fmt_count(flops)} floating-point operations per forward pass"
        if len(logged) > 1:
            text += f" (run {short_id(rec.id)})"
        sizes.append(text)
    conventions = " ".join(str((r.model or {}).get("flops_convention", "")) for r in logged)
    counted = re.search(r"multiply-add counts (\d)", conventions)
    return (
        f"The model{'s' if len(logged) > 1 else ''} had {_join(sizes)}"
        + (f", counting a multiply-add as {counted[1]} operations" if counted else "")
        + "."
    )


def _notes(records: Sequence[RunRecord], footprints: Sequence[Footprint]) -> tuple[str, ...]:
    """What the records say beyond the prose: meter notes, location, fallbacks, warnings."""
    out: dict[str, None] = {}
    for fp in footprints:
        for comp in fp.components:
            if comp.note:
                out[f"{comp.domain}: {comp.note}"] = None
        if fp.carbon is not None:
            if fp.carbon.located_by is not LocatedBy.CONFIGURATION:
                out[f"Location ({fp.carbon.zone}): {_located(fp.carbon)}"] = None
            if fp.carbon.fallback:
                out[f"Carbon intensity fallback: {fp.carbon.fallback}"] = None
        for warning in fp.warnings:
            if fp.carbon is not None and _located(fp.carbon) in warning:
                continue  # the location note above says it already
            out[warning] = None
    embodied = next((r for r in records if r.footprint and r.footprint.embodied_note), None)
    if embodied is not None and embodied.footprint is not None:
        out[f"Embodied, run {short_id(embodied.id)}: {embodied.footprint.embodied_note}"] = None
    for rec in records:
        conv = (rec.model or {}).get("flops_convention")
        if conv:
            out[f"FLOPs: {conv}"] = None
    return tuple(out)


def methods_text(records: Sequence[RunRecord]) -> MethodsText:
    """The methods section: an opening with the totals, one paragraph per configuration,
    then embodied emissions and model size; the records' notes apart."""
    measured = [r for r in records if r.footprint is not None]
    footprints = [r.footprint for r in measured if r.footprint is not None]
    if not footprints:
        return MethodsText(("No finished measurements were found for the selected runs.",), ())
    groups: dict[_Configuration, list[RunRecord]] = {}
    for rec in measured:
        groups.setdefault(_configuration(rec), []).append(rec)
    opening = _opening(measured, footprints)
    closing = _closing(measured, footprints)
    if len(groups) == 1:
        subject = "The run" if len(measured) == 1 else "The runs"
        body = " ".join(p for p in (opening, _group_paragraph(subject, measured), closing) if p)
        return MethodsText((body,), _notes(measured, footprints))
    paragraphs = [opening]
    for group in groups.values():
        ids = _join(short_id(r.id) for r in group)
        paragraphs.append(_group_paragraph(f"Run{'s' if len(group) > 1 else ''} {ids}", group))
    if closing:
        paragraphs.append(closing)
    return MethodsText(tuple(paragraphs), _notes(measured, footprints))


def human_summary(records: Sequence[RunRecord]) -> str:
    """One or two sentences for readers: the totals and one everyday equivalent."""
    total = _total([r.footprint for r in records if r.footprint is not None])
    text = f"{energy_text(total)} and {emissions_phrase(total)} in {_plural(total.runs, 'run')}."
    extra = equivalents.sentence(total.emissions_kg)
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
