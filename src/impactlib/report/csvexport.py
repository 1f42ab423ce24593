"""The CSV format: run records (and lab reports) as spreadsheet rows.

The CSV starts with every column of CodeCarbon 3.x's ``EmissionsData`` (3.3.0), in its order,
names and units (seconds, kg, kWh with PUE for energies, W without PUE for average powers, GiB
for ``ram_total_size``), so spreadsheets and scripts written for ``emissions.csv`` read these
files unchanged. What impactlib does not know (water, coordinates, utilisation percentages, a
CodeCarbon version) is left empty, never guessed. impactlib's own columns follow, carrying what
CodeCarbon's rows lack: status, user, host, scope, method and quality per component; then one
``metric:NAME`` column per task metric some run logged (empty for the runs that did not),
and ``per_unit:UNIT:FIGURE`` columns per unit of work some run counted (count, energy_kwh,
emissions_kg, sci_kg: :mod:`.perunit`).
The ranges (:data:`RANGE_COLUMNS`: energy with PUE and emissions, low and high, and BoAmps'
quality class) come after impactlib's columns and before the metrics.

The machine described (OS, Python, CPU, memory, GPUs) is the one the run used, read from the
record (``config["system"]``, written when the run started): exporting on a laptop must not
describe the laptop. Records older than that field leave those columns empty.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, NamedTuple

from .. import data
from ..footprint import ChargedTo
from ..store.records import RunRecord
from ..units import J_PER_KWH
from . import lab
from .figures import footprint_amounts, metrics, range_figures, slurm_job, work_of
from .perunit import UNIT_PREFIX, unit_columns
from .runs import RunsReport

# codecarbon/output_methods/emissions_data.py, EmissionsData fields in declaration order
CODECARBON_COLUMNS = (
    "timestamp",
    "project_name",
    "run_id",
    "experiment_id",
    "duration",
    "emissions",
    "emissions_rate",
    "cpu_power",
    "gpu_power",
    "ram_power",
    "cpu_energy",
    "gpu_energy",
    "ram_energy",
    "energy_consumed",
    "water_consumed",
    "country_name",
    "country_iso_code",
    "region",
    "cloud_provider",
    "cloud_region",
    "os",
    "python_version",
    "codecarbon_version",
    "cpu_count",
    "cpu_model",
    "gpu_count",
    "gpu_model",
    "longitude",
    "latitude",
    "ram_total_size",
    "tracking_mode",
    "cpu_utilization_percent",
    "gpu_utilization_percent",
    "ram_utilization_percent",
    "ram_used_gb",
    "on_cloud",
    "pue",
    "wue",
)

# Taken as they are from RunRecord.summary(), which already flattens the record.
SUMMARY_COLUMNS = (
    "status",
    "user",
    "host",
    "command",
    "git_commit",
    "started_at",
    "ended_at",
    "scope",
    "idle_policy",
)

# The SLURM job of the run (a tracker's in a job, or ``slurm ingest``'s), empty outside SLURM.
SLURM_COLUMNS = ("slurm_job_id", "slurm_step", "slurm_array_task", "slurm_cluster")

OUR_COLUMNS = (
    *SUMMARY_COLUMNS,
    "intensity_source",
    "intensity_zone",
    "intensity_g_per_kwh",
    "intensity_detail",
    "intensity_fallback",
    "located_by",
    "cpu_method",
    "cpu_quality",
    "gpu_method",
    "gpu_quality",
    "ram_method",
    "ram_quality",
    # The platform (wall minus RAPL, GPUs and modelled lines), which CodeCarbon has no
    # column for: kWh with PUE, W without, as the columns above.
    "platform_energy",
    "platform_power",
    "platform_method",
    "platform_quality",
    # Energy that is none of the above: a whole node (SLURM's energy accounting of an
    # exclusive job), or what an imported record counted without saying what drew it.
    "other_energy",
    "other_power",
    "other_method",
    "other_quality",
    "cpu_hours",
    "gpu_hours",
    "peak_memory_bytes",
    "embodied_kg",
    "warnings",
    *SLURM_COLUMNS,
)

# The run's ranges (report/figures.py): kWh with PUE, kg; the class of the energy's range.
RANGE_COLUMNS = (
    "energy_low_kwh",
    "energy_high_kwh",
    "emissions_low_kg",
    "emissions_high_kg",
    "quality_class",
)

BYTES_PER_GIB = 1024**3  # CodeCarbon's ram_total_size is total bytes / 1024**3
_KINDS = ("cpu", "gpu", "ram", "platform", "other")


class Place(NamedTuple):
    """Where a run's carbon zone is, in CodeCarbon's location columns."""

    country_name: str = ""
    country_iso_code: str = ""  # ISO 3166 alpha-3, as CodeCarbon writes it
    region: str = ""
    cloud_provider: str = ""
    cloud_region: str = ""
    on_cloud: str = "N"


class Country(NamedTuple):
    """One ISO 3166 row."""

    alpha3: str
    name: str


@cache
def _countries() -> dict[str, Country]:
    """ISO alpha-2 -> (alpha-3, name), from the bundled ISO 3166 table."""
    return {r["alpha2"]: Country(r["alpha3"], r["name"]) for r in data.load_csv("iso3166.csv")}


def _alpha2(code_or_name: str) -> str | None:
    """The alpha-2 code of an ISO alpha-2 or alpha-3 code or an ISO English name."""
    wanted = code_or_name.strip().upper()
    for alpha2, country in _countries().items():
        if wanted in (alpha2, country.alpha3, country.name.upper()):
            return alpha2
    return None


def _place_of(alpha2: str | None, **fields: str) -> Place:
    country = _countries().get(alpha2 or "")
    if country is None:
        return Place(**fields)
    return Place(country.name, country.alpha3, **fields)


def place(zone: str) -> Place:
    """The country, region and cloud columns of a carbon zone; only real ISO codes reach the
    ISO column (a zone such as ``SE3``, ``US-CA`` or ``GB-13`` names a part of a country).

    Zones: ISO codes (``FR``, ``FRA``); sub-national ``CC-...`` (``US-CA``, ``GB-13``) and
    bidding zones ``CCn`` (``SE3``, ``NO1``), whose country is their prefix; cloud regions
    ``provider:region``, placed by the bundled cloud table when it names a known country.
    """
    text = zone.strip()
    if ":" in text:
        provider, _, region = text.partition(":")
        cloud = {
            "cloud_provider": provider.lower(),
            "cloud_region": region.lower(),
            "on_cloud": "Y",
        }
        return _place_of(_cloud_country(provider, region), **cloud)
    upper = text.upper()
    if len(upper) in (2, 3) and upper.isalpha():
        return _place_of(_alpha2(upper))
    part = re.fullmatch(r"([A-Z]{2})(-.+|\d+)", upper)
    if part and part.group(1) in _countries():
        return _place_of(part.group(1), region=upper)
    return Place()


def _cloud_country(provider: str, region: str) -> str | None:
    for row in data.load_csv("mlco2_cloud_impact.csv"):
        if (row["provider"], row["region"]) == (provider.lower(), region.lower()):
            return _alpha2(row["country"])
    return None


def _system(record: RunRecord) -> dict[str, Any]:
    """The machine the run used, as its record describes it (empty for old records)."""
    system = record.config.get("system")
    if not isinstance(system, Mapping):
        return {}
    gpus = system.get("gpus") or {}
    ram = system.get("ram_total_bytes")
    return {
        "os": system.get("os", ""),
        "python_version": system.get("python", ""),
        "cpu_count": system.get("cpu_count", ""),
        "cpu_model": system.get("cpu_model", ""),
        "gpu_count": sum(gpus.values()) if gpus else "",
        "gpu_model": ", ".join(f"{n} x {name}" for name, n in gpus.items()),
        "ram_total_size": ram / BYTES_PER_GIB if ram else "",
    }


def _kind(component: str) -> str:
    if component in ("dram", "memory"):
        return "ram"
    return component if component in _KINDS else "other"  # node, other


def _components(record: RunRecord) -> dict[str, Any]:
    """Energy (kWh, PUE included), average power (W, without PUE), method and quality per
    kind of component, as CodeCarbon splits them: cpu, gpu, ram."""
    fp = record.footprint
    assert fp is not None
    joules = dict.fromkeys(_KINDS, 0.0)
    methods: dict[str, set[str]] = {k: set() for k in _KINDS}
    qualities: dict[str, set[str]] = {k: set() for k in _KINDS}
    for c in fp.components:
        kind = _kind(c.component)
        joules[kind] += c.energy_j
        methods[kind].add(c.method)
        qualities[kind].add(c.quality)
    row: dict[str, Any] = {}
    for kind in _KINDS:
        row[f"{kind}_energy"] = joules[kind] * fp.pue / J_PER_KWH
        row[f"{kind}_power"] = joules[kind] / fp.duration_s if fp.duration_s else 0.0
        row[f"{kind}_method"] = "+".join(sorted(methods[kind]))
        row[f"{kind}_quality"] = "+".join(sorted(qualities[kind]))
    return row


def csv_row(record: RunRecord) -> dict[str, Any]:
    """One CSV row for a run: every column present, empty where the record does not say."""
    summary = record.summary()
    row: dict[str, Any] = dict.fromkeys(CODECARBON_COLUMNS + OUR_COLUMNS + RANGE_COLUMNS, "")
    row.update(
        timestamp=record.ended_at or record.updated_at,
        project_name=record.project,
        run_id=record.id,
        experiment_id=record.experiment,
        **{k: "" if summary[k] is None else summary[k] for k in SUMMARY_COLUMNS},
        **_system(record),
    )
    job = slurm_job(record.config.get("slurm"))
    if job is not None:
        row.update(
            slurm_job_id=job.job_id,
            slurm_step=job.step or "",
            slurm_array_task=job.array_task or "",
            slurm_cluster=job.cluster or "",
        )
    fp = record.footprint
    if fp is None:
        return row
    duration = fp.duration_s
    row.update(
        _components(record),
        duration=duration,
        emissions=fp.emissions_kg,
        emissions_rate=fp.emissions_kg / duration if duration else 0.0,
        energy_consumed=fp.energy_kwh,
        tracking_mode="machine" if fp.charged_to is ChargedTo.MACHINE else "process",
        pue=fp.pue,
        cpu_hours=fp.cpu_hours,
        gpu_hours=fp.gpu_hours,
        peak_memory_bytes=fp.peak_memory_bytes,
        embodied_kg="" if fp.embodied_kg is None else fp.embodied_kg,
        warnings=" | ".join(fp.warnings),
        **range_figures(footprint_amounts(fp)),
    )
    if row["gpu_count"] == "":  # an old record: count the GPU domains charged
        row["gpu_count"] = sum(1 for c in fp.components if c.component == "gpu")
    if fp.carbon is not None:
        row.update(
            place(fp.carbon.zone)._asdict(),
            intensity_source=fp.carbon.source,
            intensity_zone=fp.carbon.zone,
            intensity_g_per_kwh=fp.carbon.mean_g_per_kwh,
            intensity_detail=fp.carbon.detail,
            intensity_fallback=fp.carbon.fallback or "",
            located_by=fp.carbon.located_by,
        )
    return row


METRIC_PREFIX = "metric:"  # a task metric's column: metric:accuracy


def to_csv(records: Sequence[RunRecord]) -> str:
    """All runs as CSV text, a column per task metric after the fixed ones, then the
    figures per unit of work (``per_unit:<unit>:<figure>``) of the runs that counted some."""
    logged = [{m.name: m.value for m in metrics(r.model)} for r in records]
    names = list(dict.fromkeys(name for run in logged for name in run))
    per_unit = [unit_columns(work_of(r.footprint, r.model)) for r in records]
    unit_names = list(dict.fromkeys(name for run in per_unit for name in run))
    out = io.StringIO()
    writer = csv.DictWriter(
        out,
        fieldnames=[
            *CODECARBON_COLUMNS,
            *OUR_COLUMNS,
            *RANGE_COLUMNS,
            *(METRIC_PREFIX + n for n in names),
            *unit_names,
        ],
    )
    writer.writeheader()
    for record, values, units in zip(records, logged, per_unit, strict=True):
        metric_cells = {METRIC_PREFIX + k: v for k, v in values.items()}
        writer.writerow({**csv_row(record), **metric_cells, **units})
    return out.getvalue()


def render_runs(report: RunsReport, width: int) -> str:
    """The runs as CSV (``report --format csv``)."""
    del width  # CSV is not laid out
    return to_csv(report.records)


LAB_FIGURES = (
    "runs",
    "energy_kwh",
    "emissions_kg",
    "measured_kwh",
    "estimated_kwh",
    "cpu_hours",
    "gpu_hours",
    "duration_s",
    *RANGE_COLUMNS,
    "unattributed_kwh",
)


def _lab_unit_cells(report: lab.LabReport) -> dict[tuple[str, ...] | None, dict[str, Any]]:
    """Each group's (None: the total's) ``per_unit:<unit>:<figure>`` cells."""
    out: dict[tuple[str, ...] | None, dict[str, Any]] = {}
    for group, units in ((True, report.units), (False, report.units_total)):
        for u in units:
            key = f"{UNIT_PREFIX}{u.unit}:"
            cells = out.setdefault(tuple(u.keys.values()) if group else None, {})
            cells[key + "count"] = u.count
            cells[key + "energy_kwh"] = u.energy_per_unit_j / J_PER_KWH
            cells[key + "emissions_kg"] = u.emissions_per_unit_kg
            cells[key + "sci_kg"] = "" if u.sci_kg is None else u.sci_kg
    return out


def render_lab(report: lab.LabReport, width: int) -> str:
    """One row per group, then the total (dimensions ``all``) and the unattributed rows; a
    group's figures per unit of work in ``per_unit:<unit>:<figure>`` columns."""
    del width
    out = io.StringIO()
    per_group = _lab_unit_cells(report)
    unit_names = list(dict.fromkeys(name for cells in per_group.values() for name in cells))
    writer = csv.DictWriter(
        out, fieldnames=[*report.by, *LAB_FIGURES, *unit_names], extrasaction="ignore"
    )
    writer.writeheader()
    for line in report.lines:
        units = per_group.get(tuple(line.keys.values()), {})
        writer.writerow({**line.keys, **lab.raw_figures(line), **units})
    if report.total is not None:
        writer.writerow(
            {
                **dict.fromkeys(report.by, lab.TOTAL_LABEL),
                **lab.raw_figures(report.total),
                **per_group.get(None, {}),
            }
        )
    for u in report.unattributed:
        keys = {d: u.keys.get(d, lab.UNATTRIBUTED_LABEL) for d in report.by}
        writer.writerow({**keys, "runs": 0, "unattributed_kwh": u.unattributed_kwh})
    return out.getvalue()
