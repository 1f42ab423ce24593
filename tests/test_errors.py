"""The error tree: what users catch is exported, wrong values are ValueErrors, causes are kept."""

from __future__ import annotations

import ast
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import impactlib
from impactlib import errors

SRC = Path(impactlib.__file__).parent
CAUGHT_BY_USERS = (
    "ImpactError",
    "ConfigError",
    "UnknownZoneError",
    "MeterError",
    "MeterUnavailable",
    "StoreError",
    "ProviderError",
    "UsageError",
    "ImpactWarning",
)


@pytest.mark.parametrize("name", CAUGHT_BY_USERS)
def test_error_classes_are_exported_from_the_package(name: str) -> None:
    assert name in impactlib.__all__
    assert getattr(impactlib, name) is getattr(errors, name)


def test_carbon_info_is_exported() -> None:
    from impactlib.footprint import CarbonInfo

    assert "CarbonInfo" in impactlib.__all__ and impactlib.CarbonInfo is CarbonInfo


@pytest.mark.parametrize("cls", [errors.ConfigError, errors.UnknownZoneError, errors.UsageError])
def test_wrong_values_are_value_errors_and_impact_errors(cls: type[Exception]) -> None:
    assert issubclass(cls, ValueError) and issubclass(cls, errors.ImpactError)
    with pytest.raises(ValueError, match="bad"):
        raise cls("bad")


def test_provider_failures_share_one_base() -> None:
    assert issubclass(errors.HTTPStatusError, errors.ProviderError)
    assert issubclass(errors.BudgetExhausted, errors.ProviderError)
    failure = errors.HTTPStatusError("gb: HTTP 429", 429, 30.0)
    assert (failure.status, failure.retry_after_s, str(failure)) == (429, 30.0, "gb: HTTP 429")


def test_impact_warning_is_a_user_warning_users_can_filter() -> None:
    assert issubclass(errors.ImpactWarning, UserWarning)
    with pytest.warns(impactlib.ImpactWarning, match="fell back"):
        warnings.warn("impactlib: fell back", impactlib.ImpactWarning, stacklevel=1)


def test_exported_errors_keep_import_light() -> None:
    names = ", ".join(f"impactlib.{n}" for n in (*CAUGHT_BY_USERS, "CarbonInfo"))
    code = (
        f"import sys, impactlib; {names}\n"
        "heavy = {'numpy', 'pandas', 'httpx', 'sqlite3', 'sqlalchemy', 'psutil', 'typer', "
        "'rich', 'platformdirs', 'logging'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def _raises_from_none(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Raise)
            and isinstance(node.cause, ast.Constant)
            and node.cause.value is None
            and isinstance(node.exc, ast.Call)
            and isinstance(node.exc.func, ast.Name)
            and node.exc.func.id.endswith(("Error", "Unavailable", "Exhausted"))
        ):
            found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    return found


def test_errors_keep_their_cause() -> None:
    hidden = [site for path in sorted(SRC.rglob("*.py")) for site in _raises_from_none(path)]
    assert hidden == [], "use `raise ... from exc` so the cause stays visible to debuggers"
