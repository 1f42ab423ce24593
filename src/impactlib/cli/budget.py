"""``impactlib budget set|show|rm``: the lab's budgets, kept in the store.

Grammar, one budget per target, period and unit::

    impactlib budget set AMOUNT TARGET PERIOD
    impactlib budget show [TARGET] [PERIOD] [--format table|json]
    impactlib budget rm TARGET PERIOD [--unit kg|kWh]

AMOUNT is a number and a unit written together: ``500kg`` or ``2t`` (CO2e), ``1200kWh`` or
``3MWh`` (energy, PUE included). TARGET is one of ``--lab`` (everything in the store),
``--project NAME``, ``--user NAME`` or ``--account NAME`` (a SLURM account). PERIOD is
``--year YYYY`` or ``--month YYYY-MM`` (UTC). Setting a budget that exists replaces it.
What each status means, and the projection's method: :mod:`impactlib.report.budgets`.
"""

from __future__ import annotations

import functools
import inspect
import math
import re
import shutil
from collections.abc import Callable
from typing import Any, NamedTuple

import typer

from .._time import now_utc, parse_user_time
from ..errors import UsageError
from ..store import Store, open_store
from ..store.budgets import Budget, BudgetScope, BudgetUnit, Period, Target, format_amount
from .common import config_from

budget_app = typer.Typer(
    name="budget",
    help="The lab's budgets in kg CO2e or kWh: set, show (used, projection), remove.",
    no_args_is_help=True,
)

_AMOUNT = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z0-9]+)\s*")
# A unit as written (lower case) -> the factor to the kept unit, and that unit.
UNITS = {
    "kg": (1.0, BudgetUnit.KG),
    "kgco2e": (1.0, BudgetUnit.KG),
    "t": (1000.0, BudgetUnit.KG),
    "tco2e": (1000.0, BudgetUnit.KG),
    "kwh": (1.0, BudgetUnit.KWH),
    "mwh": (1000.0, BudgetUnit.KWH),
}
_TARGETS = "--lab, --project NAME, --user NAME or --account NAME"


def parse_amount(text: str) -> tuple[float, BudgetUnit]:
    """``500kg`` -> (500.0, kg); ``3MWh`` -> (3000.0, kWh); :class:`UsageError` otherwise."""
    match = _AMOUNT.fullmatch(text)
    unit = UNITS.get(match[2].lower()) if match else None
    if match is None or unit is None:
        raise UsageError(
            f"budget amount '{text}': write a number and a unit together, e.g. 500kg, 2t "
            "(CO2e), 1200kWh or 3MWh"
        )
    amount = float(match[1]) * unit[0]
    if not (math.isfinite(amount) and amount > 0):
        raise UsageError(f"budget amount '{text}' must be more than 0")
    return amount, unit[1]


class Scope(NamedTuple):
    """The options that name a budget's target and its period, as given; read (and checked)
    in the order each command needs them, so that the first bad option is the one named."""

    lab: bool
    project: str | None
    user: str | None
    account: str | None
    year: str | None
    month: str | None

    def target(self) -> Target | None:
        """The one target the options name (None: none named); naming two is an error."""
        given = [
            Target(scope, (name or "").strip())
            for scope, name in (
                (BudgetScope.LAB, "" if self.lab else None),
                (BudgetScope.PROJECT, self.project),
                (BudgetScope.USER, self.user),
                (BudgetScope.ACCOUNT, self.account),
            )
            if name is not None
        ]
        if len(given) > 1:
            raise UsageError(f"a budget is for one of {_TARGETS}; give only one")
        if given and given[0].scope is not BudgetScope.LAB and not given[0].name:
            raise UsageError(f"--{given[0].scope} needs a name")
        return given[0] if given else None

    def period(self) -> Period | None:
        """The one period the options name (None: none named)."""
        year, month = self.year, self.month
        if year is not None and month is not None:
            raise UsageError(
                "a budget is for a year (--year YYYY) or a month (--month YYYY-MM), not both"
            )
        text, option = (year, "--year") if year is not None else (month, "--month")
        if text is None:
            return None
        try:
            period = Period.parse(text)
        except ValueError as exc:
            raise UsageError(f"option {option}: {exc}") from exc
        if period.is_month != (option == "--month"):
            form = "YYYY-MM" if option == "--month" else "YYYY"
            raise UsageError(f"option {option}: '{text}' is not {form}")
        return period

    def required(self) -> tuple[Target, Period]:
        """The target and the period, both of which must be named."""
        target, period = self.target(), self.period()
        if target is None:
            raise UsageError(f"name who the budget is for: {_TARGETS}")
        if period is None:
            raise UsageError("name the budget's period: --year YYYY or --month YYYY-MM (UTC)")
        return target, period


