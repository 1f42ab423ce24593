"""`impactlib export --format ges1point5-equipment | lab-summary`: GES 1point5's exact
header, only its types, stable ids, the manager's inventory merged; bad inventories refused."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

import pytest
from clihelp import assert_one_line_error, cli
from sample_runs import make_record, save_record

from impactlib.report.ges1point5 import TYPES
from impactlib.store import open_store


def _store(tmp_path: Path) -> Path:
    path = tmp_path / "lab.db"
    if path.exists():
        return path
    store = open_store(str(path))
    system = {"cpu_model": "Intel Xeon Gold 6148", "gpus": {"NVIDIA A100": 1}}
    for i, host in enumerate(("node1", "node2", "jz-r1i1")):
        record = make_record(f"run-{i}")
        save_record(store, replace(record, host=host, config={"system": system}))
    return path


def _export(tmp_path: Path, *args: str) -> list[list[str]]:
    result = cli("export", "--store", str(_store(tmp_path)), *args)
    assert result.returncode == 0, result.stderr
    return list(csv.reader(io.StringIO(result.stdout), delimiter="\t"))


def test_equipment_tsv_header_types_and_stable_ids(tmp_path: Path) -> None:
    rows = _export(tmp_path, "--format", "ges1point5-equipment")
    assert rows[0] == ["id", "Modele", "Fabricant", "Type"]
    assert {r[3] for r in rows[1:]} == {"serveur", "gpu puissant"}
    assert all(r[3] in TYPES for r in rows[1:])
    ids = [r[0] for r in rows[1:]]
    assert "impactlib-serveur-node1" in ids and "impactlib-gpu-gpu-1234" in ids
    gpu = next(r for r in rows if r[0] == "impactlib-gpu-gpu-1234")
    assert gpu[1:] == ["NVIDIA A100", "NVIDIA", "gpu puissant"]
    again = _export(tmp_path, "-f", "ges1point5-equipment")
    assert again == rows


def test_inventory_is_merged_and_wins_for_its_ids(tmp_path: Path) -> None:
    inventory = tmp_path / "inventaire.tsv"
    inventory.write_text(
        "id\tModele\tFabricant\tType\n"
        "impactlib-serveur-node1\tPowerEdge R740\tDell\tServeur\n"
        "cnrs_89\txps 9365\tdell\tlaptop\n",
        encoding="utf-8",
    )
    out = tmp_path / "equipment.tsv"
    cli(
        "export",
        "--store",
        str(_store(tmp_path)),
        "-f",
        "ges1point5-equipment",
        "--inventory",
        str(inventory),
        "-o",
        str(out),
    )
    rows = list(csv.reader(out.open(encoding="utf-8"), delimiter="\t"))
    assert ["impactlib-serveur-node1", "PowerEdge R740", "Dell", "serveur"] in rows
    assert ["cnrs_89", "xps 9365", "dell", "pc portable"] in rows  # synonym -> its type
    assert sum(r[0] == "impactlib-serveur-node1" for r in rows) == 1


def test_inventory_with_an_unknown_type_is_refused_and_nothing_written(tmp_path: Path) -> None:
    inventory = tmp_path / "inventaire.tsv"
    inventory.write_text("id\tModele\tFabricant\tType\nx1\tfoo\tbar\tgrille-pain\n")
    out = tmp_path / "equipment.tsv"
    result = cli(
        "export",
        "--store",
        str(_store(tmp_path)),
        "-f",
        "ges1point5-equipment",
        "--inventory",
        str(inventory),
        "-o",
        str(out),
    )
    assert_one_line_error(result, "line 2", "unknown type 'grille-pain'", "serveur")
    assert not out.exists()


def test_lab_summary_per_site_and_year_on_and_off_site(tmp_path: Path) -> None:
    sites = tmp_path / "sites.toml"
    sites.write_text('[sites.jean-zay]\non_site = false\nhosts = ["jz-*"]\n')
    result = cli(
        "export", "--store", str(_store(tmp_path)), "-f", "lab-summary", "--sites", str(sites)
    )
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    by_site = {r["site"]: r for r in rows}
    assert by_site["lab"]["location"] == "on-site" and by_site["lab"]["runs"] == "2"
    assert by_site["jean-zay"]["location"] == "off-site" and by_site["jean-zay"]["year"] == "2026"
    record = make_record("x")
    assert float(by_site["lab"]["kwh"]) == 2 * record.footprint.energy_kwh  # type: ignore[union-attr]
    assert float(by_site["lab"]["g_co2e_per_kwh"]) == 56.0
    assert "static FR" in by_site["lab"]["factor_source"]
    assert float(by_site["lab"]["measured_kwh"]) == float(by_site["lab"]["kwh"])


def test_lab_summary_counts_imported_and_modelled_energy_as_estimated(tmp_path: Path) -> None:
    """Only energy a meter read is ``measured_kwh``: a CodeCarbon import (quality
    ``imported``) and a TDP model (``estimated``) are not, whatever their method says."""
    store_path = tmp_path / "lab.db"
    store = open_store(str(store_path))
    metered = make_record("metered")
    assert metered.footprint is not None
    parts = []
    for quality in ("imported", "estimated"):
        comps = tuple(replace(c, quality=quality) for c in metered.footprint.components)
        fp = replace(metered.footprint, run_id=quality, components=comps)
        parts.append(replace(metered, id=quality, footprint=fp))
    for record in (metered, *parts):
        save_record(store, record)
    result = cli("export", "--store", str(store_path), "-f", "lab-summary")
    assert result.returncode == 0, result.stderr
    (row,) = list(csv.DictReader(io.StringIO(result.stdout)))
    assert float(row["kwh"]) == pytest.approx(3 * metered.footprint.energy_kwh, rel=1e-12)
    assert float(row["measured_kwh"]) == pytest.approx(metered.footprint.energy_kwh, rel=1e-12)
    assert float(row["estimated_kwh"]) == pytest.approx(2 * metered.footprint.energy_kwh, rel=1e-12)
