"""The output formats of ``impactlib report``: one module each, one line each here.

A format is a module of :mod:`impactlib.report` with two functions, one for a report of runs
and one for a lab report (``report --by``). Both get figures already computed
(:mod:`.figures`, :mod:`.lab`) and only lay them out, so every format shows the same numbers.
``width`` is the number of columns the text is laid out for; only the terminal table uses it.

Adding a format is one module (``render_runs``, ``render_lab``) and one line in
:data:`FORMATS` (see docs/design.md, "Adding an output format"). The modules are imported
when a format is asked for, so that every other command starts without them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .lab import LabReport
    from .runs import RunsReport


@runtime_checkable
class Renderer(Protocol):
    """What a format module provides."""

    def render_runs(self, report: RunsReport, width: int) -> str:
        """A report of runs (with its grid, or its waste lines, where the format has them)."""
        ...

    def render_lab(self, report: LabReport, width: int) -> str:
        """A lab report: totals by the ``--by`` dimensions, and the unattributed energy."""
        ...


# The registry: a format's name -> its module in impactlib.report.
FORMATS = {
    "table": "table",
    "json": "jsonexport",
    "csv": "csvexport",
    "markdown": "markdown",
    "latex": "latex",
    "html": "html",
}
PAPER_FORMATS = ("markdown", "latex", "html")  # the formats a --grid goes into
WASTE_FORMATS = ("table", "json")  # the formats a --waste report is shown in


def renderer(name: str) -> Renderer:
    """The module that renders format ``name`` (one of :data:`FORMATS`)."""
    module = importlib.import_module(f"{__package__}.{FORMATS[name]}")
    if not isinstance(module, Renderer):
        raise TypeError(f"report format {name!r}: {module.__name__} is not a Renderer")
    return module