def _open(store: str | None) -> Store:
    return open_store(config_from(store=store))


def _option(name: str, annotation: type, option: Any) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation
    )


# The options of :class:`Scope`, in its order: every command of the group takes them.
SCOPE_OPTIONS = (
    _option(
        "lab",
        bool,
        typer.Option(False, "--lab", help="For the whole lab (every run in the store)."),
    ),
    _option("project", str, typer.Option(None, "--project", "-p", help="For this project.")),
    _option("user", str, typer.Option(None, "--user", "-u", help="For this user.")),
    _option("account", str, typer.Option(None, "--account", help="For this SLURM account.")),
    _option("year", str, typer.Option(None, "--year", help="For this UTC year (YYYY).")),
    _option("month", str, typer.Option(None, "--month", help="For this UTC month (YYYY-MM).")),
)
STORE = typer.Option(None, "--store", help="SQLite path or SQLAlchemy URL.")


def scoped(command: Callable[..., None]) -> Callable[..., None]:
    """``command``, whose ``scope`` parameter is given by :data:`SCOPE_OPTIONS`: typer reads
    the signature, where they stand in that parameter's place, so each command of the group
    declares them once and reads them as one :class:`Scope`."""
    signature = inspect.signature(command, eval_str=True)
    parameters: list[inspect.Parameter] = []
    for parameter in signature.parameters.values():
        parameters += SCOPE_OPTIONS if parameter.name == "scope" else [parameter]

    @functools.wraps(command)
    def with_scope(**given: Any) -> None:
        scope = Scope(**{option.name: given.pop(option.name) for option in SCOPE_OPTIONS})
        command(scope=scope, **given)

    with_scope.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return with_scope


@budget_app.command("set")
@scoped
def set_command(
    amount: str = typer.Argument(..., help="Number and unit: 500kg, 2t, 1200kWh, 3MWh."),
    *,
    scope: Scope,
    store: str = STORE,
) -> None:
    """Set a budget (replacing one of the same target, period and unit)."""
    value, unit = parse_amount(amount)
    target, period = scope.required()
    _open(store).set_budget(Budget(target, period, unit, value))
    typer.echo(f"budget for {target}, {period.text}: {format_amount(value, unit)}")


@budget_app.command("show")
@scoped
def show_command(
    *,
    scope: Scope,
    fmt: str = typer.Option("table", "--format", "-f", help="table or json."),
    store: str = STORE,
    now: str = typer.Option(None, "--now", hidden=True, help="Pretend it is this UTC time."),
) -> None:
    """Each budget: used so far, projected to its period's end, when it would be passed."""
    from ..report.budgets import FORMATS, render, statuses

    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise UsageError(f"unknown format '{fmt}'; use one of: {', '.join(FORMATS)}")
    target, period = scope.target(), scope.period()
    at = parse_user_time(now) if now else now_utc()
    store_obj = _open(store)
    found = statuses(store_obj, store_obj.budgets(target, period), at)
    typer.echo(render(found, at, fmt, shutil.get_terminal_size().columns), nl=False)


@budget_app.command("rm")
@scoped
def rm_command(
    *,
    scope: Scope,
    unit: str = typer.Option(None, "--unit", help="Only the budget in kg or kWh."),
    store: str = STORE,
) -> None:
    """Remove a target's budget(s) for a period."""
    target, period = scope.required()
    chosen = None
    if unit is not None:
        chosen = next((u for u in BudgetUnit if u.value.lower() == unit.strip().lower()), None)
        if chosen is None:
            raise UsageError(f"option --unit: '{unit}' is not kg or kWh")
    gone = _open(store).remove_budgets(target, period, chosen)
    if not gone:
        raise UsageError(
            f"no budget for {target}, {period.text}; `impactlib budget show` lists them"
        )
    for budget in gone:
        typer.echo(
            f"removed the budget for {target}, {period.text}: "
            f"{format_amount(budget.amount, budget.unit)}"
        )


def register(app: typer.Typer) -> None:
    """Add the ``budget`` group to the app."""
    app.add_typer(budget_app, name="budget")
