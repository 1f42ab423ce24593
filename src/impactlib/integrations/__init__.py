"""Integrations with the tools researchers already train and read results in.

One thin module per tool: :mod:`~impactlib.integrations.lightning`,
:mod:`~impactlib.integrations.huggingface`, :mod:`~impactlib.integrations.keras` (training
callbacks), :mod:`~impactlib.integrations.jupyter` (``%load_ext impactlib``),
:mod:`~impactlib.integrations.mlflow`, :mod:`~impactlib.integrations.wandb` (experiment
trackers) and :mod:`~impactlib.integrations.pandas` (``impactlib.runs_dataframe``). What
they share, energy per epoch and the prediction of a whole training from its first epochs,
is :mod:`~impactlib.integrations.epochs`, so every tool reports the same figures.

Each tool is an optional extra (``pip install 'impactlib[lightning]'``...) imported only by
its own module: neither ``import impactlib`` nor this package loads any of them.
"""

from __future__ import annotations

from ..errors import UsageError


def missing_extra(tool: str, extra: str) -> UsageError:
    """The one-line error for an integration whose tool is not installed: what and the fix."""
    return UsageError(
        f"the {tool} integration needs {tool} installed; fix: pip install 'impactlib[{extra}]'"
    )
