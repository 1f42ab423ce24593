"""The lab in a box: one scenario that crosses every feature, then every output checked
against the records and against each other.

On one fake host (powercap package and ``/proc`` driven by the test, see ``tests/fakelab.py``)
``impactlib serve`` runs as root; two unprivileged users measure jobs with ``impactlib run``
and with the Python API, each with and without the daemon, all at once; a SLURM job is
ingested from a fake ``sacct``; a CodeCarbon file is imported; every store is synced to one
PostgreSQL database (one of them twice). Then every output is read from that database: the
run summaries, ``report`` in every format, the lab report by user and month, the
dashboard's API, the daemon's Prometheus metrics and the GES 1point5 lab summary.

Each (invariant, output) pair is its own test, so a failure names the output that disagrees;
the invariants themselves are in ``tests/labchecks.py``.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterator

import pytest
from daemonhost import needs_root, public_dir
from fakelab import PACKAGE
from labbox import (
    CODECARBON,
    Lab,
    dashboard_totals,
    import_codecarbon,
    ingest_slurm,
    live_lab,
    new_database,
    read_outputs,
    sync,
)
from labchecks import CHECKS, pairs
from labview import LabView

from impactlib.store import open_store

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason=needs_root)


def _ids(store: str) -> list[str]:
    return [r.id for r in open_store(store).list_runs()]


def what_trackers_said(lab: Lab, live_ids: list[str]) -> tuple[dict[str, str], dict[str, float]]:
    """Each CLI run's summary and each API run's ``energy_consumption``, by run id."""
    summaries, api_kwh = {}, {}
    for tracked in lab.tracked:
        if tracked.interface == "cli":
            shown = re.search(r"run ([0-9a-f]{8}) ", tracked.stderr)
            assert shown, tracked.stderr
            run_id = next(i for i in live_ids if i.startswith(shown.group(1)))
            summaries[run_id] = tracked.stderr
        else:
            printed = json.loads(tracked.stdout)
            api_kwh[printed["run_id"]] = float(printed["energy_kwh"])
    return summaries, api_kwh


@pytest.fixture(scope="module")
def view(postgres_server: str) -> Iterator[LabView]:
    """The scenario, run once for every check of this module."""
    url = new_database(postgres_server)
    with public_dir() as folder, pytest.MonkeyPatch.context() as patch:
        # Built before the per-test private home exists: root's commands get one of their
        # own here, so no store, fallback store or configuration of this machine leaks in.
        root_home = folder / "home-root"
        for name, sub in (("HOME", ""), ("XDG_DATA_HOME", "data"), ("XDG_CONFIG_HOME", "config")):
            patch.setenv(name, str(root_home / sub))
        patch.setenv("XDG_CACHE_HOME", str(root_home / "cache"))
        for name in [n for n in os.environ if n.startswith(("IMPACTLIB_", "SLURM_"))]:
            patch.delenv(name)
        lab = live_lab(folder)
        for tracked in lab.tracked:
            assert tracked.returncode == 0, f"{tracked.label}: {tracked.stderr}"
        slurm_store, ingested = ingest_slurm(folder)
        assert ingested.returncode == 0, ingested.stderr
        cc_store, imported = import_codecarbon(folder)
        assert imported.returncode == 0, imported.stderr
        stores = [*lab.stores, slurm_store, cc_store, lab.user_stores[0]]  # one synced twice
        for store in stores:
            synced = sync(store, url)
            assert synced.returncode == 0, synced.stderr
        outputs = read_outputs(url)
        for name, result in outputs.items():
            assert result.returncode == 0, f"{name}: {result.stderr}"

        live_ids = [i for store in lab.user_stores for i in _ids(store)]
        summaries, api_kwh = what_trackers_said(lab, live_ids)
        slurm_ids = _ids(slurm_store)
        with CODECARBON.open(newline="") as fh:
            imported_ids = [row["run_id"] for row in csv.DictReader(fh)]
        yield LabView(
            records=open_store(url).list_runs(),
            expected_ids={*live_ids, *slurm_ids, *imported_ids},
            outputs={name: result.stdout for name, result in outputs.items()},
            dashboard=dashboard_totals(url),
            metrics_text=lab.metrics_text,
            metered_daemon_domains=frozenset({PACKAGE}),
            summaries=summaries,
            api_kwh=api_kwh,
            given={run_id: {"country": "FR"} for run_id in live_ids},
            country_given={*live_ids, *slurm_ids},  # by flag, init() and IMPACTLIB_COUNTRY
            slurm_jobs={run_id: "1005" for run_id in slurm_ids},
        )


def test_the_scenario_made_every_kind_of_run(view: LabView) -> None:
    """Four live runs (two users, CLI and API, with and without the daemon), one SLURM job,
    two CodeCarbon rows: the scenario crossed what it says it crossed."""
    methods = {
        c.method for r in view.records if r.footprint is not None for c in r.footprint.components
    }
    assert "daemon" in methods and any("model" in str(m) for m in methods), methods
    assert len(view.summaries) == 2 and len(view.api_kwh) == 2
    assert {r.user for r in view.records} >= {"nobody", "erin", "eve"}
    assert len(view.expected_ids) == 7


@pytest.mark.parametrize(("check", "output"), pairs(live=True), ids=lambda v: v.replace(" ", "-"))
def test_every_output_agrees(view: LabView, check: str, output: str) -> None:
    CHECKS[check](view, output)
