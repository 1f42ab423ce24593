"""Synthetic run records shared by the report, PePR and HTML tests."""

from __future__ import annotations

from impactlib.footprint import CarbonInfo, ComponentEnergy, Footprint
from impactlib.report import grid
from impactlib.store.base import Store
from impactlib.store.records import RunRecord, SeriesRow


def make_record(
    run_id: str,
    project: str = "vision",
    cpu_j: float = 3.6e6,
    gpu_j: float = 7.2e6,
    pue: float = 1.5,
    g_per_kwh: float = 56.0,
    model: dict[str, object] | None = None,
) -> RunRecord:
    """A finished run: CPU (RAPL, attributed) + GPU (NVML, measured), priced in FR."""
    comps = (
        ComponentEnergy(
            "cpu:package-0", "cpu", "rapl", "machine", "attributed", cpu_j * 2, cpu_j, 0.0, cpu_j
        ),
        ComponentEnergy(
            "gpu:GPU-1234", "gpu", "nvml-energy", "device", "measured", gpu_j, gpu_j, 0.0, 0.0
        ),
    )
    kwh = (cpu_j + gpu_j) / 3.6e6 * pue
    fp = Footprint(
        run_id,
        "tree",
        "usage",
        "2026-03-01T10:00:00+00:00",
        "2026-03-01T12:00:00+00:00",
        7200.0,
        comps,
        pue,
        kwh * g_per_kwh / 1000,
        CarbonInfo("static", "FR", g_per_kwh, "OWID / Ember, year 2023", None, "configuration"),
        cpu_hours=4.0,
        gpu_hours=2.0,
        embodied_kg=0.0123,
        embodied_note="1 x GPU NVIDIA A100 (Luccioni et al. 2023)",
    )
    return RunRecord(
        run_id,
        project,
        "exp",
        "alice",
        "node1",
        42,
        "python train.py",
        "abc123",
        fp.started_at,
        fp.ended_at,
        fp.ended_at or "",
        "completed",
        config={"hardware": "1 x Intel Xeon Gold 6148, 1 x NVIDIA A100"},
        footprint=fp,
        model=model,
    )


def make_series(run_id: str, minutes: int = 30) -> list[SeriesRow]:
    rows = []
    for m in range(minutes):
        stamp = f"2026-03-01T10:{m:02d}:00+00:00"
        rows.append(SeriesRow(run_id, stamp, "cpu", 6000.0 + 100 * (m % 5)))
        rows.append(SeriesRow(run_id, stamp, "gpu", 12000.0 + 900 * (m % 7)))
        rows.append(SeriesRow(run_id, stamp, "dram", 600.0))
    return rows


MODEL = {
    "params": 11_700_000,
    "forward_flops": 3_640_000_000,
    "flops_convention": "FlopCounterMode: a multiply-add counts 2",
}


def sample() -> tuple[list[RunRecord], dict[str, list[SeriesRow]], grid.Grid]:
    records = [
        make_record("run-a", model=MODEL),
        make_record("run-b", project="nlp", cpu_j=1.8e6, gpu_j=0.0),
    ]
    series = {r.id: make_series(r.id) for r in records}
    g = grid.grid_from_mapping(
        {
            "method": "ResNet-18 fine-tuning",
            "performance": {"metric": "accuracy", "value": 0.91, "rating": "good"},
            "fairness": {"rating": "partial", "answer": "Evaluated per site | no personal data"},
            "need": "Replaces manual annotation",
        }
    )
    return records, series, g


def save_record(store: Store, record: RunRecord) -> RunRecord:
    """Put a synthetic record (its footprint and model metrics too) into a real store."""
    store.insert_run(record, 10.0)
    if record.footprint is not None:
        store.checkpoint(record.id, record.status, record.footprint, [], record.epochs)
    if record.model is not None:
        store.set_model(record.id, record.model)
    return record
