"""A lab's truth and what each of its outputs printed, and how to read each output.

:class:`LabView` holds the records of the lab's store (read through the store's API: the
truth) and the text of every output; the functions here parse one output each (a table's
total row, a paper format's figures table, the dashboard API's lines, Prometheus samples),
so that :mod:`labchecks` states the invariants and nothing else.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from impactlib.store.records import RunRecord

J_PER_KWH = 3.6e6
METERED_QUALITIES = ("measured", "attributed")  # energy read from a meter, or a share of it
UNITS_KWH = {"mWh": 1e-6, "Wh": 1e-3, "kWh": 1.0, "MWh": 1e3}
ENERGY = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?) (mWh|Wh|kWh|MWh)\b")


@dataclass
class LabView:
    """The lab's truth and every output read from it (missing outputs are not checked)."""

    records: list[RunRecord]
    expected_ids: set[str]
    outputs: dict[str, str] = field(default_factory=dict)  # name -> stdout
    dashboard: dict[str, Any] | None = None
    metrics_text: str | None = None
    metered_daemon_domains: frozenset[str] = frozenset()
    summaries: dict[str, str] = field(default_factory=dict)  # CLI run id -> its summary
    api_kwh: dict[str, float] = field(default_factory=dict)  # API run id -> what it returned
    given: dict[str, dict[str, str]] = field(default_factory=dict)  # run id -> key -> value
    country_given: set[str] = field(default_factory=set)  # runs whose country was set
    slurm_jobs: dict[str, str] = field(default_factory=dict)  # run id -> SLURM job id

    @property
    def total_kwh(self) -> float:
        return sum(energy_kwh(r) for r in self.records)

    @property
    def metered_kwh(self) -> float:
        return sum(metered_kwh(r) for r in self.records)

    def record(self, run_id: str) -> RunRecord:
        return next(r for r in self.records if r.id == run_id)

    def text(self, name: str) -> str:
        return self.outputs[name]


def energy_kwh(record: RunRecord) -> float:
    return record.footprint.energy_kwh if record.footprint is not None else 0.0


def metered_kwh(record: RunRecord) -> float:
    fp = record.footprint
    if fp is None:
        return 0.0
    joules = sum(c.energy_j for c in fp.components if str(c.quality) in METERED_QUALITIES)
    return joules * fp.pue / J_PER_KWH


def short(run_id: str) -> str:
    """How tables and prose name a run."""
    return run_id[:8]


def agrees(printed: str, unit: str, truth_kwh: float) -> bool:
    """``printed`` (as shown, in ``unit``) is ``truth_kwh`` rounded to its printed digits."""
    number = Decimal(printed.replace(",", ""))
    exponent = number.as_tuple().exponent
    resolution = 10.0 ** (exponent if isinstance(exponent, int) else 0)
    shown = float(number) * UNITS_KWH[unit]
    return abs(shown - truth_kwh) <= (resolution / 2) * UNITS_KWH[unit] * (1 + 1e-9) + 1e-15


def report_json(view: LabView) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = json.loads(view.text("report json"))
    return runs


def report_csv(view: LabView) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(view.text("report csv"))))


def lab_json(view: LabView) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(view.text("lab report json"))
    return body


def lab_csv(view: LabView) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(view.text("lab report csv"))))


def lab_summary(view: LabView) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(view.text("lab summary"))))


def projects(view: LabView) -> list[str]:
    return sorted({r.project for r in view.records})


def report_total_row(view: LabView) -> str:
    """The report table's total: "all projects", or the one project's line of the totals."""
    text = view.text("report table")
    if len(projects(view)) > 1:
        return table_row(text, "all")
    totals = text.split("Totals per project", 1)[-1]
    return table_row(totals, projects(view)[0])


def table_row(text: str, first_cell: str) -> str:
    rows = [line for line in text.splitlines() if line.split()[:1] == [first_cell]]
    assert len(rows) == 1, f"expected one row starting {first_cell!r}, found {rows} in:\n{text}"
    return rows[0]


class Figures:
    """A paper format's figures table: header cells and rows of cells."""

    def __init__(self, header: list[str], rows: list[list[str]]) -> None:
        self.header, self.rows = header, rows

    def column(self, prefix: str) -> tuple[int, str]:
        """The index of the column whose header starts with ``prefix``, and its unit."""
        for index, cell in enumerate(self.header):
            found = re.match(re.escape(prefix) + r" \((\w+)\)", cell)
            if found:
                return index, found.group(1)
        raise AssertionError(f"no {prefix!r} column in {self.header}")

    def total(self) -> list[str]:
        """The total row (a table of one run has none: its row is the total)."""
        rows = [r for r in self.rows if r and r[0] == "Total"]
        if not rows and len(self.rows) == 1:
            return self.rows[0]
        assert len(rows) == 1, f"expected one 'Total' row, found {len(rows)} in {self.rows}"
        return rows[0]


def figures(view: LabView, name: str) -> Figures:
    """The figures table of ``report markdown|latex|html``."""
    text = view.text(name)
    if name == "report markdown":
        lines = [line for line in text.splitlines() if line.startswith("|")]
        cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
        header = next(c for c in cells if any(x.startswith("Energy (") for x in c))
        return Figures(header, [c for c in cells if c is not header and not set(c[0]) <= {"-"}])
    if name == "report latex":
        lines = [line.rstrip("\\ ").strip() for line in text.splitlines() if " & " in line]
        cells = [[c.strip() for c in line.split(" & ")] for line in lines]
        header = next(c for c in cells if any(x.startswith("Energy (") for x in c))
        return Figures(header, [c for c in cells if c is not header])
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", text, re.S)
    cell = re.compile(r"<t[hd][^>]*>(.*?)</t[hd]>", re.S)
    cells = [[re.sub(r"<[^>]+>", "", c).strip() for c in cell.findall(row)] for row in rows]
    header = next(c for c in cells if any(x.startswith("Energy (") for x in c))
    return Figures(header, [c for c in cells if c is not header])


PAPER_FORMATS = ("report markdown", "report latex", "report html")
DASHBOARD_GROUPS = ("month", "user", "project", "host")


def dashboard_groups(view: LabView, dimension: str) -> list[dict[str, Any]]:
    """The dashboard API's lines per ``dimension`` (``groups`` by dimension, or top-level)."""
    assert view.dashboard is not None
    groups = view.dashboard.get("groups")
    holder = groups if isinstance(groups, Mapping) else view.dashboard
    lines: list[dict[str, Any]] = holder[dimension]
    return lines


def prometheus_samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of each sample of a Prometheus text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    return [
        (s.name, dict(s.labels), float(s.value))
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def unattributed_rows(table: str) -> list[str]:
    """The lab report table's unattributed lines: a row marked ``(unattributed)`` in the main
    table, or the rows of a table of its own titled "Unattributed..."."""
    lines = table.splitlines()
    marked = [line for line in lines if "(unattributed)" in line]
    if marked:
        return marked
    starts = [i for i, line in enumerate(lines) if line.strip().startswith("Unattributed")]
    if not starts:
        return []
    own = lines[starts[-1] + 1 :]
    rule = next((i for i, line in enumerate(own) if line.strip().startswith("─")), -1)
    return [line for line in own[rule + 1 :] if line.strip()]
