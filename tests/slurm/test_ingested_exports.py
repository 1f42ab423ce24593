"""Every ingested job exports, whatever its components: a whole node's energy (SLURM's own
accounting of an exclusive job) is a CSV column of its own, never a crash."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from clihelp import cli
from fakesacct import PARTITIONS, cluster_jobs
from fakesacct import as_json as sacct_json

from impactlib.config import load_config
from impactlib.slurm.ingest import ingest
from impactlib.slurm.sacct import parse_json
from impactlib.store import open_store
from impactlib.store.slurmjobs import job_run_id


def test_an_exclusive_jobs_node_energy_is_exported_as_other(tmp_path: Path) -> None:
    path = str(tmp_path / "lab.db")
    store = open_store(path)
    config = load_config({"slurm_partitions": PARTITIONS, "country": "FR"})
    ingest(parse_json(sacct_json(cluster_jobs())), store, config)
    exclusive = store.get_run(job_run_id("hpc", "1004"))  # ConsumedEnergyRaw, whole node
    assert exclusive is not None and exclusive.footprint is not None
    assert {c.component for c in exclusive.footprint.components} == {"node"}
    result = cli("export", "--format", "csv", "--store", path)
    assert result.returncode == 0, result.stderr
    rows = {row["run_id"]: row for row in csv.DictReader(io.StringIO(result.stdout))}
    row = rows[exclusive.id]
    assert float(row["other_energy"]) == pytest.approx(exclusive.footprint.energy_kwh)
    assert (row["other_method"], row["other_quality"]) == ("slurm-exclusive", "measured")
    assert float(row["cpu_energy"]) == 0.0
