"""The BoAmps format: one run, or one experiment's runs, as a Boavizta BoAmps energy report.

BoAmps (https://github.com/Boavizta/BoAmps, format 1.1.0, its ``model/*_schema.json``) is
the open report format Boavizta collects the energy of AI tasks in. A report describes one
task: its ``measures``, the ``infrastructure`` and ``environment`` it ran in, and a
``quality`` class. This module writes only the fields BoAmps defines, filled from the run
records; what a record does not know is left out, never guessed (the docs say which fields
the publisher completes). The mapping (docs/validation.md, "Exporting a BoAmps report"):

- ``measures``: one per component of each run: its charged energy in kWh *before PUE* (what
  the meter or model gave: BoAmps has no PUE field, the task description states it), the
  run's duration and start. ``measurementMethod`` names the tool, the method and the domain
  (``impactlib/rapl cpu:package-0``; an imported CodeCarbon figure is ``codecarbon cpu``,
  with CodeCarbon's version); CPU and GPU components fill ``cpuTrackingMode`` /
  ``gpuTrackingMode``. Where the idle floor came from the host power model (calibrated or
  learned), the calibration fields hold that idle power as energy over the run's duration.
  The measures add up to the runs' energy.
- ``infrastructure``: the machines the runs used as their records describe them (CPU model
  and logical CPUs, GPUs by model and count, memory), each machine counted once; a cloud
  zone makes it ``publicCloud``, anything else ``other`` (a record does not say whether a
  server is on premises).
- ``environment``: the country of the carbon zone and the intensity the runs were priced at
  (emissions / energy, g/kWh); one zone's country per report.
- ``quality``: BoAmps' class (high +-10 %, medium +-25 %, low wider) of the energy's range,
  from :mod:`impactlib.uncertainty`, summed over the runs by its documented rule.
- ``task``: the stage and family given (or ``training`` for runs that logged epochs,
  ``other`` otherwise; ``other`` family), the model's size when logged, and a description
  with the commands, durations, PUE and the intensity's source. BoAmps requires a dataset;
  the record knows none, so it is given as ``input``/``other`` for the publisher to complete.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .._time import now_utc, parse_utc, utc
from ..errors import UsageError
from ..footprint import Component, ComponentEnergy, FloorSource, Footprint, Method
from ..store.records import RunRecord
from ..uncertainty import footprint_range, quality_class
from ..units import J_PER_KWH
from .csvexport import place

FORMAT_VERSION = "1.1.0"  # BoAmps' RELEASENOTE.md, 2025-03-19: the schemas in the tests
SPECIFICATION_URI = (
    "https://github.com/Boavizta/BoAmps/tree/3bfefec8446ee196d1723c0e35859eb7762da3c9/model"
)
BYTES_PER_GB = 1e9  # BoAmps' memorySize is in Gbytes
# Idle floors measured on this host, not inferred from the run itself.
CALIBRATIONS = (FloorSource.CALIBRATED, FloorSource.LEARNED)
TRACKING_FIELDS = {Component.CPU: "cpuTrackingMode", Component.GPU: "gpuTrackingMode"}
BOAMPS_TYPES = {Component.DRAM: "ram", Component.MEMORY: "ram"}  # else the component word


@dataclass(frozen=True)
class Task:
    """What the publisher says of the task (None: derived from the records)."""

    stage: str | None = None
    family: str | None = None


def to_boamps(
    records: Sequence[RunRecord],
    task: Task | None = None,
    now: datetime | None = None,
    *,
    publisher: str | None = None,
) -> str:
    """The BoAmps report of ``records`` (one run, or an experiment's runs), as JSON text.

    Raises :class:`UsageError` for runs that cannot make one report: none, a run with no
    footprint yet, or runs priced in zones of different countries.
    """
    body = report(records, task, now, publisher=publisher)
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


def report(
    records: Sequence[RunRecord],
    task: Task | None = None,
    now: datetime | None = None,
    *,
    publisher: str | None = None,
) -> dict[str, Any]:
    """The report as a JSON-ready dictionary (see the module docstring for the mapping);
    ``publisher``: the organisation named in the header (the ``boamps_publisher`` setting)."""
    if not records:
        raise UsageError("no runs to export; `impactlib report` lists them")
    unfinished = [r.id for r in records if r.footprint is None]
    if unfinished:
        raise UsageError(
            f"run {unfinished[0]} has no footprint yet (killed before its first checkpoint?); "
            "export the others with --run"
        )
    footprints = [_footprint(r) for r in records]
    body: dict[str, Any] = {
        "header": _header(records, now, publisher),
        "task": _task(records, task or Task()),
        "measures": [m for r in records for m in _measures(r, _footprint(r))],
        "infrastructure": _infrastructure(records),
        "quality": _quality(footprints),
    }
    for key, value in (
        ("system", _shared(records, "os", "os")),
        ("software", _shared(records, "python", "version")),
        ("environment", _environment(records)),
    ):
        if value is not None:
            body[key] = value
    if "software" in body:
        body["software"] = {"language": "python", **body["software"]}
    return body


def _footprint(record: RunRecord) -> Footprint:
    assert record.footprint is not None  # checked by report()
    return record.footprint


def _header(
    records: Sequence[RunRecord], now: datetime | None, publisher: str | None
) -> dict[str, Any]:
    """The report's identity: one run's id, or a UUID derived from the experiment's runs
    (the same runs give the same id; another run added gives another). A publisher named
    is one publishing the report: ``public`` (BoAmps requires a confidentiality level)."""
    if len(records) == 1:
        report_id = records[0].id
    else:
        names = ",".join(sorted(r.id for r in records))
        report_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"impactlib:runs:{names}"))
    running = any(r.status == "running" for r in records)
    header: dict[str, Any] = {
        "formatVersion": FORMAT_VERSION,
        "formatVersionSpecificationUri": SPECIFICATION_URI,
        "reportId": report_id,
        "reportDatetime": _boamps_time(now or now_utc()),
        "reportStatus": "draft" if running else "final",
    }
    if publisher:
        header["publisher"] = {"name": publisher, "confidentialityLevel": "public"}
    return header


def _boamps_time(when: datetime) -> str:
    """BoAmps' ``YYYY-MM-DD HH:MM:SS`` (UTC: the records' time)."""
    return utc(when).strftime("%Y-%m-%d %H:%M:%S")


def _task(records: Sequence[RunRecord], task: Task) -> dict[str, Any]:
    trained = any(r.epochs for r in records)
    return {
        "taskStage": task.stage or ("training" if trained else "other"),
        "taskFamily": task.family or "other",
        "algorithms": _algorithms(records),
        # Required by BoAmps, unknown to a run record: the publisher completes it.
        "dataset": [{"dataUsage": "input", "dataType": "other"}],
        "taskDescription": " ".join(_description(r) for r in records),
    }


def _algorithms(records: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """One entry per distinct model size logged (``Tracker.log_model``), or one empty
    entry (BoAmps requires one; nothing is known of it)."""
    found: list[dict[str, Any]] = []
    for r in records:
        entry: dict[str, Any] = {}
        params = (r.model or {}).get("params")
        if isinstance(params, (int, float)) and not isinstance(params, bool):
            entry["parametersNumber"] = params / 1e9  # BoAmps counts billions
        if r.epochs:
            entry["epochsNumber"] = len(r.epochs)
        if entry not in found:
            found.append(entry)
    return [e for e in found if e] or [{}]


def _description(record: RunRecord) -> str:
    fp = _footprint(record)
    command = f"`{record.command}`" if record.command else "(command not recorded)"
    carbon = fp.carbon
    priced = (
        f"priced at {carbon.mean_g_per_kwh:.0f} gCO2e/kWh ({carbon.source}"
        f"{', ' + carbon.detail if carbon.detail else ''}; zone {carbon.zone})"
        if carbon is not None
        else "not priced"
    )
    return (
        f"impactlib run {record.id} on {record.host}: {command}, {fp.duration_s:.0f} s, "
        f"{record.status}; measures are before PUE {fp.pue:g} "
        f"({fp.energy_kwh:.6g} kWh with it); {priced}."
    )


def _measures(record: RunRecord, fp: Footprint) -> list[dict[str, Any]]:
    started = _boamps_time(parse_utc(fp.started_at))
    return [_measure(record, fp, c, started) for c in fp.components]


def _measure(record: RunRecord, fp: Footprint, c: ComponentEnergy, started: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if c.method is Method.CODECARBON:
        out["measurementMethod"] = f"codecarbon {c.component}"
        version = str(record.config.get("codecarbon_version") or "")
        if version:
            out["version"] = version
    else:
        out["measurementMethod"] = f"impactlib/{c.method} {c.domain}"
    tracking = TRACKING_FIELDS.get(c.component)
    if tracking is not None:
        out[tracking] = str(c.method)
    if c.idle_floor_source in CALIBRATIONS and c.idle_floor_w > 0 and fp.duration_s > 0:
        out["powerCalibrationMeasurement"] = c.idle_floor_w * fp.duration_s / J_PER_KWH
        out["durationCalibrationMeasurement"] = fp.duration_s
    out.update(
        powerConsumption=c.energy_j / J_PER_KWH,
        measurementDuration=fp.duration_s,
        measurementDateTime=started,
    )
    return out


def _quality(footprints: Sequence[Footprint]) -> str:
    """BoAmps' class of the runs' summed energy range (one run: its own class)."""
    ranges = [footprint_range(fp) for fp in footprints]
    if len(ranges) == 1:
        return str(ranges[0].quality_class)
    low = sum(r.energy_low_j for r in ranges)
    high = sum(r.energy_high_j for r in ranges)
    return str(quality_class(low, sum(r.energy_j for r in ranges), high))


def _infrastructure(records: Sequence[RunRecord]) -> dict[str, Any]:
    """Every machine the runs used, once each (the first run on a host describes it)."""
    per_host: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        per_host.setdefault(r.host, _hardware(r))
    totals: dict[tuple[Any, ...], dict[str, Any]] = {}
    for parts in per_host.values():
        for part in parts:
            key = tuple(sorted((k, v) for k, v in part.items() if k != "nbComponent"))
            if key in totals:
                totals[key]["nbComponent"] += part["nbComponent"]
            else:
                totals[key] = dict(part)
    out: dict[str, Any] = {"infraType": "other", "components": list(totals.values())}
    clouds = {place(fp.carbon.zone).cloud_provider for fp in map(_footprint, records) if fp.carbon}
    if len(clouds) == 1 and "" not in clouds:
        out["infraType"] = "publicCloud"
        out["cloudProvider"] = clouds.pop()
    return out


def _hardware(record: RunRecord) -> list[dict[str, Any]]:
    """The run's machine as its record describes it; for a record without that
    description, one entry per kind of component metered, counting its domains."""
    system = record.config.get("system")
    parts: list[dict[str, Any]] = []
    if isinstance(system, Mapping) and (system.get("cpu_model") or system.get("gpus")):
        if system.get("cpu_model"):
            cpu: dict[str, Any] = {"componentName": system["cpu_model"], "componentType": "cpu"}
            cpu["nbComponent"] = int(system.get("cpu_count") or 1)  # logical CPUs
            parts.append(cpu)
        for name, count in (system.get("gpus") or {}).items():
            parts.append({"componentName": name, "componentType": "gpu", "nbComponent": count})
        if system.get("ram_total_bytes"):
            ram = {"componentType": "ram", "nbComponent": 1}
            parts.append({**ram, "memorySize": system["ram_total_bytes"] / BYTES_PER_GB})
        return parts
    domains: dict[str, set[str]] = {}
    for c in _footprint(record).components:
        kind = BOAMPS_TYPES.get(c.component, str(c.component))
        domains.setdefault(kind, set()).add(c.domain)
    return [{"componentType": k, "nbComponent": len(v)} for k, v in domains.items()]


def _environment(records: Sequence[RunRecord]) -> dict[str, Any] | None:
    """The runs' country and mean intensity; None for runs never priced."""
    priced = [fp for fp in map(_footprint, records) if fp.carbon is not None]
    if not priced:
        return None
    countries = {_country(fp) for fp in priced}
    if len(countries) > 1:
        raise UsageError(
            f"these runs were priced in {' and '.join(sorted(countries))}; a BoAmps report "
            "has one environment: export them one by one with --run"
        )
    out: dict[str, Any] = {"country": countries.pop()}
    regions = {_region(fp) for fp in priced}
    if len(regions) == 1 and "" not in regions:  # a part of the country: US-CA, SE3...
        out["location"] = regions.pop()
    energy_kwh = sum(fp.energy_kwh for fp in priced)
    if energy_kwh > 0:
        out["powerSourceCarbonIntensity"] = sum(fp.emissions_kg for fp in priced) * 1e3 / energy_kwh
    return out


def _country(fp: Footprint) -> str:
    """The country of the zone a run was priced in (its ISO name; the zone itself where it
    names no country, such as the world average)."""
    assert fp.carbon is not None
    return place(fp.carbon.zone).country_name or fp.carbon.zone


def _region(fp: Footprint) -> str:
    assert fp.carbon is not None
    where = place(fp.carbon.zone)
    return where.region or where.cloud_region


def _shared(records: Sequence[RunRecord], key: str, field: str) -> dict[str, Any] | None:
    """``{field: value}`` of the machines' ``key`` when every run's record says the same."""
    values = set()
    for r in records:
        system = r.config.get("system")
        values.add(str(system.get(key) or "") if isinstance(system, Mapping) else "")
    if len(values) != 1 or "" in values:
        return None
    return {field: values.pop()}
