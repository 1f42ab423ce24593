"""The invariants every output of a lab's store must keep, as small named checks.

A :class:`labview.LabView` holds the truth (the records in the lab's store, read through the
store's API) and what each output printed. Each check takes the view and the name of one output and
raises ``AssertionError`` naming that output and the values it disagreed on, so a failure
says which output is wrong. The checks are shared by the end-to-end scenario
(``tests/e2e/test_lab_in_a_box.py``) and its property-based variant.

- :func:`counted_once`: every run and job appears once, none is missing or added.
- :func:`same_total`: the total energy agrees with the records to the printed precision.
- :func:`measured_only_metered`: energy under a "measured" label is metered energy only.
- :func:`cells_intact`: at 80 columns, no line is wider and no key cell is folded.
- :func:`settings_as_given`: settings show the source they were given by.
- :func:`range_holds_value`: every range holds its figure, and a run's is its parts' summed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from labview import (
    DASHBOARD_GROUPS,
    ENERGY,
    J_PER_KWH,
    METERED_QUALITIES,
    PAPER_FORMATS,
    LabView,
    agrees,
    dashboard_groups,
    energy_kwh,
    figures,
    lab_csv,
    lab_json,
    lab_summary,
    projects,
    prometheus_samples,
    report_csv,
    report_json,
    report_total_row,
    short,
    table_row,
    unattributed_rows,
)

REL = 1e-9  # for full-precision numbers (JSON, CSV): only float rounding may differ


def _close(seen: float, truth: float) -> bool:
    return abs(seen - truth) <= REL * max(abs(truth), 1e-12) + 1e-15


def dashboard_chart_labels(view: LabView) -> None:
    """Each energy bar's value label is its line's energy, to the precision it prints."""
    assert view.dashboard is not None
    for chart in view.dashboard.get("charts", []):
        dimension = str(chart["id"]).removeprefix("energy-")
        if not str(chart["id"]).startswith("energy-"):
            continue
        lines = dashboard_groups(view, dimension)
        energy = {line.get(dimension, line.get("label")): line["energy_kwh"] for line in lines}
        for label, text in zip(chart["labels"], chart["texts"], strict=True):
            found = ENERGY.search(text)
            assert found and agrees(found.group(1), found.group(2), energy[label]), (
                f"dashboard chart {chart['id']}: {label} labelled {text!r}, "
                f"its line holds {energy[label]!r} kWh"
            )


# --- each run and job counted once ----------------------------------------------------------
def _exactly_once(output: str, seen: Iterable[str], expected: set[str]) -> None:
    seen = list(seen)
    doubled = sorted({s for s in seen if seen.count(s) > 1})
    missing, extra = sorted(expected - set(seen)), sorted(set(seen) - expected)
    assert not (doubled or missing or extra), (
        f"{output}: runs counted twice {doubled}, missing {missing}, unknown {extra}"
    )


def _run_count(output: str, seen: int, expected: int) -> None:
    assert seen == expected, f"{output}: {seen} runs, the store holds {expected}"


def counted_once(view: LabView, output: str) -> None:
    """Every run and job of the store appears once in ``output``."""
    expected = view.expected_ids
    stored = [r.id for r in view.records]
    _exactly_once("the lab's store", stored, expected)
    n = len(expected)
    if output == "report json":
        _exactly_once(output, (r["id"] for r in report_json(view)), expected)
    elif output == "report csv":
        _exactly_once(output, (r["run_id"] for r in report_csv(view)), expected)
    elif output == "report table":
        names = {short(i) for i in expected}
        firsts = [line.split()[0] for line in view.text(output).splitlines() if line.split()]
        _exactly_once(output, (word for word in firsts if word in names), names)
    elif output in PAPER_FORMATS:
        table = figures(view, output)
        ids = [row[0] for row in table.rows if row[0] != "Total"]
        _exactly_once(output, ids, {short(i) for i in expected})
    elif output == "lab report json":
        body = lab_json(view)
        _run_count(output + " total", body["total"]["runs"], n)
        _run_count(output + " groups", sum(g["runs"] for g in body["groups"]), n)
    elif output == "lab report csv":
        rows = lab_csv(view)
        total = [r for r in rows if r.get("user") == "all"]
        _run_count(output + " total", int(total[0]["runs"]) if total else -1, n)
        groups = [r for r in rows if r.get("user") not in ("all", "(unattributed)")]
        _run_count(output + " groups", sum(int(r["runs"]) for r in groups), n)
    elif output == "lab report table":
        _run_count(output + " total", int(table_row(view.text(output), "all").split()[2]), n)
    elif output == "lab summary":
        _run_count(output, sum(int(r["runs"]) for r in lab_summary(view)), n)
    elif output == "dashboard":
        assert view.dashboard is not None
        _run_count(output + " total", view.dashboard["total"]["runs"], n)
        for chart in DASHBOARD_GROUPS:
            seen = sum(x["runs"] for x in dashboard_groups(view, chart))
            _run_count(f"{output} per {chart}", seen, n)
    else:
        raise AssertionError(f"no count check for {output}")


# --- the same total everywhere --------------------------------------------------------------
def _printed_total(output: str, printed: str, unit: str, truth: float) -> None:
    assert agrees(printed, unit, truth), (
        f"{output}: total {printed} {unit}, the records hold {truth:.6g} kWh"
    )


def _exact_total(output: str, seen: float, truth: float) -> None:
    assert _close(seen, truth), f"{output}: total {seen!r} kWh, the records hold {truth!r} kWh"


def same_total(view: LabView, output: str) -> None:
    """The total energy of ``output`` is the records' total (to the precision it prints)."""
    truth = view.total_kwh
    if output == "report json":
        _exact_total(output, sum(r["energy_kwh"] for r in report_json(view)), truth)
    elif output == "report csv":
        _exact_total(output, sum(float(r["energy_consumed"]) for r in report_csv(view)), truth)
    elif output == "report table":
        found = ENERGY.search(report_total_row(view))
        assert found, f"{output}: no energy on the total row"
        _printed_total(output, found.group(1), found.group(2), truth)
    elif output in PAPER_FORMATS:
        table = figures(view, output)
        index, unit = table.column("Energy")
        _printed_total(output, table.total()[index], unit, truth)
        opening = ENERGY.search(view.text(output))
        assert opening, f"{output}: no energy in the opening"
        _printed_total(output + " opening", opening.group(1), opening.group(2), truth)
    elif output == "lab report json":
        body = lab_json(view)
        _exact_total(output, body["total"]["energy_kwh"], truth)
        _exact_total(output + " groups", sum(g["energy_kwh"] for g in body["groups"]), truth)
    elif output == "lab report csv":
        total = next(r for r in lab_csv(view) if r.get("user") == "all")
        _exact_total(output, float(total["energy_kwh"]), truth)
    elif output == "lab report table":
        found = ENERGY.search(table_row(view.text(output), "all"))
        assert found, f"{output}: no energy on the total row"
        _printed_total(output, found.group(1), found.group(2), truth)
    elif output == "lab summary":
        _exact_total(output, sum(float(r["kwh"]) for r in lab_summary(view)), truth)
    elif output == "dashboard":
        assert view.dashboard is not None
        _exact_total(output, view.dashboard["total"]["energy_kwh"], truth)
        for chart in DASHBOARD_GROUPS:
            seen = sum(x["energy_kwh"] for x in dashboard_groups(view, chart))
            _exact_total(f"{output} per {chart}", seen, truth)
        dashboard_chart_labels(view)
        summary = view.dashboard.get("summary")  # the line the page prints, where given
        if summary is not None:
            found = ENERGY.search(summary)
            assert found, f"{output}: no energy in its summary {summary!r}"
            _printed_total(output + " summary", found.group(1), found.group(2), truth)
    elif output == "run summary":
        for run_id, text in view.summaries.items():
            found = re.search(r"^\s*energy " + ENERGY.pattern, text, re.M)
            assert found, f"{output} of {short(run_id)}: no energy line in {text!r}"
            truth_run = energy_kwh(view.record(run_id))
            what = f"{output} of {short(run_id)}"
            _printed_total(what, found.group(1), found.group(2), truth_run)
        for run_id, kwh in view.api_kwh.items():
            what = f"API energy_consumption of {short(run_id)}"
            _exact_total(what, kwh, energy_kwh(view.record(run_id)))
    elif output == "prometheus":
        unattributed_daemon_total(view)
    else:
        raise AssertionError(f"no total check for {output}")


