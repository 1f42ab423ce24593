"""Read CodeCarbon's ``emissions.csv`` (2.x and 3.x columns) as run records.

Some teams already log with CodeCarbon; their runs belong in the lab's totals. Each row
becomes a finished run with CodeCarbon's own figures, unchanged: its energy (kWh, PUE
included) split into CPU, GPU and RAM as CodeCarbon split it, and its emissions (kg). What
CodeCarbon recorded about its method (version, tracking mode, the machine) is kept in the
record's config and in each component's note. CodeCarbon's file does not say whether a
figure was read from RAPL/NVML or modelled from a TDP, so imported energy has its own
quality, *imported*: a lab report must not call it measured on a guess.

A row is keyed by CodeCarbon's ``run_id``, so importing a file twice, or a file that
CodeCarbon appended to since, stores each run once (a later row of the same run, written by
a flush or a stop after it, replaces the earlier one: CodeCarbon's figures are cumulative).
CodeCarbon writes its ``timestamp`` (the end of the run) in the local time of the machine
that ran it, without an offset; it is read as local time here, which is right when the
import runs where the file was written (``--utc`` says otherwise). Every file is read and
checked before anything is written, so a bad file leaves the store as it was.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .._time import UTC, iso_utc
from ..errors import UsageError
from ..footprint import (
    CarbonInfo,
    ChargedTo,
    Component,
    ComponentEnergy,
    Extent,
    FloorSource,
    Footprint,
    LocatedBy,
    Method,
    Quality,
    Status,
)
from ..uncertainty import with_ranges
from ..units import J_PER_KWH
from .records import RunRecord

REQUIRED = ("timestamp", "project_name", "run_id", "duration", "emissions", "energy_consumed")
# CodeCarbon's split of energy_consumed: its column -> our component kind.
PARTS = {"cpu_energy": Component.CPU, "gpu_energy": Component.GPU, "ram_energy": Component.MEMORY}
METHOD = Method.CODECARBON
SOURCE = "imported from CodeCarbon"
_BYTES_PER_GIB = 1024**3


def read_files(
    paths: Sequence[Path], user: str, host: str, utc_stamps: bool = False
) -> list[RunRecord]:
    """Every row of every file as a record (the last row of a ``run_id`` wins)."""
    records: dict[str, RunRecord] = {}
    for path in paths:
        for record in _read_file(path, user, host, utc_stamps):
            records[record.id] = record
    return list(records.values())


def _read_file(path: Path, user: str, host: str, utc_stamps: bool) -> list[RunRecord]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in REQUIRED if c not in (reader.fieldnames or ())]
            if missing:
                raise UsageError(
                    f"{path}: not a CodeCarbon emissions.csv: missing column(s) "
                    f"{', '.join(missing)}; give the emissions.csv CodeCarbon 2.x or 3.x wrote"
                )
            return [
                _record(row, path, line, user, host, utc_stamps)
                for line, row in enumerate(reader, start=2)
            ]
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it ({exc.strerror}); check the path") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(
            f"{path}: not a CSV file ({exc}); give CodeCarbon's emissions.csv"
        ) from exc


def _number(row: Mapping[str, str | None], column: str, where: str, default: float = 0.0) -> float:
    text = (row.get(column) or "").strip()
    if not text:
        return default
    try:
        return float(text)
    except ValueError as exc:
        raise UsageError(
            f"{where}: {column} {text!r} is not a number; correct or remove that row"
        ) from exc


def _end(text: str, where: str, utc_stamps: bool) -> datetime:
    try:
        stamp = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise UsageError(
            f"{where}: timestamp {text!r} is not a date; correct or remove that row"
        ) from exc
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC) if utc_stamps else stamp.astimezone()
    return stamp.astimezone(UTC)


def _record(
    row: Mapping[str, str | None], path: Path, line: int, user: str, host: str, utc_stamps: bool
) -> RunRecord:
    where = f"{path} line {line}"
    run_id = (row.get("run_id") or "").strip()
    if not run_id:
        raise UsageError(f"{where}: empty run_id; correct or remove that row")
    duration = _number(row, "duration", where)
    ended = _end(row.get("timestamp") or "", where, utc_stamps)
    started = ended - timedelta(seconds=duration)
    version = (row.get("codecarbon_version") or "").strip()
    mode = (row.get("tracking_mode") or "").strip() or "machine"
    fp = _footprint(row, where, run_id, iso_utc(started), iso_utc(ended), duration)
    return RunRecord(
        id=run_id,
        project=(row.get("project_name") or "").strip() or "default",
        experiment=(row.get("experiment_id") or "").strip(),
        user=user,
        host=host,
        pid=0,
        command="",
        git_commit=None,
        started_at=fp.started_at,
        ended_at=fp.ended_at,
        updated_at=fp.ended_at or fp.started_at,
        status=Status.COMPLETED,
        config={
            "source": SOURCE,
            "file": str(path),
            "codecarbon_version": version,
            "tracking_mode": mode,
            "system": _system(row),
        },
        footprint=fp,
    )


def _footprint(
    row: Mapping[str, str | None],
    where: str,
    run_id: str,
    started: str,
    ended: str,
    duration: float,
) -> Footprint:
    pue = _number(row, "pue", where, default=1.0) or 1.0
    total_kwh = _number(row, "energy_consumed", where)
    version = (row.get("codecarbon_version") or "").strip() or "(version not recorded)"
    mode = (row.get("tracking_mode") or "").strip() or "machine"
    note = (
        f"{SOURCE} {version}, {mode} tracking mode; CodeCarbon does not record whether it "
        "measured or modelled this energy"
    )
    parts = {kind: _number(row, column, where) for column, kind in PARTS.items()}
    rest = total_kwh - sum(parts.values())
    if abs(rest) > 1e-9 * max(abs(total_kwh), 1e-12):
        parts[Component.OTHER] = rest  # energy CodeCarbon counted but did not split
    components = tuple(_component(kind, kwh, pue, note) for kind, kwh in parts.items() if kwh != 0)
    emissions = _number(row, "emissions", where)
    zone = (row.get("country_iso_code") or "").strip() or (row.get("region") or "").strip()
    cloud = (row.get("cloud_provider") or "").strip()
    if cloud:
        zone = f"{cloud}:{(row.get('cloud_region') or '').strip()}"
    carbon = CarbonInfo(
        source=METHOD,
        zone=zone,
        mean_g_per_kwh=emissions / total_kwh * 1000 if total_kwh else 0.0,
        detail=f"intensity as CodeCarbon {version} applied it",
        located_by=LocatedBy.IMPORTED,
        located_detail="CodeCarbon",
    )
    footprint = Footprint(
        run_id=run_id,
        charged_to=ChargedTo.MACHINE if mode == "machine" else ChargedTo.PROCESS,
        idle_policy="none",
        started_at=started,
        ended_at=ended,
        duration_s=duration,
        components=components,
        pue=pue,
        emissions_kg=emissions,
        carbon=carbon,
        warnings=(note,),
    )
    # CodeCarbon's figures get its published disagreement (about 2x RAPL tools) as range.
    return with_ranges(footprint)


def _component(kind: Component, kwh: float, pue: float, note: str) -> ComponentEnergy:
    joules = kwh / pue * J_PER_KWH  # our components are before PUE; CodeCarbon's include it
    return ComponentEnergy(
        domain=f"{METHOD}:{kind}",
        component=kind,
        method=METHOD,
        extent=Extent.MACHINE,  # CodeCarbon reads or models the machine, then shares it
        quality=Quality.IMPORTED,
        domain_j=joules,
        dynamic_j=joules,
        idle_j=0.0,
        unattributed_j=0.0,
        note=note,
        idle_floor_source=FloorSource.MODEL,
    )


def _system(row: Mapping[str, str | None]) -> dict[str, Any]:
    """The machine as CodeCarbon described it, in the shape the CSV export reads."""
    gpu_model = (row.get("gpu_model") or "").strip()
    gpu_count = _optional(row, "gpu_count")
    ram_gib = _optional(row, "ram_total_size")
    cpu_count = _optional(row, "cpu_count")
    system: dict[str, Any] = {
        "os": (row.get("os") or "").strip(),
        "python": (row.get("python_version") or "").strip(),
        "cpu_model": (row.get("cpu_model") or "").strip(),
        "gpus": {gpu_model: int(gpu_count)} if gpu_model and gpu_count else {},
    }
    if cpu_count is not None:
        system["cpu_count"] = int(cpu_count)
    if ram_gib is not None:
        system["ram_total_bytes"] = int(ram_gib * _BYTES_PER_GIB)
    return system


def _optional(row: Mapping[str, str | None], column: str) -> float | None:
    """A descriptive number, or None when absent or unreadable (it is not a figure)."""
    try:
        return float((row.get(column) or "").strip())
    except ValueError:
        return None
