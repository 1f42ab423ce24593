"""Files for a lab's GES 1point5 carbon inventory (docs/ges1point5.md says what to do with each).

- **Equipment** (``--format ges1point5-equipment``): the TSV GES 1point5's "matériel
  informatique" module imports, with exactly the header ``id	Modele	Fabricant	Type``: one
  row per server and per GPU that trackers or the daemon saw (types ``serveur`` and
  ``gpu puissant``), for their manufacturing emissions. Ids are derived from the host name
  and the GPU's UUID, so a file made next year names the same devices the same way. The
  manager's own inventory (same header) is merged in: its rows win for the ids it shares
  (it knows the maker and model of a server, which no tracker does) and its other rows are
  kept; every type must be one GES 1point5 knows.
- **Lab summary** (``--format lab-summary``): per year and site, kWh, CPU- and GPU-hours and
  kg CO2e with the factor and its source, measured and estimated kWh, on-site or off-site.
  On-site servers are already on the building's electricity meter, which GES 1point5's
  buildings module counts: their kWh must not be added there again. Off-site computing
  (computing centres, cloud) is what a research-infrastructure allocation by usage share
  needs. Sites come from an optional TOML file; without one every host is on-site, except
  runs priced in a cloud region.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import UsageError
from ..store.codecarbon import SOURCE as IMPORTED
from ..store.records import RunRecord
from ..units import j_to_kwh
from .figures import add_up, footprint_amounts

HEADER = ("id", "Modele", "Fabricant", "Type")
SERVER, GPU = "serveur", "gpu puissant"
# The types GES 1point5's import shows (as observed in the application), and the synonyms
# its documentation lists for them; output always uses the first form.
TYPES = (
    "pc fixe sans écran",
    "pc fixe tout-en-un",
    "pc portable",
    "écran",
    "videoprojecteur",
    "tablette",
    "smartphone",
    "imprimante",
    "téléphone ip",
    "station d'accueil",
    "clavier souris",
    "borne wifi",
    SERVER,
    "disque dur",
    GPU,
)
SYNONYMS = {
    **dict.fromkeys(
        ("pc fixe", "desktop", "pc", "fixe", "tour", "unité centrale", "station de travail"),
        "pc fixe sans écran",
    ),
    "workstation": "pc fixe sans écran",
    **dict.fromkeys(("laptop", "portable", "notebook"), "pc portable"),
    **dict.fromkeys(("monitor", "display", "screen"), "écran"),
    "vidéo projecteur": "videoprojecteur",
    "pad": "tablette",
    "mobile": "smartphone",
    "wifi hub": "borne wifi",
    "gpu": GPU,
    "server": SERVER,
    "clavier": "clavier souris",
    "souris": "clavier souris",
}
_MAKERS = {"nvidia": "NVIDIA", "amd": "AMD", "intel": "Intel"}  # as a GPU's name shows them


class Equipment(NamedTuple):
    """One row of the equipment TSV."""

    id: str
    model: str
    maker: str
    type: str


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.-]+", "-", text.lower()).strip("-")


def _maker(name: str) -> str:
    lowered = name.lower()
    return next((maker for key, maker in _MAKERS.items() if key in lowered), "")


def seen_equipment(records: Iterable[RunRecord], daemon_hosts: Iterable[str]) -> list[Equipment]:
    """Servers and GPUs of the runs (not imported ones: their host is not known) and the
    hosts the daemon measured."""
    servers: dict[str, str] = {host: "" for host in daemon_hosts}
    gpus: dict[str, Equipment] = {}
    for record in records:
        if record.config.get("source") == IMPORTED:
            continue
        system = record.config.get("system") or {}
        servers[record.host] = str(system.get("cpu_model") or servers.get(record.host, ""))
        names = list((system.get("gpus") or {}).keys())
        for c in record.footprint.components if record.footprint else ():
            if c.component == "gpu" and c.domain.startswith("gpu:"):
                uuid = c.domain.removeprefix("gpu:")
                name = names[0] if len(names) == 1 else ""
                gpus[uuid] = Equipment(f"impactlib-gpu-{_slug(uuid)}", name, _maker(name), GPU)
    rows = [
        Equipment(
            f"impactlib-serveur-{_slug(host)}",
            f"{host} ({cpu})" if cpu else host,
            "",
            SERVER,
        )
        for host, cpu in servers.items()
    ]
    return sorted(rows + list(gpus.values()))


def read_inventory(path: Path) -> list[Equipment]:
    """The manager's inventory TSV (header ``id	Modele	Fabricant	Type``); types checked."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"inventory {path}: cannot read it ({exc}); check the path") from exc
    rows = list(csv.reader(io.StringIO(text), delimiter="\t"))
    if not rows or tuple(c.strip() for c in rows[0]) != HEADER:
        raise UsageError(
            f"inventory {path}: the first line must be the header {' '.join(HEADER)} "
            "(tab-separated), as GES 1point5 imports it"
        )
    out = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        cells = [*(c.strip() for c in row), "", "", ""][:4]
        if not cells[0]:
            raise UsageError(f"inventory {path} line {line}: empty id; give every row an id")
        out.append(Equipment(cells[0], cells[1], cells[2], _type(cells[3], path, line)))
    return out


