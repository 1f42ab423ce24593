"""Every option of every command, exercised end to end through the CLI.

An option that sets a configuration key is exercised in the three forms a user has: the
flag, the ``IMPACTLIB_<KEY>`` environment variable, and a line of ``impactlib.toml`` in the
working directory (conftest's private home). Each test asserts on an effect a user relies on
(the stored record, its configuration values and their sources, the file written, the exit
code), never on human wording, which is being rewritten. Tests record the options they
exercise with :func:`exercises`; the last tests check that together they cover every option
``--help`` lists, so that a new option cannot land untested.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from itertools import product
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import pytest
import typer.main
from clihelp import cli
from daemonhost import serve as serve_daemon
from powercap import FakePowercap
from replay_server import ALL_ROUTES, ReplayServer, clean_env, closed_port_url
from sample_runs import make_record, make_series

from impactlib.cli.main import build_app
from impactlib.config import env_name
from impactlib.meters.daemon import ask
from impactlib.store import open_store

F = TypeVar("F", bound=Callable[..., Any])
FORMS = ("flag", "env", "toml")
PRINT_RUN_ID = "import os; print(os.environ['IMPACTLIB_RUN_ID'])"
EXERCISED: dict[str, set[str]] = {}


def exercised(command: str, *options: str) -> None:
    """Note, at import, options of ``command`` that a test exercises (see the last tests)."""
    EXERCISED.setdefault(command, set()).update(options)


def exercises(command: str, *options: str) -> Callable[[F], F]:
    """:func:`exercised`, as a decorator of the test that exercises them."""

    def mark(test: F) -> F:
        exercised(command, *options)
        return test

    return mark


class Setting(NamedTuple):
    """What to add to a command line and its environment to set one key."""

    args: list[str]
    env: dict[str, str]


def setting(form: str, key: str, value: str, flag: str = "") -> Setting:
    """``key = value`` in ``form``: the flag (default ``--key-with-dashes``), the environment
    variable, or a line appended to ``impactlib.toml`` in the working directory."""
    if form == "flag":
        return Setting([flag or "--" + key.replace("_", "-"), value], {})
    if form == "env":
        return Setting([], {env_name(key): value})
    try:
        literal = str(float(value))  # numbers as TOML numbers, as a user writes them
    except ValueError:
        literal = json.dumps(value)
    with Path("impactlib.toml").open("a", encoding="utf-8") as fh:
        fh.write(f"{key} = {literal}\n")
    return Setting([], {})


def assert_source(config: Mapping[str, Any], key: str, form: str) -> None:
    """The record says where ``key`` came from, whatever the exact wording."""
    source = str(config["sources"][key])
    given_by = {
        "flag": source != "default" and "IMPACTLIB_" not in source and ".toml" not in source,
        "env": env_name(key) in source,
        "toml": "impactlib.toml" in source,
    }
    assert given_by[form], (form, source)


def report_json(*args: str, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """``impactlib report --format json`` (with ``args``), parsed."""
    result = cli("report", *args, "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    runs: list[dict[str, Any]] = json.loads(result.stdout)
    return runs


def the_command(name: str) -> None:
    """Skip tests of a command that is not (yet) part of the app."""
    if name not in COMMANDS:
        pytest.skip(f"no `impactlib {name}` here")


COMMANDS = typer.main.get_command(build_app()).commands


# --- run ---------------------------------------------------------------------------------


class Stored(NamedTuple):
    """A run's summary (what ``report --format json`` shows of it) and its stored
    configuration, read from the store in this process: one interpreter fewer per case."""

    summary: dict[str, Any]
    config: dict[str, Any]


def run_env(tmp_path: Path, without: str = "") -> dict[str, str]:
    """No RAPL, a static intensity table, fast sampling, and a live source that refuses
    at once; minus the key under test, so that its toml form is not overridden."""
    env = {
        "IMPACTLIB_POWERCAP_ROOT": str(tmp_path / "no-powercap"),
        "IMPACTLIB_COUNTRY": "DE",
        "IMPACTLIB_INTERVAL": "0.05",
        "IMPACTLIB_RTE_URL": closed_port_url(),
    }
    env.pop(env_name(without), None)
    return env


def run(args: list[str], env: dict[str, str], code: str = PRINT_RUN_ID, store: str = "") -> Stored:
    """``impactlib run ARGS -- python -c CODE``, CODE printing the run id it was given; the
    run as found in ``store`` (default: conftest's)."""
    result = cli("run", *args, "--", sys.executable, "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.split()[0]
    record = open_store(store or os.environ["IMPACTLIB_STORE"]).get_run(run_id)
    assert record is not None
    return Stored(record.summary(), record.config)


def component(summary: Mapping[str, Any], domain: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in summary["components"] if c["domain"] == domain)
    return found


def _energy_with_pue(s: Mapping[str, Any]) -> float:
    return sum(c["energy_j"] for c in s["components"]) / 3.6e6 * s["pue"]


class RunCase(NamedTuple):
    """A configuration key ``run`` takes as an option, and what setting it does."""

    key: str
    value: str
    effect: Callable[[dict[str, Any]], bool] | None  # on the report; None: config only
    env: dict[str, str] = {}


RUN_CASES = (
    RunCase("project", "p-opt", lambda s: s["project"] == "p-opt"),
    RunCase("experiment", "e-opt", lambda s: s["experiment"] == "e-opt"),
    RunCase(
        "idle_policy",
        "none",
        lambda s: s["idle_policy"] == "none" and all(c["idle_j"] == 0 for c in s["components"]),
    ),
    RunCase("country", "SE", lambda s: s["carbon"]["zone"] == "SE"),
    RunCase("region", "SE3", lambda s: s["carbon"]["zone"] == "SE3"),
    RunCase("zone", "US-CA", lambda s: s["carbon"]["zone"] == "US-CA"),
    RunCase(
        "pue",
        "1.5",
        lambda s: s["pue"] == 1.5 and s["energy_kwh"] == pytest.approx(_energy_with_pue(s)),
    ),
    RunCase("interval", "0.2", None),  # the sampling period leaves no other trace
    RunCase(
        "intensity_source",
        "static",  # for France, where auto would ask RTE (and fall back, saying so)
        lambda s: s["carbon"]["source"] == "static" and not s["carbon"]["fallback"],
        {"IMPACTLIB_COUNTRY": "FR"},
    ),
)
exercised("run", *("--" + c.key.replace("_", "-") for c in RUN_CASES))


@pytest.mark.parametrize(
    ("case", "form"),
    [pytest.param(case, form, id=f"{case.key}-{form}") for case in RUN_CASES for form in FORMS],
)
def test_run_option(case: RunCase, form: str, tmp_path: Path) -> None:
    given = setting(form, case.key, case.value)
    stored = run(given.args, {**run_env(tmp_path, case.key), **case.env, **given.env})
    assert str(stored.config["values"][case.key]) == case.value
    assert_source(stored.config, case.key, form)
    assert case.effect is None or case.effect(stored.summary), stored.summary


IN_A_JOB = {  # what sbatch exports to a batch script (tests/fakejob.py's job, no cgroup)
    "SLURM_JOB_ID": "4242",
    "SLURM_JOB_ACCOUNT": "physics",
    "SLURM_CLUSTER_NAME": "hpc",
}


@exercises("run", "--slurm-project")
@pytest.mark.parametrize("form", [*FORMS, "default"])
def test_run_slurm_project(form: str, tmp_path: Path) -> None:
    """Issue 17 (bug 8): inside a job the project is the job's account, as ingested jobs
    have it, unless ``slurm_project = "default"``; a project the user sets wins either way."""
    env = {**run_env(tmp_path), **IN_A_JOB}
    if form == "default":
        stored = run([], env)
        assert stored.summary["project"] == "physics"
        assert "SLURM" in stored.config["sources"]["project"]
        assert run(["--project", "mine"], env).summary["project"] == "mine"
        return
    given = setting(form, "slurm_project", "default")
    stored = run(given.args, {**env, **given.env})
    assert_source(stored.config, "slurm_project", form)
    assert stored.summary["project"] == "default"


WRAP_J = 200  # at 40 W the counter wraps every 5 s
SLEEP = "import time; time.sleep(5.5)"


@exercises("run", "--scope")
@pytest.mark.parametrize("form", FORMS)
def test_run_scope_machine_measures_the_machine(form: str, tmp_path: Path) -> None:
    """Issue 8: was 0 J and "scope tree" from run, env and file alike."""
    fake = FakePowercap(tmp_path)
    fake.add_package(0, max_energy_range_uj=WRAP_J * 10**6)
    fake.set("cpu:package-0", (WRAP_J - 30) * 10**6)
    given = setting(form, "scope", "machine")
    env = {**run_env(tmp_path, "scope"), "IMPACTLIB_POWERCAP_ROOT": str(fake.root), **given.env}
    with fake.drive("cpu:package-0", 40.0):
        stored = run([*given.args, "--interval", "0.1"], env, f"{PRINT_RUN_ID}; {SLEEP}")
    assert stored.config["values"]["scope"] == "machine"
    assert_source(stored.config, "scope", form)
    assert stored.summary["scope"] == "machine"
    cpu = component(stored.summary, "cpu:package-0")
    truth_j = 40.0 * stored.summary["duration_s"]
    assert truth_j > WRAP_J  # the counter wrapped at least once during the run
    assert (cpu["method"], cpu["quality"]) == ("rapl", "measured")
    assert cpu["energy_j"] == pytest.approx(truth_j, rel=0.03)


@exercises("run", "--powercap-root")
@pytest.mark.parametrize("form", FORMS)
def test_run_powercap_root(form: str, tmp_path: Path) -> None:
    fake = FakePowercap(tmp_path)
    fake.add_package(0)
    given = setting(form, "powercap_root", str(fake.root))
    with fake.drive("cpu:package-0", 20.0):
        stored = run(given.args, {**run_env(tmp_path, "powercap_root"), **given.env})
    assert_source(stored.config, "powercap_root", form)
    assert component(stored.summary, "cpu:package-0")["method"] == "rapl"


CHECKPOINTED = """
import os, sys, time
from impactlib.config import load_config
from impactlib.store import open_store
print(os.environ['IMPACTLIB_RUN_ID'])
time.sleep(0.8)
record = open_store(load_config()).get_run(os.environ['IMPACTLIB_RUN_ID'])
print(record.footprint is not None)
"""


@exercises("run", "--save-interval")
@pytest.mark.parametrize("form", [*FORMS, "default"])
def test_run_save_interval(form: str, tmp_path: Path) -> None:
    """The record is checkpointed while the command runs: what a kill -9 cannot take."""
    given = setting(form, "save_interval", "0.2") if form != "default" else Setting([], {})
    result = cli(
        "run",
        "-q",
        *given.args,
        "--",
        sys.executable,
        "-c",
        CHECKPOINTED,
        env={**run_env(tmp_path, "save_interval"), **given.env},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1] == str(form != "default")  # the default is 10 s


@exercises("run", "--store")
@pytest.mark.parametrize("form", FORMS)
def test_run_store(form: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    usual = os.environ["IMPACTLIB_STORE"]
    monkeypatch.delenv("IMPACTLIB_STORE")  # else it would override the toml form
    lab = str(tmp_path / "lab.db")
    given = setting(form, "store", lab)
    stored = run(given.args, {**run_env(tmp_path, "store"), **given.env}, store=lab)
    assert stored.config["values"]["store"] == lab
    assert_source(stored.config, "store", form)
    assert [r["id"] for r in report_json("--store", lab)] == [stored.summary["id"]]
    assert report_json("--store", usual) == []


@exercises("run", "--budget-warn-share")
@pytest.mark.parametrize("form", FORMS)
def test_run_budget_warn_share(form: str, tmp_path: Path) -> None:
    """Issue 19: a project that has used 60 % of this month's budget is warned of it (once)
    at a share of 0.5, and not at the default 0.8."""
    from budgetlab import add_day

    from impactlib._time import now_utc
    from impactlib.store.budgets import Budget, BudgetScope, BudgetUnit, Period, Target

    store = os.environ["IMPACTLIB_STORE"]
    lab = open_store(store)
    add_day(lab, now_utc().date(), 6.0, project="p-budget")
    month = Period(now_utc().strftime("%Y-%m"))
    lab.set_budget(Budget(Target(BudgetScope.PROJECT, "p-budget"), month, BudgetUnit.KWH, 10.0))
    lab.close()
    env = run_env(tmp_path, "budget_warn_share")
    command = ["-p", "p-budget", "--", sys.executable, "-c", PRINT_RUN_ID]
    default = cli("run", *command, env=env)
    assert default.returncode == 0 and "p-budget has used" not in default.stderr, default.stderr
    given = setting(form, "budget_warn_share", "0.5")
    result = cli("run", *given.args, *command, env={**env, **given.env})
    assert result.returncode == 0, result.stderr
    warned = [
        line
        for line in result.stderr.splitlines()
        if line.startswith("impactlib: warning: project p-budget has used 6 kWh (60 %) of its")
    ]
    assert len(warned) == 1, result.stderr
    record = open_store(store).get_run(result.stdout.split()[0])
    assert record is not None and record.config["values"]["budget_warn_share"] == 0.5
    assert_source(record.config, "budget_warn_share", form)


@exercises("run", "--quiet", "--project", "--experiment")
@pytest.mark.parametrize("quiet", [[], ["-q"], ["--quiet"]])
def test_run_quiet_and_short_options(quiet: list[str], tmp_path: Path) -> None:
    args = [*quiet, "-p", "short-p", "-e", "short-e", "--", sys.executable, "-c", PRINT_RUN_ID]
    result = cli("run", *args, env=run_env(tmp_path))
    assert result.returncode == 0
    assert (result.stderr == "") == bool(quiet)  # the summary is the only thing it prints
    (run_summary,) = report_json("--project", "short-p", "--experiment", "short-e")
    assert run_summary["id"] == result.stdout.strip()


# --- hardware ----------------------------------------------------------------------------


@exercises("hardware", "--powercap-root")
@pytest.mark.parametrize("form", FORMS)
def test_hardware_powercap_root(form: str, tmp_path: Path) -> None:
    fake = FakePowercap(tmp_path)
    fake.add_package(0, dram=True)
    given = setting(form, "powercap_root", str(fake.root))
    result = cli("hardware", *given.args, env=given.env)
    assert result.returncode == 0, result.stderr
    assert "cpu:package-0" in result.stdout and "dram:package-0" in result.stdout


def wall_settings(form: str, values: dict[str, str]) -> Setting:
    """Several wall-power settings in one form, on a machine without RAPL."""
    args: list[str] = []
    env = {"IMPACTLIB_POWERCAP_ROOT": "/nonexistent-powercap"}
    for key, value in values.items():
        given = setting(form, key, value)
        args += given.args
        env.update(given.env)
    return Setting(args, env)


@exercises("hardware", "--wall-power", "--hwmon-root")
@pytest.mark.parametrize("form", FORMS)
def test_hardware_wall_power_hwmon(
    form: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18: the server's ACPI power meter, found under the hwmon root given."""
    from fakehwmon import FakeHwmon

    # conftest points every test at an empty hwmon root by the environment, which would
    # outrank the configuration file's form
    monkeypatch.delenv("IMPACTLIB_HWMON_ROOT")

    fake = FakeHwmon(tmp_path)
    fake.add_power_meter(231.5, layout="old")
    given = wall_settings(form, {"wall_power": "hwmon", "hwmon_root": str(fake.root)})
    result = cli("hardware", *given.args, env=given.env)
    assert result.returncode == 0, result.stderr
    assert "231.5 W now" in result.stdout and "power1_average" in result.stdout


@exercises("hardware", "--redfish-url", "--redfish-credentials")
@pytest.mark.parametrize("form", FORMS)
def test_hardware_wall_power_redfish(form: str, tmp_path: Path) -> None:
    """Issue 18: the BMC's Redfish reading, with credentials from a root-only file; the
    password shows nowhere."""
    from redfishserver import PASSWORD, RedfishServer, credentials_file, mockup

    with RedfishServer(mockup(tmp_path)) as server:
        values = {
            "hwmon_root": str(tmp_path / "no-hwmon"),
            "redfish_url": server.url,
            "redfish_credentials": str(credentials_file(tmp_path)),
        }
        given = wall_settings(form, values)
        result = cli("hardware", *given.args, env=given.env)
    assert result.returncode == 0, result.stderr
    assert "374.0 W now" in result.stdout and "EnvironmentMetrics" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr


@exercises("hardware", "--ipmi-command")
@pytest.mark.parametrize("form", FORMS)
def test_hardware_wall_power_ipmi_command(form: str, tmp_path: Path) -> None:
    """Issue 18: a BMC's DCMI reading, by the command given (a recorded FreeIPMI output)."""
    recorded = Path(__file__).parent.parent / "data" / "ipmi" / "freeipmi-active.txt"
    values = {"hwmon_root": str(tmp_path / "no-hwmon"), "ipmi_command": f"cat {recorded}"}
    given = wall_settings(form, values)
    result = cli("hardware", *given.args, env=given.env)
    assert result.returncode == 0, result.stderr
    assert "90.0 W now" in result.stdout and "DCMI" in result.stdout


@pytest.mark.parametrize(
    ("option", "value", "secret"),
    [
        ("--wall-power", "wattmeter", ""),
        ("--redfish-url", "https://reader:pw-9Xq@bmc.example", "pw-9Xq"),
        ("--ipmi-command", "ipmitool -I lanplus -P pw-9Xq dcmi power reading", "pw-9Xq"),
        ("--ipmi-command", "ipmi-dcmi -p pw-9Xq --get-system-power-statistics", "pw-9Xq"),
        ("--ipmi-command", "ipmitool -I lanplus -k kg-9Xq dcmi power reading", "kg-9Xq"),
    ],
)
def test_hardware_bad_wall_settings_are_one_line(option: str, value: str, secret: str) -> None:
    """Bad input: one line, exit 2, no traceback; a password in it is never echoed."""
    result = cli("hardware", option, value)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert option.removeprefix("--").replace("-", "_") in result.stderr
    assert not secret or secret not in result.stderr


# --- report and export (runs seeded through the store) ----------------------------------


STALE_G_PER_KWH = 999.0


def add_run(store: str, run_id: str, project: str, experiment: str, cpu_j: float) -> None:
    """A finished run in FR, priced at a stale 999 g/kWh no table holds, with its series,
    epoch readings of 1 and 2 kJ, PUE 1.5 and an accuracy of 0.8."""
    metrics = {"metrics": {"acc": 0.8}}
    record = replace(
        make_record(run_id, project, cpu_j=cpu_j, g_per_kwh=STALE_G_PER_KWH, model=metrics),
        experiment=experiment,
        config={"values": {"country": "FR", "pue": 1.5}},
    )
    assert record.footprint is not None
    target = open_store(store)
    target.insert_run(record, 10.0)
    target.checkpoint(run_id, "completed", record.footprint, make_series(run_id), (1e3, 2e3))
    target.set_model(run_id, record.model or {})


def seed(store: str) -> None:
    """run-a (project vision, experiment e1) and run-b (nlp, e2)."""
    add_run(store, "run-a", "vision", "e1", 3.6e6)
    add_run(store, "run-b", "nlp", "e2", 1.8e6)


@pytest.fixture
def seeded() -> None:
    seed(os.environ["IMPACTLIB_STORE"])


BOTH = {"run-a", "run-b"}


def ids_in(text: str, fmt: str) -> set[str]:
    """Run ids in a JSON or CSV report."""
    if fmt == "json":
        return {r["id"] for r in json.loads(text)}
    return {row["run_id"] for row in csv.DictReader(io.StringIO(text))}


@exercises("report", "--project", "--experiment", "--run")
@pytest.mark.parametrize(
    ("args", "ids"),
    [
        ([], BOTH),
        (["--project", "vision"], {"run-a"}),
        (["-p", "nlp"], {"run-b"}),
        (["--experiment", "e2"], {"run-b"}),
        (["-e", "e1"], {"run-a"}),
        (["--run", "run-b"], {"run-b"}),
    ],
)
def test_report_selects_runs(seeded: None, args: list[str], ids: set[str]) -> None:
    assert {r["id"] for r in report_json(*args)} == ids


REPORT_FORMATS: dict[str, Callable[[str], bool]] = {
    "table": lambda text: "vision" in text and "nlp" in text,
    "json": lambda text: ids_in(text, "json") == BOTH,
    "csv": lambda text: ids_in(text, "csv") == BOTH,
    "markdown": lambda text: "|" in text and "vision" in text,
    "latex": lambda text: "\\begin{" in text and "vision" in text,
    "html": lambda text: "<html" in text.lower() and "vision" in text,
}


@exercises("report", "--format")
@pytest.mark.parametrize(
    ("fmt", "flag"), list(zip(REPORT_FORMATS, ["--format", "-f"] * 3, strict=True))
)
def test_report_formats(seeded: None, fmt: str, flag: str) -> None:
    result = cli("report", flag, fmt)
    assert result.returncode == 0, result.stderr
    assert REPORT_FORMATS[fmt](result.stdout), result.stdout[:500]


@exercises("report", "--by", "--waste")
def test_report_waste_by_user_or_project(seeded: None) -> None:
    """Waste under each user or project, as a table or JSON lines (none here: both seeded
    runs completed; SLURM jobs' waste is in tests/cli/test_slurm.py); wrong values exit 2."""
    for by in ("user", "project"):
        assert cli("report", "--by", by, "--waste").returncode == 0
        waste = cli("report", "--by", by, "--waste", "--format", "json")
        assert waste.returncode == 0 and json.loads(waste.stdout) == []
    assert cli("report", "--waste").returncode == 0
    assert cli("report", "--by", "host", "--waste").returncode == 2
    assert cli("report", "--waste", "--format", "csv").returncode == 2


@exercises("report", "--what-if")
def test_report_what_if_pue(seeded: None, tmp_path: Path) -> None:
    """``--what-if pue=1.2`` on runs recorded at PUE 1.5 saves 20 %, per user and per
    project, in the file given; a bad spec exits 2 (the shift against a replayed RTE series,
    and every other spec, are in tests/cli/test_whatif.py)."""
    target = tmp_path / "whatif.json"
    result = cli("report", "--what-if", "pue=1.2", "-p", "vision", "-f", "json", "-o", str(target))
    assert result.returncode == 0, result.stderr
    data = json.loads(target.read_text(encoding="utf-8"))
    assert [r["id"] for r in data["runs"]] == ["run-a"]
    assert data["by_project"][0]["saving_pct"] == pytest.approx(20.0)
    assert cli("report", "--what-if", "shift=abc").returncode == 2


@exercises("report", "--output")
@exercises("export", "--output")
@pytest.mark.parametrize(
    ("command", "flag"), list(product(["report", "export"], ["--output", "-o"]))
)
def test_output_file_holds_what_stdout_shows(
    seeded: None, tmp_path: Path, command: str, flag: str
) -> None:
    target = tmp_path / "out.json"
    assert cli(command, "--format", "json", flag, str(target)).returncode == 0
    shown = cli(command, "--format", "json").stdout
    assert json.loads(target.read_text(encoding="utf-8")) == json.loads(shown)


@exercises("report", "--store")
@exercises("export", "--store")
@pytest.mark.parametrize(("command", "form"), list(product(["report", "export"], FORMS)))
def test_report_and_export_store(
    command: str, form: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IMPACTLIB_STORE")
    lab = str(tmp_path / "lab.db")
    seed(lab)
    given = setting(form, "store", lab)
    result = cli(command, *given.args, "--format", "json", env=given.env)
    assert result.returncode == 0, result.stderr
    assert ids_in(result.stdout, "json") == BOTH


@exercises("report", "--reprice")
def test_report_reprice_prices_again_and_keeps_it(seeded: None) -> None:
    before = {r["id"]: r["emissions_kg"] for r in report_json()}
    repriced = report_json("--reprice", env={"IMPACTLIB_INTENSITY_SOURCE": "static"})
    for r in repriced:
        assert r["carbon"]["zone"] == "FR" and r["carbon"]["source"] == "static"
        assert r["carbon"]["mean_g_per_kwh"] < STALE_G_PER_KWH
        assert 0 < r["emissions_kg"] < before[r["id"]]
    assert report_json() == repriced  # saved, not only shown


@exercises("report", "--grid")
def test_report_grid(seeded: None, tmp_path: Path) -> None:
    grid = tmp_path / "grid.toml"
    grid.write_text('method = "m"\n[need]\nanswer = "Replaces 2000 h of annotation"\n')
    result = cli("report", "--format", "markdown", "--grid", str(grid))
    assert result.returncode == 0, result.stderr
    assert "Replaces 2000 h of annotation" in result.stdout


@exercises("export", "--format", "--project")
@pytest.mark.parametrize(
    ("args", "fmt", "ids"),
    [
        ([], "csv", BOTH),
        (["--format", "csv"], "csv", BOTH),
        (["-f", "json"], "json", BOTH),
        (["--project", "vision"], "csv", {"run-a"}),
        (["-p", "nlp", "--format", "json"], "json", {"run-b"}),
    ],
)
def test_export(seeded: None, args: list[str], fmt: str, ids: set[str]) -> None:
    result = cli("export", *args)
    assert result.returncode == 0, result.stderr
    assert ids_in(result.stdout, fmt) == ids


# --- demo --------------------------------------------------------------------------------


def check_demo(store: str, project: str, zone: str, epochs: int) -> None:
    runs = report_json("--store", store, "--project", project)
    assert len(runs) == 2 and {r["carbon"]["zone"] for r in runs} == {zone}
    assert all(len(r["epochs_energy_j"]) == epochs for r in runs)


@exercises("demo", "--epochs", "--project", "--country", "--store")
def test_demo_options(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    lab = str(tmp_path / "lab.db")
    args = ["--epochs", "1", "--project", "p-demo", "--country", "SE", "--store", lab]
    result = cli("demo", *args, env=run_env(tmp_path, "country"), timeout=120)
    assert result.returncode == 0, result.stderr
    check_demo(lab, "p-demo", "SE", 1)


@pytest.mark.parametrize("form", ["env", "toml"])
def test_demo_location_and_store_from_configuration(
    form: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("sklearn")
    monkeypatch.delenv("IMPACTLIB_STORE")
    lab = str(tmp_path / "lab.db")
    country, store = setting(form, "country", "SE"), setting(form, "store", lab)
    env = {**run_env(tmp_path, "country"), **country.env, **store.env}
    result = cli("demo", "--epochs", "1", "-p", "p-demo", env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    check_demo(lab, "p-demo", "SE", 1)


# --- intensity and schedule (the replay server answers for RTE, GB and Electricity Maps) --


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ReplayServer]:
    clean_env(monkeypatch, tmp_path)
    monkeypatch.setenv("IMPACTLIB_STORE", str(tmp_path / "store.db"))
    with ReplayServer(ALL_ROUTES) as srv:
        for key in ("RTE_URL", "GB_URL", "ELECTRICITYMAPS_URL"):
            monkeypatch.setenv(f"IMPACTLIB_{key}", srv.url)
        yield srv


def cli_json(command: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """``impactlib COMMAND --format json ARGS``, parsed (the format first: ARGS may end with
    a command to schedule)."""
    result = cli(command, "--format", "json", *args, env=env)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


AT = "2024-01-15T20:00Z"  # inside the recorded provider answers


@exercises("intensity", "--zone", "--country", "--at", "--format")
@pytest.mark.parametrize(("key", "form"), list(product(["zone", "country"], FORMS)))
def test_intensity_location(server: ReplayServer, key: str, form: str) -> None:
    given = setting(form, key, "FR")
    data = cli_json("intensity", *given.args, "--at", AT, env=given.env)
    assert data["zone"] == "FR" and data["history"]["source"] == "rte"
    assert data["at"].startswith("2024-01-15T20:00")


@exercises("intensity", "--source")
@pytest.mark.parametrize("form", FORMS)
def test_intensity_source(server: ReplayServer, form: str) -> None:
    given = setting(form, "intensity_source", "static", flag="--source")
    data = cli_json("intensity", "--zone", "FR", *given.args, "--at", AT, env=given.env)
    assert data["history"]["source"] == "static"
    assert server.requests == []  # the static table asks nobody


@exercises("intensity", "--forecast")
@pytest.mark.parametrize("flag", ["--forecast", "-f"])
def test_intensity_forecast(server: ReplayServer, flag: str) -> None:
    plain = cli_json("intensity", "-z", "GB", "--at", AT)
    ahead = cli_json("intensity", "-z", "GB", flag, "--at", AT)
    assert plain["forecast"] is None
    assert ahead["forecast"]["points"] and ahead["forecast"]["source"] == "gb"


@exercises("intensity", "--hours")
def test_intensity_hours_is_the_history_asked_for(server: ReplayServer) -> None:
    cli_json("intensity", "-z", "GB", "--hours", "3", "--at", AT)
    assert any("2024-01-15T17:00Z" in path for path in server.paths()), server.paths()


@exercises("intensity", "--format", "--list")
@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_intensity_formats(server: ReplayServer, fmt: str) -> None:
    result = cli("intensity", "--zone", "FR", "--at", AT, "--format", fmt)
    assert result.returncode == 0, result.stderr
    if fmt == "json":
        assert json.loads(result.stdout)["zone"] == "FR"
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert rows and {r["zone"] for r in rows} == {"FR"}
    else:
        assert "FR" in result.stdout
    listed = cli("intensity", "--list", "--format", fmt)
    assert listed.returncode == 0 and "SE3" in listed.stdout


NOW = "2024-01-15T18:10Z"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@exercises("schedule", "--zone", "--country", "--duration", "--now", "--format")
@pytest.mark.parametrize(("key", "form"), list(product(["zone", "country"], FORMS)))
def test_schedule_location(server: ReplayServer, key: str, form: str) -> None:
    given = setting(form, key, "GB")
    data = cli_json("schedule", "--duration", "2h", *given.args, "--now", NOW, env=given.env)
    assert data["zone"] == "GB" and data["source"] == "gb"


@exercises("schedule", "--duration", "--within")
@pytest.mark.parametrize(
    ("args", "hours", "within_h"),
    [(["-d", "3h", "-w", "2h"], 3, 2), (["--duration", "1h30m", "--within", "30m"], 1.5, 0.5)],
)
def test_schedule_window(
    server: ReplayServer, args: list[str], hours: float, within_h: float
) -> None:
    data = cli_json("schedule", *args, "-z", "GB", "--now", NOW)
    start, end, now = (utc(data["start"]), utc(data["end"]), utc(NOW))
    assert (end - start).total_seconds() == hours * 3600
    assert (start - now).total_seconds() <= within_h * 3600


@exercises("schedule", "--print")
def test_schedule_print_gives_the_scheduler_lines(server: ReplayServer) -> None:
    args = ["-d", "1h", "-z", "GB", "--now", NOW, "--print", "--", "echo", "hello world"]
    data = cli_json("schedule", *args)
    assert data["commands"] and all("hello world" in line for line in data["commands"].values())
    table = cli("schedule", *args, "--format", "table")
    assert table.returncode == 0 and "hello world" in table.stdout


# --- estimate ----------------------------------------------------------------------------

MEMORY_W_PER_GB = 0.3725  # Green Algorithms' reference value


@exercises(
    "estimate",
    "--cpu-w-per-core",
    "--cores",
    "--usage",
    "--hours",
    "--memory-gb",
    "--gpu-w",
    "--gpus",
    "--gpu-usage",
    "--runs",
    "--format",
)
@pytest.mark.parametrize(
    ("args", "kwh"),
    [
        (["--cpu-w-per-core", "10", "--cores", "2", "--usage", "0.5", "--hours", "2"], 0.02),
        (
            ["--cpu-w-per-core", "10", "--cores", "2", "--memory-gb", "8", "--hours", "1"],
            (20 + 8 * MEMORY_W_PER_GB) / 1000,
        ),
        (["--gpu-w", "300", "--gpus", "2", "--gpu-usage", "0.5", "--hours", "1"], 0.3),
        (["--cpu-w-per-core", "10", "--cores", "1", "--hours", "1", "--runs", "3"], 0.03),
    ],
)
def test_estimate_green_algorithms_terms(args: list[str], kwh: float) -> None:
    assert cli_json("estimate", *args)["energy_kwh"] == pytest.approx(kwh)


@exercises("estimate", "--pue")
@pytest.mark.parametrize("form", FORMS)
def test_estimate_pue(form: str) -> None:
    """The pue setting a lab made for its trackers applies to estimates; the flag wins."""
    given = setting(form, "pue", "1.5")
    args = ["--cpu-w-per-core", "10", "--cores", "1", "--hours", "1", *given.args]
    data = cli_json("estimate", *args, env=given.env)
    assert data["energy_kwh"] == pytest.approx(0.015) and data["pue"] == 1.5
    source = data["pue_source"]
    assert (form == "flag") == (source == "given"), source
    assert form == "flag" or ("IMPACTLIB_PUE" if form == "env" else "impactlib.toml") in source
    if form != "flag":  # the flag over the setting
        data = cli_json("estimate", *args, "--pue", "2", env=given.env)
        assert data["energy_kwh"] == pytest.approx(0.02) and data["pue_source"] == "given"


def test_estimate_without_pue_says_its_default() -> None:
    data = cli_json("estimate", "--cpu-w-per-core", "10", "--cores", "1", "--hours", "1")
    assert data["pue"] == 1.0 and data["pue_source"].startswith("default")


def test_estimate_text() -> None:
    text = cli("estimate", "--gpu-w", "300", "--hours", "1", "--format", "text")
    assert text.returncode == 0 and text.stdout


@exercises("estimate", "--cpu", "--gpu")
def test_estimate_models_from_the_bundled_tables() -> None:
    args = ["--cpu", "Xeon Gold 6148", "--cores", "4", "--gpu", "NVIDIA A100 40GB PCIe"]
    data = cli_json("estimate", *args, "--gpus", "1", "--hours", "1")
    watts = {t["component"]: t["power_w"] for t in data["breakdown"]}
    assert watts["cpu"] == 7.5 and watts["gpu"] == 250  # TDP per core; TDP per card


@exercises("estimate", "--list-cpus", "--list-gpus")
@pytest.mark.parametrize(
    ("flag", "words", "row"),
    [
        ("--list-gpus", ["A100"], "NVIDIA A100 40GB PCIe"),
        ("--list-cpus", ["gold", "6148"], "Xeon Gold 6148"),
    ],
)
def test_estimate_lists_the_bundled_models(flag: str, words: list[str], row: str) -> None:
    result = cli("estimate", flag, *words, "--format", "json")
    assert result.returncode == 0, result.stderr
    names = [entry["name"] for entry in json.loads(result.stdout)]
    assert row in names
    assert all(w in name.lower().split() for name in names for w in words if w.isalpha())


@exercises("estimate", "--country", "--zone")
@pytest.mark.parametrize(("key", "form"), list(product(["country", "zone"], FORMS)))
def test_estimate_location(key: str, form: str) -> None:
    given = setting(form, key, "SE")
    data = cli_json("estimate", "--gpu-w", "100", "--hours", "1", *given.args, env=given.env)
    assert data["zone"] == "SE" and data["emissions_kg"] > 0


@exercises("estimate", "--from-run", "--epochs")
def test_estimate_from_run(seeded: None) -> None:
    """run-a read 1 kJ and 2 kJ at its first two epochs: four epochs make 4 kJ (PUE 1.5)."""
    data = cli_json("estimate", "--from-run", "run-a", "--epochs", "4")
    assert data["energy_kwh"] == pytest.approx(4e3 * 1.5 / 3.6e6)


# --- pepr --------------------------------------------------------------------------------

RESULTS = """model,arch,acc,energy_kwh,co2,grp
a,net-a,0.8,1.0,5,g1
b,net-b,0.9,3.0,1,g1
c,net-c,0.6,2.0,2,g2
d,net-d,0.7,4.0,4,g2
"""


def pepr_of(args: list[str], tmp_path: Path) -> dict[str, float]:
    source = tmp_path / "results.csv"
    source.write_text(RESULTS, encoding="utf-8")
    rows = json.loads(cli("pepr", str(source), *args, "--format", "json").stdout)
    return {r["model"]: r["pepr"] for r in rows}


@exercises("pepr", "--performance", "--resource", "--group-by", "--format")
@pytest.mark.parametrize(
    ("args", "expected"),
    [  # PePR = P / (1 + R min-max normalised within the compared set)
        ([], {"a": 0.8, "b": 0.9 / (5 / 3), "c": 0.6 / (4 / 3), "d": 0.35}),
        (["--resource", "co2"], {"a": 0.4, "b": 0.9, "c": 0.6 / 1.25, "d": 0.7 / 1.75}),
        (["--group-by", "grp"], {"a": 0.8, "b": 0.45, "c": 0.6, "d": 0.35}),
    ],
)
def test_pepr_scores(args: list[str], expected: dict[str, float], tmp_path: Path) -> None:
    assert pepr_of(["--performance", "acc", *args], tmp_path) == pytest.approx(expected)


@exercises("pepr", "--variant", "--label", "--plot")
def test_pepr_variant_label_and_plot(tmp_path: Path) -> None:
    source, plot = tmp_path / "results.csv", tmp_path / "pepr.svg"
    source.write_text(RESULTS, encoding="utf-8")
    args = ["--performance", "acc", "--variant", "T", "--label", "arch", "--plot", str(plot)]
    result = cli("pepr", str(source), *args, "--format", "text")
    assert result.returncode == 0, result.stderr
    assert "PePR-T" in result.stdout and "net-c" in result.stdout
    assert "<svg" in plot.read_text(encoding="utf-8")


@exercises("pepr", "--project", "--experiment")
@pytest.mark.parametrize(
    ("args", "ids"),
    [(["--project", "nlp"], {"run-b", "run-c"}), (["--experiment", "e1"], {"run-a", "run-d"})],
)
def test_pepr_on_stored_runs(seeded: None, args: list[str], ids: set[str]) -> None:
    store = os.environ["IMPACTLIB_STORE"]
    add_run(store, "run-c", "nlp", "e2", 0.9e6)  # PePR compares at least two runs
    add_run(store, "run-d", "vision", "e1", 7.2e6)
    data = json.loads(cli("pepr", "--performance", "acc", *args, "--format", "json").stdout)
    assert {r["id"] for r in data} == ids


@exercises("pepr", "--store")
@pytest.mark.parametrize("form", FORMS)
def test_pepr_store(form: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMPACTLIB_STORE")
    lab = str(tmp_path / "lab.db")
    seed(lab)
    add_run(lab, "run-c", "nlp", "e2", 0.9e6)
    given = setting(form, "store", lab)
    args = ["--performance", "acc", "--project", "nlp", *given.args, "--format", "json"]
    result = cli("pepr", *args, env=given.env)
    assert result.returncode == 0, result.stderr
    assert {r["id"] for r in json.loads(result.stdout)} == {"run-b", "run-c"}


# --- metrics and calibrate ---------------------------------------------------------------


@exercises("metrics", "--store")
@pytest.mark.parametrize("form", FORMS)
def test_metrics_store(form: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    the_command("metrics")
    monkeypatch.delenv("IMPACTLIB_STORE")
    lab = str(tmp_path / "lab.db")
    seed(lab)
    given = setting(form, "store", lab)
    result = cli("metrics", "run-b", "f1=0.5", *given.args, env=given.env)
    assert result.returncode == 0, result.stderr
    record = open_store(lab).get_run("run-b")
    assert record is not None and (record.model or {})["metrics"] == {"acc": 0.8, "f1": 0.5}


@exercises("count", "--store", "--run", "--unit")
@pytest.mark.parametrize("form", FORMS)
def test_count_store_run_and_unit(
    form: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    the_command("count")
    monkeypatch.delenv("IMPACTLIB_STORE")
    lab = str(tmp_path / "lab.db")
    seed(lab)
    given = setting(form, "store", lab)
    args = ["12", "--run", "run-b", "--unit", "volumes", *given.args]
    result = cli("count", *args, env=given.env)
    assert result.returncode == 0, result.stderr
    record = open_store(lab).get_run("run-b")
    assert record is not None and (record.model or {})["units"] == {"volumes": 12}
    assert (record.model or {})["metrics"] == {"acc": 0.8}


# calibrate burns every CPU for several seconds per run: its options (--steps, --seconds,
# --powercap-root, --power-model) are exercised in tests/cli/test_calibrate.py, as flags and in
# their environment and config-file forms, and not run a second time here.
exercised("calibrate", "--steps", "--seconds", "--powercap-root", "--power-model")
# --wall-watts (a one-time reading, not a setting): tests/cli/test_calibrate_platform.py.
exercised("calibrate", "--wall-watts")

# --- serve -------------------------------------------------------------------------------

SERVE_FLAGS = {"daemon_socket": "--socket"}


@exercises(
    "serve",
    "--socket",
    "--metrics-address",
    "--metrics-containers",
    "--store",
    "--powercap-root",
    "--interval",
    "--idle-policy",
)
@pytest.mark.parametrize("form", FORMS)
def test_serve_options(form: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every setting of ``impactlib serve`` in one form: where it answers and serves
    metrics, what it measures, how often, by which policy, and where its minutes go."""
    the_command("serve")
    monkeypatch.delenv("IMPACTLIB_STORE")  # conftest's, which would override the toml form
    fake = FakePowercap(tmp_path / "sys")
    fake.add_package(0)
    values = {
        "daemon_socket": str(tmp_path / "d.sock"),
        "metrics_address": "127.0.0.1:0",
        "metrics_containers": "true",
        "store": str(tmp_path / "minutes.db"),
        "powercap_root": str(fake.root),
        "interval": "0.2",
        "idle_policy": "none",
    }
    args: list[str] = []
    env: dict[str, str] = {}
    for key, value in values.items():
        given = setting(form, key, value, SERVE_FLAGS.get(key, ""))
        args += given.args
        env.update(given.env)
    with serve_daemon(args, env) as served:
        assert served.socket == values["daemon_socket"]
        assert served.metrics_url is not None and served.metrics_url.startswith("http://127.0.0.1:")
        health = ask(served.socket, "/v1/health").body
        assert health["interval_s"] == 0.2 and health["idle_policy"] == "none"
        assert set(health["domains"]) >= {"cpu:package-0"}
        with urllib.request.urlopen(served.metrics_url, timeout=10) as answer:
            exported = answer.read().decode()
        # the per-container family is served (empty where no container runs)
        assert "# TYPE impactlib_container_energy_joules_total counter" in exported
        time.sleep(0.5)
    assert served.process.returncode == 0
    assert open_store(values["store"]).host_minutes(os.uname().nodename, "machine")


# The lab's commands and options are exercised in their own files: tests/store/test_sync.py
# (sync), tests/cli/test_labreport.py (report --since/--until), tests/cli/test_export_ges1point5.py
# (export --inventory/--sites), tests/server/test_dashboard.py (dashboard); the db and import
# groups' options in tests/store/test_migrate.py and tests/cli/test_imports.py.
exercised("sync", "--to", "--store")
exercised("report", "--since", "--until")
exercised("export", "--inventory", "--sites")
# export's BoAmps report and its run selection (--run, --experiment, --task-stage,
# --task-family; --boamps-publisher as flag, IMPACTLIB_* and impactlib.toml):
# tests/report/test_boamps.py; validate's options, --store and --power-model in the three
# forms: tests/cli/test_validate.py.
exercised("export", "--run", "--experiment", "--task-stage", "--task-family", "--boamps-publisher")
exercised("validate", "--reference", "--run", "--save", "--store", "--power-model")
exercised("dashboard", "--host", "--port", "--store", "--token", "--now")
# report --budget, and the budget group's options: tests/cli/test_budget.py.
exercised("report", "--budget")
# impactlib's own options (before any command): --version in tests/cli/test_cli.py.
exercised("", "--version")


# --- every command, every option -----------------------------------------------------------


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help(name: str) -> None:
    result = cli(name, "--help")
    assert result.returncode == 0 and result.stdout, result.stderr


def test_every_option_is_exercised() -> None:
    root = typer.main.get_command(build_app())
    missing = [
        f"impactlib {name} {param.opts[0]}"
        for name, command in {"": root, **COMMANDS}.items()
        for param in command.params
        if param.param_type_name == "option" and not set(param.opts) & EXERCISED.get(name, set())
    ]
    assert missing == [], "options no test exercises (add them to test_options.py)"
