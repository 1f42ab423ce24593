"""The integrations stay out of ``import impactlib``, and a missing extra says what to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

TOOLS = (
    "lightning",
    "pytorch_lightning",
    "transformers",
    "keras",
    "IPython",
    "mlflow",
    "wandb",
    "pandas",
    "torch",
    "numpy",
)


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )


def test_importing_impactlib_imports_none_of_the_tools() -> None:
    result = _python(
        f"""
        import sys
        import impactlib, impactlib.integrations, impactlib.integrations.epochs
        impactlib.runs_dataframe, impactlib.load_ipython_extension  # lazy: nothing imported yet
        print(sorted(m for m in {TOOLS!r} if m in sys.modules))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("module", "blocked", "extra"),
    [
        ("lightning", "lightning", "lightning"),
        ("huggingface", "transformers", "huggingface"),
        ("keras", "keras", "keras"),
        ("jupyter", "IPython", "jupyter"),
        ("mlflow", "mlflow", "mlflow"),
        ("wandb", "wandb", "wandb"),
    ],
)
def test_a_missing_tool_names_the_extra_to_install(module: str, blocked: str, extra: str) -> None:
    result = _python(
        f"""
        import sys
        sys.modules[{blocked!r}] = None  # as if it were not installed
        import impactlib
        try:
            import impactlib.integrations.{module}
        except impactlib.UsageError as exc:
            print(exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(f"fix: pip install 'impactlib[{extra}]'")


def test_runs_dataframe_without_pandas_names_the_extra() -> None:
    result = _python(
        """
        import sys
        sys.modules["pandas"] = None
        import impactlib
        try:
            impactlib.runs_dataframe()
        except impactlib.UsageError as exc:
            print(exc)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "pip install 'impactlib[pandas]'" in result.stdout