def _type(text: str, path: Path, line: int) -> str:
    lowered = text.strip().lower()
    if lowered in TYPES:
        return lowered
    if lowered in SYNONYMS:
        return SYNONYMS[lowered]
    raise UsageError(
        f"inventory {path} line {line}: unknown type '{text}'; use a GES 1point5 type: "
        + ", ".join(TYPES)
    )


def equipment_tsv(seen: Sequence[Equipment], inventory: Sequence[Equipment] = ()) -> str:
    """The TSV: inventory rows (they win for shared ids), then the devices only we saw."""
    listed = {row.id for row in inventory}
    rows = [*inventory, *(row for row in seen if row.id not in listed)]
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue()


# --- lab summary ---------------------------------------------------------------------------


class Site(NamedTuple):
    """A named place where computing ran, and whether the lab's building meter counts it."""

    name: str
    on_site: bool
    hosts: tuple[str, ...]  # shell patterns


LOCAL = Site("lab", True, ())


def read_sites(path: Path) -> list[Site]:
    """``[sites.NAME]`` tables with ``on_site`` (true/false) and ``hosts`` (patterns)."""
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"sites {path}: cannot read it ({exc}); give a TOML file") from exc
    return parse_sites(data, str(path))


def parse_sites(data: Mapping[str, Any], where: str) -> list[Site]:
    """Sites from parsed TOML; one clear error for a malformed table."""
    sites = []
    for name, table in (data.get("sites") or {}).items():
        hosts = table.get("hosts") if isinstance(table, Mapping) else None
        on_site = table.get("on_site") if isinstance(table, Mapping) else None
        if not isinstance(on_site, bool) or not isinstance(hosts, list):
            raise UsageError(
                f"sites {where}: [sites.{name}] needs on_site = true|false and hosts = "
                '["pattern", ...]'
            )
        sites.append(Site(str(name), on_site, tuple(str(h) for h in hosts)))
    return sites


def site_of(record: RunRecord, sites: Sequence[Site]) -> Site:
    """The first site whose patterns match the host; a cloud-priced run is off-site."""
    for site in sites:
        if any(fnmatch.fnmatchcase(record.host, pattern) for pattern in site.hosts):
            return site
    fp = record.footprint
    zone = fp.carbon.zone if fp and fp.carbon else ""
    if ":" in zone:
        return Site(f"cloud {zone.split(':')[0]}", False, ())
    return LOCAL


SUMMARY_COLUMNS = (
    "year",
    "site",
    "location",
    "runs",
    "kwh",
    "cpu_hours",
    "gpu_hours",
    "kg_co2e",
    "g_co2e_per_kwh",
    "factor_source",
    "measured_kwh",
    "estimated_kwh",
)


def lab_summary(records: Iterable[RunRecord], sites: Sequence[Site]) -> str:
    """CSV per (year the run started, site): see the module docstring."""
    groups: dict[tuple[str, Site], list[RunRecord]] = {}
    for record in records:
        if record.footprint is None:
            continue
        groups.setdefault((record.started_at[:4], site_of(record, sites)), []).append(record)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for (year, site), runs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1].name)):
        writer.writerow(_summary_row(year, site, runs))
    return out.getvalue()


def _summary_row(year: str, site: Site, runs: Sequence[RunRecord]) -> dict[str, Any]:
    """One year and site, from the figures every other output renders (``measured`` is the
    energy a meter read; modelled and imported energy count as estimated)."""
    fps = [r.footprint for r in runs if r.footprint is not None]
    amounts = add_up(footprint_amounts(fp) for fp in fps)
    kwh = j_to_kwh(amounts.energy_j)
    kg = amounts.emissions_kg
    measured = j_to_kwh(amounts.metered_j)
    sources = sorted(
        {
            f"{fp.carbon.source} {fp.carbon.zone} ({fp.carbon.detail})".replace(" ()", "")
            for fp in fps
            if fp.carbon is not None
        }
    )
    return {
        "year": year,
        "site": site.name,
        "location": "on-site" if site.on_site else "off-site",
        "runs": len(runs),
        "kwh": kwh,
        "cpu_hours": amounts.cpu_hours,
        "gpu_hours": amounts.gpu_hours,
        "kg_co2e": kg,
        "g_co2e_per_kwh": kg / kwh * 1000 if kwh else "",
        "factor_source": "; ".join(sources),
        "measured_kwh": measured,
        "estimated_kwh": kwh - measured,
    }
