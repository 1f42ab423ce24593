"""Pieces shared by the commands: configuration from options, and the run summary."""

from __future__ import annotations

import re
import shutil
import textwrap
from collections.abc import Mapping
from typing import Any

from ..config import ARGUMENT, Config, load_config
from ..errors import ConfigError
from ..footprint import ComponentEnergy, FloorSource, Footprint, Quality


def config_from(**options: Any) -> Config:
    """Configuration with the command-line options as the highest-precedence layer; a bad
    option's message names the option as the user typed it. An ``IMPACTLIB_*`` variable
    that is no setting is one warning line (the shell's environment is not the command's
    input to refuse)."""
    from ..notices import warn_once

    given = {k: v for k, v in options.items() if v is not None}
    try:
        config = load_config(given)
    except ConfigError as exc:
        text = str(exc)
        for key in given:
            if text.startswith(f"{ARGUMENT}: ") and f"'{key}'" in text:
                flag = "--" + key.replace("_", "-")
                raise ConfigError(f"option {flag}: {text.removeprefix(ARGUMENT + ': ')}") from exc
        raise
    for line in config.unknown_variables:
        warn_once(line, line)
    if given.get("store"):
        _check_store_directory(str(given["store"]))
    return config


def _check_store_directory(store: str) -> None:
    """``--store`` in a directory that does not exist is a typo until shown otherwise:
    refused, naming the directory, rather than created with a new store in it."""
    from ..store import missing_directory

    folder = missing_directory(store)
    if folder is not None and folder.exists():
        raise ConfigError(f"option --store: {folder} is a file, not a directory; correct the path")
    if folder is not None:
        raise ConfigError(
            f"option --store: the directory {folder} does not exist; create it "
            f"(mkdir -p {folder}) or correct the path"
        )


def summary_lines(
    fp: Footprint,
    run_id: str,
    status: str,
    store: str,
    slurm: Mapping[str, Any] | None = None,
    model: Mapping[str, Any] | None = None,
) -> list[str]:
    """The human summary printed after a run (stderr, so the command's output stays clean).

    It renders the run's figures (:mod:`impactlib.report.figures`), so its energy, share
    measured and location read as ``impactlib report`` gives them, in the same units. Only
    a domain read by a meter says "of X measured"; a modelled one names its model and
    constants, since there was no measurement to be a share of. ``slurm``: the record's
    SLURM job (``config["slurm"]``), named on its own line, so a job's output file says
    which job the run was. ``model``: the record's ``model`` field, whose units of work and
    windows give the figures per unit.
    """
    from ..report.figures import (
        emissions_phrase,
        energy_text,
        footprint_amounts,
        intensity,
        location,
        quality_label,
        slurm_job,
        work_of,
    )
    from ..report.methods import short_id
    from ..report.perunit import unit_line, window_lines
    from ..units import (
        format_duration_s,
        format_mass_kg,
        format_number,
        format_share,
    )

    amounts = footprint_amounts(fp)
    lines = [
        f"impactlib: run {short_id(run_id)} {status} in {format_duration_s(amounts.duration_s)} "
        f"(scope {fp.charged_to}, idle policy {fp.idle_policy})"
    ]
    if (job := slurm_job(slurm)) is not None:
        lines.append(f"  {job.describe()}")
    width = max((len(c.domain) for c in fp.components), default=0)
    for component in fp.components:
        lines += _component_lines(component, width)
    share = amounts.metered_share
    # A model's energy is never called measured, not even "0 % measured".
    read = (
        f"{format_share(share)} measured"
        if share
        else quality_label(c.quality for c in fp.components)
    )
    klass = amounts.quality_class
    quality = f", quality {klass}" if klass is not None else ""
    lines.append(f"  energy {energy_text(amounts)}, PUE {fp.pue:g}, {read}{quality}")
    lines.append(f"  emissions {emissions_phrase(amounts)}")
    if fp.carbon is not None:
        where, priced = location(fp.carbon), intensity(fp.carbon)
        lines.append(
            f"  intensity {format_number(priced.g_per_kwh)} g/kWh, zone "
            f"{where.zone} ({where.located_by.label}), source {priced.source} "
            f"({priced.detail})"
        )
        if priced.fallback:
            lines.append(f"  fallback: {priced.fallback}")
    if amounts.embodied_kg is not None:
        lines.append(
            f"  embodied (separate, not in emissions): {format_mass_kg(amounts.embodied_kg)} CO2e"
        )
    work = work_of(fp, model)
    lines += [f"  {unit_line(unit)}" for unit in work.per_unit]
    lines += [f"  {line}" for window in work.windows for line in window_lines(window)]
    for warning in fp.warnings:
        lines.append(f"  note: {warning}")
    lines.append(f"  saved to {store}")
    return lines


# A number and the word after it, its unit ("187 mWh", "475 g/kWh", "12 W/core", "3 %"), and
# a unit and the "CO2e" that qualifies it: each pair is wrapped as one word.
_VALUE_AND_UNIT = re.compile(r"(?<![\w.])(-?\d[\d,]*(?:\.\d+)?) (?=[^\W\d]|%)| (?=CO2e\b)")
_GLUE = "\u00a0"  # textwrap breaks only at ASCII whitespace, so it holds a pair together


def wrap_lines(lines: list[str], width: int | None = None) -> list[str]:
    """``lines`` folded to the terminal's width (``COLUMNS``, else 80), each continuation
    indented under its line's text (after a ``note:`` or ``model:`` label), so a note reads
    as one block at 80 columns. Words are never cut: a path longer than the width stays
    whole, and a value stays on the line of its unit (the glue between them is a space
    again in what is printed)."""
    width = width or shutil.get_terminal_size().columns
    out: list[str] = []
    for line in lines:
        spaces = len(line) - len(line.lstrip(" "))
        label = re.match(r"[a-z]+: ", line[spaces:])
        indent = " " * (spaces + (label.end() if label else 4))
        glued = _VALUE_AND_UNIT.sub(lambda m: (m.group(1) or "") + _GLUE, line)
        folded = textwrap.wrap(
            glued,
            width,
            subsequent_indent=indent,
            break_long_words=False,
            break_on_hyphens=False,
        ) or [glued]
        out += [part.replace(_GLUE, " ") for part in folded]
    return out


def _component_lines(c: ComponentEnergy, width: int) -> list[str]:
    """One domain: its charged energy, how it was obtained and its idle floor; a model's
    constants follow on their own line."""
    from ..report.methods import model_constants
    from ..units import format_energy_j, format_power_w

    figure = f"{format_energy_j(c.energy_j):>10}"
    if c.quality.metered:
        figure += f" of {format_energy_j(c.domain_j)} measured"
    line = f"  {c.domain:<{width}}  {figure}  [{c.method}, {c.quality}]"
    if c.idle_floor_w > 0 or c.idle_floor_source is not FloorSource.OBSERVED:
        line += f"  idle floor {format_power_w(c.idle_floor_w)} ({c.idle_floor_source})"
    constants = model_constants(c.note) if c.quality is Quality.ESTIMATED else ""
    return [line, f"  {'':<{width}}  model: {constants}"] if constants else [line]