def unattributed_daemon_total(view: LabView) -> None:
    """The servers' unattributed energy: the daemon's /metrics and the lab report agree."""
    assert view.metrics_text is not None
    samples = prometheus_samples(view.metrics_text)
    joules = sum(v for n, _, v in samples if n.startswith("impactlib_unattributed_energy"))
    seen = sum(u["unattributed_kwh"] for u in lab_json(view)["unattributed"])
    assert _close_loose(seen, joules / J_PER_KWH), (
        f"prometheus: unattributed {joules:.6g} J, lab report json {seen * J_PER_KWH:.6g} J"
    )
    if view.dashboard is not None:
        rest = view.dashboard.get("unattributed")
        shown = (
            sum(u["unattributed_kwh"] for u in rest)
            if isinstance(rest, list)
            else view.dashboard.get("unattributed_kwh")
        )
        assert shown is not None and _close_loose(shown, joules / J_PER_KWH), (
            f"prometheus: unattributed {joules:.6g} J, dashboard {shown!r} kWh"
        )
    rows = unattributed_rows(view.text("lab report table"))
    printed = [found for found in (ENERGY.search(row) for row in rows) if found]
    assert len(printed) == 1, f"lab report table: unattributed rows {rows} (one month here)"
    number, unit = printed[0].group(1), printed[0].group(2)
    assert agrees(number, unit, joules / J_PER_KWH), (
        f"lab report table: unattributed {rows}, prometheus {joules:.6g} J"
    )


