"""CSV and JSON exports of run records.

CSV columns start with CodeCarbon's names (same meaning and units: seconds, kg, W, kWh) so
existing spreadsheets and scripts keep working; impactlib's own columns follow, carrying
what CodeCarbon's rows lack: status, user, host, scope, method and quality per component.
"""

from __future__ import annotations

import csv
import io
import json
import platform
from collections.abc import Sequence
from typing import Any

from ..store.records import RunRecord

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
    "country_name",
    "country_iso_code",
    "region",
    "on_cloud",
    "cloud_provider",
    "cloud_region",
    "os",
    "python_version",
    "cpu_count",
    "cpu_model",
    "gpu_count",
    "gpu_model",
    "ram_total_size",
    "tracking_mode",
    "pue",
)

OUR_COLUMNS = (
    "status",
    "user",
    "host",
    "command",
    "git_commit",
    "started_at",
    "ended_at",
    "scope",
    "idle_policy",
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
    "cpu_hours",
    "gpu_hours",
    "peak_memory_bytes",
    "embodied_kg",
    "warnings",
)


def _kind(component: str) -> str:
    return "ram" if component in ("dram", "memory") else component


def csv_row(record: RunRecord) -> dict[str, Any]:
    """One CSV row for a run."""
    fp = record.footprint
    row: dict[str, Any] = dict.fromkeys(CODECARBON_COLUMNS + OUR_COLUMNS, "")
    row.update(
        timestamp=record.ended_at or record.updated_at,
        project_name=record.project,
        run_id=record.id,
        experiment_id=record.experiment,
        os=platform.platform(),
        python_version=platform.python_version(),
        status=record.status,
        user=record.user,
        host=record.host,
        command=record.command,
        git_commit=record.git_commit or "",
        started_at=record.started_at,
        ended_at=record.ended_at or "",
    )
    if fp is None:
        return row
    energy: dict[str, float] = {"cpu": 0.0, "gpu": 0.0, "ram": 0.0}
    methods: dict[str, set[str]] = {"cpu": set(), "gpu": set(), "ram": set()}
    qualities: dict[str, set[str]] = {"cpu": set(), "gpu": set(), "ram": set()}
    for c in fp.components:
        kind = _kind(c.component)
        energy[kind] += c.energy_j / 3.6e6 * fp.pue
        methods[kind].add(c.method)
        qualities[kind].add(c.quality)
    duration = fp.duration_s or 0.0
    for kind in ("cpu", "gpu", "ram"):
        row[f"{kind}_energy"] = energy[kind]
        row[f"{kind}_power"] = energy[kind] * 3.6e6 / duration if duration else 0.0
        row[f"{kind}_method"] = "+".join(sorted(methods[kind]))
        row[f"{kind}_quality"] = "+".join(sorted(qualities[kind]))
    row.update(
        duration=duration,
        emissions=fp.emissions_kg,
        emissions_rate=fp.emissions_kg / duration if duration else 0.0,
        energy_consumed=fp.energy_kwh,
        gpu_count=sum(1 for c in fp.components if c.component == "gpu"),
        tracking_mode="machine" if fp.scope == "machine" else "process",
        pue=fp.pue,
        scope=fp.scope,
        idle_policy=fp.idle_policy,
        cpu_hours=fp.cpu_hours,
        gpu_hours=fp.gpu_hours,
        peak_memory_bytes=fp.peak_memory_bytes,
        embodied_kg="" if fp.embodied_kg is None else fp.embodied_kg,
        warnings=" | ".join(fp.warnings),
    )
    if fp.carbon is not None:
        row.update(
            country_iso_code=fp.carbon.zone,
            intensity_source=fp.carbon.source,
            intensity_zone=fp.carbon.zone,
            intensity_g_per_kwh=fp.carbon.mean_g_per_kwh,
            intensity_detail=fp.carbon.detail,
            intensity_fallback=fp.carbon.fallback or "",
            located_by=fp.carbon.located_by,
        )
    return row


def to_csv(records: Sequence[RunRecord]) -> str:
    """All runs as CSV text."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(CODECARBON_COLUMNS + OUR_COLUMNS))
    writer.writeheader()
    for record in records:
        writer.writerow(csv_row(record))
    return out.getvalue()


def to_json(records: Sequence[RunRecord]) -> str:
    """All runs as a JSON list of summaries (``impactlib report --format json``)."""
    return json.dumps([r.summary() for r in records], indent=2, default=str)
