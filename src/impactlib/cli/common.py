"""Pieces shared by the commands: configuration from options, and the run summary."""

from __future__ import annotations

from typing import Any

from ..config import Config, load_config
from ..footprint import Footprint


def config_from(**options: Any) -> Config:
    """Configuration with the command-line options as the highest-precedence layer."""
    return load_config({k: v for k, v in options.items() if v is not None})


def summary_lines(fp: Footprint, run_id: str, status: str, store: str) -> list[str]:
    """The human summary printed after a run (stderr, so the command's output stays clean)."""
    lines = [
        f"impactlib: run {run_id[:12]} {status} in {fp.duration_s:.1f} s "
        f"(scope {fp.scope}, idle policy {fp.idle_policy})"
    ]
    for c in fp.components:
        lines.append(
            f"  {c.domain:<28} {c.energy_j / 3.6e3:10.4f} Wh  of {c.measured_j / 3.6e3:10.4f} Wh"
            f" measured  [{c.method}, {c.quality}]"
        )
    lines.append(
        f"  energy {fp.energy_kwh * 1000:.4f} Wh (PUE {fp.pue:g})  "
        f"emissions {fp.emissions_kg * 1000:.4f} g CO2e"
    )
    if fp.carbon is not None:
        lines.append(
            f"  intensity {fp.carbon.mean_g_per_kwh:.1f} g/kWh, zone {fp.carbon.zone}, "
            f"source {fp.carbon.source} ({fp.carbon.detail})"
        )
        if fp.carbon.fallback:
            lines.append(f"  fallback: {fp.carbon.fallback}")
    if fp.embodied_kg is not None:
        lines.append(f"  embodied (separate): {fp.embodied_kg * 1000:.4f} g CO2e")
    for warning in fp.warnings:
        lines.append(f"  note: {warning}")
    lines.append(f"  saved to {store}")
    return lines