def _close_loose(seen: float, truth: float) -> bool:
    """Stores keep the daemon's minutes as they were written: float sums in another order."""
    return abs(seen - truth) <= 1e-6 * max(abs(truth), 1e-12) + 1e-15


# --- "measured" only for metered energy -----------------------------------------------------
def _metered(output: str, seen: float, truth: float, what: str = "measured") -> None:
    assert _close(seen, truth), (
        f"{output}: {what} {seen!r} kWh, metered energy in the records {truth!r} kWh"
    )


def _measured_keys(value: Any, path: str = "") -> Iterable[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            here = f"{path}.{key}" if path else str(key)
            if "measured" in str(key).lower():
                yield here, inner
            yield from _measured_keys(inner, here)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _measured_keys(inner, f"{path}[{index}]")


def measured_only_metered(view: LabView, output: str) -> None:
    """Energy under a "measured" label, column or metric in ``output`` is metered energy."""
    truth = view.metered_kwh
    if output == "report json":
        for run in report_json(view):
            record = view.record(run["id"])
            assert record.footprint is not None
            qualities = {c.domain: str(c.quality) for c in record.footprint.components}
            for component in run.get("components", []):
                if qualities.get(component["domain"]) in METERED_QUALITIES:
                    continue
                shown = [(k, v) for k, v in _measured_keys(component) if v not in (None, 0, 0.0)]
                assert not shown, (
                    f"{output}: run {short(run['id'])}'s {component['domain']} "
                    f"({qualities.get(component['domain'])}) is shown as measured: {shown}"
                )
    elif output == "lab report json":
        body = lab_json(view)
        _metered(output + " total", body["total"]["measured_kwh"], truth)
        if view.metrics_text is not None:
            daemon = _daemon_metered_j(view) / J_PER_KWH
            seen = sum(u["measured_kwh"] for u in body["unattributed"])
            assert _close_loose(seen, daemon), (
                f"{output}: servers' measured {seen * J_PER_KWH:.6g} J, their meters read "
                f"{daemon * J_PER_KWH:.6g} J ({sorted(view.metered_daemon_domains)}, prometheus)"
            )
    elif output == "lab report csv":
        total = next(r for r in lab_csv(view) if r.get("user") == "all")
        _metered(output + " total", float(total["measured_kwh"]), truth)
    elif output == "lab report table":
        row = table_row(view.text(output), "all")
        share = re.search(r"(\d+) %", row)
        assert share, f"{output}: no measured share on {row!r}"
        expected = 100 * truth / view.total_kwh if view.total_kwh else 0.0
        assert abs(int(share.group(1)) - expected) <= 0.5 + 1e-9, (
            f"{output}: measured {share.group(1)} %, metered share {expected:.3g} %"
        )
        if view.metrics_text is not None:  # the servers' unattributed energy, metered share
            rows = unattributed_rows(view.text(output))
            shares = [re.search(r"(\d+) %", row) for row in rows]
            samples = prometheus_samples(view.metrics_text)
            rest = [(labels.get("domain"), v) for n, labels, v in samples if "unattributed" in n]
            metered = sum(v for d, v in rest if d in view.metered_daemon_domains)
            expected = 100 * metered / sum(v for _, v in rest) if rest else 0.0
            assert shares and all(
                m and abs(int(m.group(1)) - expected) <= 0.5 + 1e-9 for m in shares
            ), f"{output}: unattributed {rows}, metered share (prometheus) {expected:.3g} %"
    elif output == "lab summary":
        _metered(output, sum(float(r["measured_kwh"]) for r in lab_summary(view)), truth)
    elif output == "dashboard":
        assert view.dashboard is not None
        _metered(output, view.dashboard["total"]["measured_kwh"], truth)
        summary = view.dashboard.get("summary")
        if summary is not None:
            share = re.search(r"measured (\d+) %", summary)
            expected = 100 * truth / view.total_kwh if view.total_kwh else 0.0
            assert share and abs(int(share.group(1)) - expected) <= 0.5 + 1e-9, (
                f"{output}: summary {summary!r}, metered share {expected:.3g} %"
            )
    elif output == "prometheus":
        assert view.metrics_text is not None
        wrong = [
            (name, labels)
            for name, labels, _ in prometheus_samples(view.metrics_text)
            if _says_measured(name, labels)
            and labels.get("domain") not in view.metered_daemon_domains
        ]
        assert not wrong, f"{output}: modelled domains under a measured metric: {wrong}"
    elif output == "run summary":
        for run_id, text in view.summaries.items():
            record = view.record(run_id)
            assert record.footprint is not None
            for component in record.footprint.components:
                lines = [ln for ln in text.splitlines() if ln.strip().startswith(component.domain)]
                said = any("measured" in ln for ln in lines)
                assert not said or str(component.quality) in METERED_QUALITIES, (
                    f"{output} of {short(run_id)}: {component.domain} "
                    f"({component.quality}) is said measured: {lines}"
                )
    else:
        raise AssertionError(f"no measured check for {output}")


def _says_measured(name: str, labels: Mapping[str, str]) -> bool:
    """A sample presented as metered: by its name, or by a ``quality`` label."""
    return "measured" in name or labels.get("quality") in METERED_QUALITIES


DOMAIN_ENERGY = ("impactlib_measured_energy", "impactlib_domain_energy")  # either naming


def _daemon_metered_j(view: LabView) -> float:
    """What the daemon's meters read: its domains' energy on its /metrics, metered ones."""
    assert view.metrics_text is not None
    return sum(
        value
        for name, labels, value in prometheus_samples(view.metrics_text)
        if name.startswith(DOMAIN_ENERGY) and labels.get("domain") in view.metered_daemon_domains
    )


# --- 80 columns -------------------------------------------------------------------------------
WIDTH = 80


def too_wide(lines: Iterable[str]) -> list[str]:
    """Lines over 80 columns, but for one unbreakable word (a path) alone on its line."""
    return [line for line in lines if len(line) > WIDTH and len(line.split()) > 1]


def _key_cells(view: LabView, output: str) -> list[tuple[str, ...]]:
    """Cells that must be read whole on one line: each group's keys, each run's id."""
    if output == "report table":
        if len(projects(view)) == 1:  # one project: no project column
            return [(short(r.id),) for r in view.records]
        return [(short(r.id), r.project) for r in view.records]
    keys: list[tuple[str, ...]] = [(g["user"], g["month"]) for g in lab_json(view)["groups"]]
    return [*keys, ("all", "all")]


def cells_intact(view: LabView, output: str) -> None:
    """At 80 columns: no line is wider, and every key cell is whole on one line."""
    if output == "run summary":
        for run_id, text in view.summaries.items():
            wide = too_wide(text.splitlines())
            assert not wide, f"{output} of {short(run_id)}: lines over {WIDTH}: {wide}"
            split = re.findall(r"\d\n\s*(?:mWh|Wh|kWh|MWh|g|mg|kg|W|s|min|h)\b", text)
            assert not split, f"{output} of {short(run_id)}: a value cut from its unit: {split}"
        return
    lines = view.text(output).splitlines()
    wide = too_wide(lines)
    assert not wide, f"{output}: lines over {WIDTH} columns: {wide}"
    for keys in _key_cells(view, output):
        pattern = r"(?<!\S)" + r"\s+".join(re.escape(k) for k in keys) + r"(?!\S)"
        whole = [line for line in lines if re.search(pattern, line)]
        assert whole, f"{output}: no line shows {' '.join(keys)!r} whole:\n" + "\n".join(lines)


# --- settings' sources as given ---------------------------------------------------------------
def _shown_setting(config: Any, key: str) -> tuple[Any, Any]:
    """(value, source) of ``key`` in a run's JSON ``config``, in either shape a record may
    take: ``{"values": {k: v}, "sources": {k: s}}`` or ``{k: {"value": v, "source": s}}``."""
    if not isinstance(config, Mapping):
        return None, None
    if isinstance(config.get("values"), Mapping):
        return config["values"].get(key), (config.get("sources") or {}).get(key)
    item = config.get(key)
    if isinstance(item, Mapping):
        return item.get("value"), item.get("source")
    settings = config.get("settings")
    return _shown_setting(settings, key) if settings is not None else (None, None)


def _slurm_job(run: Mapping[str, Any]) -> Any:
    for holder in (run, run.get("config") or {}):
        slurm = holder.get("slurm") if isinstance(holder, Mapping) else None
        if isinstance(slurm, Mapping):
            return slurm.get("job_id")
    return None


def settings_as_given(view: LabView, output: str) -> None:
    """A setting given by flag, variable or ``init()`` is shown with that source, never as
    guessed; a SLURM job's run names its job."""
    if output == "report json":
        runs = {r["id"]: r for r in report_json(view)}
        for run_id, settings in view.given.items():
            record = view.record(run_id)
            for key, value in settings.items():
                source = record.config.get("sources", {}).get(key)
                shown = _shown_setting(runs[run_id].get("config"), key)
                assert shown == (value, source), (
                    f"{output}: run {short(run_id)} shows {key} as (value, source) {shown}, "
                    f"given {value!r} by {source!r}"
                )
        for run_id, job in view.slurm_jobs.items():
            seen = _slurm_job(runs[run_id])
            assert seen == job, f"{output}: run {short(run_id)} names job {seen!r}, not {job!r}"
    elif output in PAPER_FORMATS:
        text = view.text(output).replace("</p>", "\n\n")  # HTML: one paragraph per <p>
        paragraphs = re.split(r"\n\s*\n", re.sub(r"<[^>]+>", " ", text))
        for run_id in view.country_given:
            about = [p for p in paragraphs if short(run_id) in p and "guessed" in p]
            assert not about, (
                f"{output}: run {short(run_id)} had its country given "
                f"({view.record(run_id).config.get('sources', {}).get('country')}), "
                f"but reads: {about[0].strip()[:300]!r}"
            )
    else:
        raise AssertionError(f"no settings check for {output}")


# --- every range holds its figure (issue 18) --------------------------------------------------
_RANGED = re.compile(ENERGY.pattern + r" \((\d[\d,]*(?:\.\d+)?)\u2013(\d[\d,]*(?:\.\d+)?)\)")


def _holds(output: str, what: str, low: float, value: float, high: float) -> None:
    slack = REL * max(abs(value), 1e-12)
    assert low - slack <= value <= high + slack, f"{output}: {what} {value!r} not in {low}–{high}"


def range_holds_value(view: LabView, output: str) -> None:
    """Every range ``output`` gives holds its figure; a run's energy range is the sum of its
    components' (the documented rule: bounds add)."""
    if output == "report json":
        for run in report_json(view):
            name = short(run["id"])
            _holds(output, f"{name} energy", run["energy_low_kwh"], run["energy_kwh"],
                   run["energy_high_kwh"])  # fmt: skip
            _holds(output, f"{name} emissions", run["emissions_low_kg"], run["emissions_kg"],
                   run["emissions_high_kg"])  # fmt: skip
            for c in run["components"]:
                _holds(output, f"{name} {c['domain']}", c["low_kwh"], c["energy_kwh"],
                       c["high_kwh"])  # fmt: skip
            lows = sum(c["low_kwh"] for c in run["components"])
            assert _close(run["energy_low_kwh"], lows), f"{output}: {name} low is not summed"
    elif output == "report csv":
        for row in report_csv(view):
            if row["energy_consumed"] == "":
                continue  # a run with no footprint: no figure, no range
            what = f"{row['run_id'][:8]} energy"
            keys = ("energy_low_kwh", "energy_consumed", "energy_high_kwh")
            low, value, high = (float(row[k]) for k in keys)
            _holds(output, what, low, value, high)
            assert row["quality_class"] in ("high", "medium", "low"), row["quality_class"]
    elif output == "run summary":
        for run_id, text in view.summaries.items():
            found = _RANGED.search(" ".join(text.split()))
            assert found, f"{output} of {short(run_id)}: no energy range in {text!r}"
            value, low, high = (float(found.group(i).replace(",", "")) for i in (1, 3, 4))
            _holds(f"{output} of {short(run_id)}", "energy", low, value, high)
    else:
        raise AssertionError(f"no range check for {output}")


CHECKS: dict[str, Callable[[LabView, str], None]] = {
    "counted once": counted_once,
    "same total": same_total,
    "measured only metered": measured_only_metered,
    "cells intact at 80 columns": cells_intact,
    "settings as given": settings_as_given,
    "range holds value": range_holds_value,
}

# Which check applies to which output.
APPLIES: dict[str, tuple[str, ...]] = {
    "counted once": (
        "report json", "report csv", "report table", *PAPER_FORMATS,
        "lab report json", "lab report csv", "lab report table", "lab summary", "dashboard",
    ),
    "same total": (
        "run summary", "report json", "report csv", "report table", *PAPER_FORMATS,
        "lab report json", "lab report csv", "lab report table", "lab summary", "dashboard",
        "prometheus",
    ),
    "measured only metered": (
        "run summary", "report json", "lab report json", "lab report csv", "lab report table",
        "lab summary", "dashboard", "prometheus",
    ),
    "cells intact at 80 columns": ("run summary", "report table", "lab report table"),
    "settings as given": ("report json", *PAPER_FORMATS),
    "range holds value": ("run summary", "report json", "report csv"),
}  # fmt: skip


def pairs(*, live: bool) -> list[tuple[str, str]]:
    """(check, output) pairs; without a live lab (no runs printed, no daemon), those that
    need one are left out."""
    needs_live = {"run summary", "prometheus"}
    return [
        (check, output)
        for check, outputs in APPLIES.items()
        for output in outputs
        if live or output not in needs_live
    ]
