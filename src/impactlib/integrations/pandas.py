"""pandas: ``impactlib.runs_dataframe(project=...)``, the stored runs as a DataFrame.

::

    df = impactlib.runs_dataframe(project="unet")
    df.groupby("experiment")[["energy_kwh", "emissions_kg"]].sum()

One row per run, oldest first, with the columns of ``impactlib report --format json`` that
are numbers or words (times parsed as UTC timestamps), the carbon zone and intensity, and
one ``energy_kwh_<component>`` column per component kind found (``cpu``, ``dram``,
``gpu``, ``memory``: PUE included, 0 where a run has none), so a notebook can group, plot
and compare runs without parsing records. pandas is imported when the function is called.
Needs ``pip install 'impactlib[pandas]'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import missing_extra

if TYPE_CHECKING:
    import pandas as pd

    from ..store.records import RunRecord

COLUMNS = (
    "id",
    "project",
    "experiment",
    "user",
    "host",
    "command",
    "git_commit",
    "status",
    "started_at",
    "ended_at",
    "duration_s",
    "energy_kwh",
    "emissions_kg",
    "pue",
    "scope",
    "idle_policy",
    "cpu_hours",
    "gpu_hours",
    "peak_memory_bytes",
    "embodied_kg",
    "zone",
    "intensity_g_per_kwh",
    "epochs",
)


def _row(record: RunRecord) -> dict[str, Any]:
    summary = record.summary()
    row = {name: summary.get(name) for name in COLUMNS}
    carbon = summary["carbon"] or {}
    row["zone"] = carbon.get("zone")
    row["intensity_g_per_kwh"] = carbon.get("mean_g_per_kwh")
    row["epochs"] = len(record.epochs)
    footprint = record.footprint
    if footprint is not None:
        for kind in {c.component for c in footprint.components}:
            row[f"energy_kwh_{kind}"] = footprint.component_kwh(kind)
    return row


def runs_dataframe(
    project: str | None = None, *, experiment: str | None = None, store: str | None = None
) -> pd.DataFrame:
    """The runs of ``project`` (all without it) in the configured store, or in ``store`` (a
    path or SQLAlchemy URL), one row each, with their components' energy."""
    try:
        import pandas as pd
    except ImportError as exc:
        raise missing_extra("pandas", "pandas") from exc
    from ..config import load_config
    from ..store import open_store, with_liveness

    db = open_store(store if store is not None else load_config({}))
    try:
        runs = db.list_runs(project=project, experiment=experiment)
        rows = [_row(with_liveness(r)) for r in runs]
    finally:
        db.close()
    kinds = sorted({key for row in rows for key in row if key.startswith("energy_kwh_")})
    frame = pd.DataFrame(rows, columns=[*COLUMNS, *kinds])
    frame[kinds] = frame[kinds].fillna(0.0)
    for name in ("started_at", "ended_at"):
        frame[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601")
    return frame
