"""Pieces shared by the commands: configuration from options, and the run summary."""

from __future__ import annotations

import re
import shutil
import textwrap
from typing import Any

from ..config import ARGUMENT, Config, load_config
from ..errors import ConfigError
from ..footprint import ComponentEnergy, Footprint


def config_from(**options: Any) -> Config:
    """Configuration with the command-line options as the highest-precedence layer; a bad
    option's message names the option as the user typed it."""
    given = {k: v for k, v in options.items() if v is not None}
    try:
        return load_config(given)
    except ConfigError as exc:
        text = str(exc)
        for key in given:
            if text.startswith(f"{ARGUMENT}: ") and f"'{key}'" in text:
                flag = "--" + key.replace("_", "-")
                raise ConfigError(f"option {flag}: {text.removeprefix(ARGUMENT + ': ')}") from exc
        raise


def summary_lines(fp: Footprint, run_id: str, status: str, store: str) -> list[str]:
    """The human summary printed after a run (stderr, so the command's output stays clean).

    Figures use the same units as ``impactlib report`` (chosen by magnitude). Only a domain
    read by a meter says "of X measured"; a modelled one names its model and constants,
    since there was no measurement to be a share of.
    """
    from ..report.methods import short_id
    from ..units import format_duration_s, format_energy_j, format_mass_kg, format_number

    lines = [
        f"impactlib: run {short_id(run_id)} {status} in {format_duration_s(fp.duration_s)} "
        f"(scope {fp.scope}, idle policy {fp.idle_policy})"
    ]
    width = max((len(c.domain) for c in fp.components), default=0)
    for component in fp.components:
        lines += _component_lines(component, width)
    lines.append(
        f"  energy {format_energy_j(fp.energy_j * fp.pue)} (PUE {fp.pue:g})  "
        f"emissions {format_mass_kg(fp.emissions_kg)} CO2e"
    )
    if fp.carbon is not None:
        lines.append(
            f"  intensity {format_number(fp.carbon.mean_g_per_kwh)} g/kWh, zone "
            f"{fp.carbon.zone}, source {fp.carbon.source} ({fp.carbon.detail})"
        )
        if fp.carbon.fallback:
            lines.append(f"  fallback: {fp.carbon.fallback}")
    if fp.embodied_kg is not None:
        lines.append(
            f"  embodied (separate, not in emissions): {format_mass_kg(fp.embodied_kg)} CO2e"
        )
    for warning in fp.warnings:
        lines.append(f"  note: {warning}")
    lines.append(f"  saved to {store}")
    return lines


def wrap_lines(lines: list[str], width: int | None = None) -> list[str]:
    """``lines`` folded to the terminal's width (``COLUMNS``, else 80), each continuation
    indented under its line's text (after a ``note:`` or ``model:`` label), so a note reads
    as one block at 80 columns. Words are never cut: a path longer than the width stays
    whole."""
    width = width or shutil.get_terminal_size().columns
    out: list[str] = []
    for line in lines:
        spaces = len(line) - len(line.lstrip(" "))
        label = re.match(r"[a-z]+: ", line[spaces:])
        indent = " " * (spaces + (label.end() if label else 4))
        out += textwrap.wrap(
            line,
            width,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        ) or [line]
    return out


def _component_lines(c: ComponentEnergy, width: int) -> list[str]:
    """One domain: its charged energy, how it was obtained and its idle floor; a model's
    constants follow on their own line."""
    from ..report.methods import model_constants
    from ..units import format_energy_j, format_power_w

    figure = f"{format_energy_j(c.energy_j):>10}"
    if c.quality != "estimated":
        figure += f" of {format_energy_j(c.measured_j)} measured"
    line = f"  {c.domain:<{width}}  {figure}  [{c.method}, {c.quality}]"
    if c.idle_floor_w > 0 or c.idle_floor_source != "observed":
        line += f"  idle floor {format_power_w(c.idle_floor_w)} ({c.idle_floor_source})"
    constants = model_constants(c.note) if c.quality == "estimated" else ""
    return [line, f"  {'':<{width}}  model: {constants}"] if constants else [line]
