"""Jupyter and IPython: ``%load_ext impactlib``, ``%%impact`` and ``%impact_report``.

::

    %load_ext impactlib

    %%impact project=unet
    model.fit(x, y, epochs=3)        # the cell's footprint is printed when it ends

    %impact_report                   # the notebook session so far, and each measured cell

Loading the extension starts one run for the whole session (the kernel's process tree from
then on), configured like any tracker (``impactlib.toml``, ``IMPACTLIB_*``); it ends with
the kernel. Each ``%%impact`` cell is a run of its own, with ``key=value`` settings for
:func:`impactlib.init` on the magic's line; its footprint is printed, kept for the report
and left in the variable ``_impact``. A cell that raises stores its run as ``failed`` (or
``interrupted``) and the cell still ends in error, so "Run all" stops there as it would
without the magic. Needs IPython (``pip install 'impactlib[jupyter]'``).
"""

from __future__ import annotations

import shlex
from typing import Any, NamedTuple

from .._lifecycle import status_for
from ..api import init
from ..errors import ConfigError
from ..footprint import Footprint
from ..tracker import Tracker
from ..units import J_PER_KWH, format_duration_s, format_energy_j, format_mass_kg
from . import missing_extra

try:
    from IPython.core.error import UsageError as MagicUsageError
    from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
except ImportError as exc:
    raise missing_extra("Jupyter", "jupyter") from exc


class CellRun(NamedTuple):
    """One measured cell, for the session report."""

    execution_count: int
    first_line: str  # to recognise the cell in the report
    footprint: Footprint


class CellFailed(Exception):
    """Ends a measured cell that raised in error too; its traceback is already shown, so
    this one shows a single line (IPython's ``_render_traceback_`` protocol)."""

    def _render_traceback_(self) -> list[str]:
        return [f"impactlib: {self}"]


def describe(footprint: Footprint) -> str:
    """Duration, energy (PUE included), CO2e and how each component was obtained."""
    how = ", ".join(sorted({f"{c.component} {c.quality}" for c in footprint.components}))
    return (
        f"{format_duration_s(footprint.duration_s)}, "
        f"{format_energy_j(footprint.energy_kwh * J_PER_KWH)}, "
        f"{format_mass_kg(footprint.emissions_kg)} CO2e ({how or 'nothing measured'})"
    )


def settings(line: str) -> dict[str, str]:
    """``key=value`` words of a magic's line, for :func:`impactlib.init`."""
    out = {}
    for word in shlex.split(line):
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise MagicUsageError(
                f"%%impact takes settings as key=value (e.g. %%impact project=unet), got {word!r}"
            )
        out[key] = value
    return out


@magics_class
class ImpactMagics(Magics):
    """The magics, with the session's run and the cells measured in it."""

    def __init__(self, shell: Any, session: Tracker) -> None:
        super().__init__(shell)
        self.session = session
        self.cells: list[CellRun] = []

    @cell_magic
    def impact(self, line: str, cell: str) -> None:
        """Run the cell as a measured run of its own; print and keep its footprint."""
        shell = self.shell
        assert shell is not None  # magics are only ever registered on a shell
        try:
            tracker = init(**settings(line))
        except ConfigError as exc:
            raise MagicUsageError(str(exc)) from exc
        count = shell.displayhook.prompt_count  # the cell's In [n], in every IPython
        tracker.start()
        result = shell.run_cell(cell)
        error = result.error_before_exec or result.error_in_exec
        status = status_for(error)
        footprint = tracker.stop(status)
        if footprint is not None:
            first = next((text.strip() for text in cell.splitlines() if text.strip()), "")
            self.cells.append(CellRun(count, first, footprint))
            shell.user_ns["_impact"] = footprint
            print(f"impactlib: cell [{count}]: {describe(footprint)}")
        if error is not None:
            raise CellFailed(
                f"cell [{count}] raised {type(error).__name__} (above); "
                f"its run {tracker.run_id[:8]} is stored as {status}"
            )

    @line_magic
    def impact_report(self, line: str) -> None:
        """Print the session's footprint so far and each measured cell's."""
        footprint = self.session.footprint
        session = describe(footprint) if footprint is not None else "not measured here"
        print(f"impactlib: notebook session (run {self.session.run_id[:8]}): {session}")
        for cell in self.cells:
            print(f"  [{cell.execution_count}] {describe(cell.footprint)}: {cell.first_line}")
        if not self.cells:
            print("  no %%impact cell yet")


def load_ipython_extension(shell: Any) -> None:
    """``%load_ext impactlib``: start measuring the session and register the magics
    (loading it again keeps the session's run)."""
    if any(isinstance(m, ImpactMagics) for m in shell.magics_manager.registry.values()):
        return
    session = init()
    session.start()
    shell.register_magics(ImpactMagics(shell, session))
