"""impactlib: the energy and carbon of a computation, measured, attributed, explained.

Public API (everything else is internal)::

    import impactlib
    tracker = impactlib.init()
    tracker.start(); ...; tracker.stop()
    tracker.energy_consumption, tracker.carbon_emissions   # kWh (PUE included), kg CO2e

    with impactlib.track(project="unet") as t: ...
    @impactlib.track(project="unet")
    def train(): ...

Importing the package loads only the error classes (every one a user may catch, and
:class:`ImpactWarning` to filter); every other name is imported on first use, so
`import impactlib` costs about a millisecond (see docs/benchmarks.md).
"""

from __future__ import annotations

import importlib

from .errors import (
    BudgetWarning,
    ConfigError,
    EstimateWarning,
    ImpactError,
    ImpactWarning,
    MeterError,
    MeterUnavailable,
    ProviderError,
    StoreError,
    UnknownZoneError,
    UsageError,
)

__version__ = "0.1.0"

# name -> submodule that defines it
_LAZY = {
    "init": "api",
    "track": "api",
    "Tracker": "tracker",
    "Config": "config",
    "load_config": "config",
    "CarbonInfo": "footprint",
    "ComponentEnergy": "footprint",
    "Footprint": "footprint",
    "model_metrics": "planning.modelmetrics",
    "estimate": "planning.estimate",
    "predict_from_epochs": "planning.estimate",
    "EpochEnergyPredictor": "planning.estimate",
    "pepr_table": "planning.pepr",
    "pepr_scores": "planning.pepr",
    "best_window": "planning.schedule",
    "find_window": "planning.schedule",
    "runs_dataframe": "integrations.pandas",
}

__all__ = [
    "BudgetWarning",
    "CarbonInfo",
    "ComponentEnergy",
    "Config",
    "ConfigError",
    "EpochEnergyPredictor",
    "EstimateWarning",
    "Footprint",
    "ImpactError",
    "ImpactWarning",
    "MeterError",
    "MeterUnavailable",
    "ProviderError",
    "StoreError",
    "Tracker",
    "UnknownZoneError",
    "UsageError",
    "__version__",
    "best_window",
    "estimate",
    "find_window",
    "init",
    "load_config",
    "model_metrics",
    "pepr_scores",
    "pepr_table",
    "predict_from_epochs",
    "runs_dataframe",
    "track",
]

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (milliseconds)
if TYPE_CHECKING:
    from typing import Any

    from .api import init, track
    from .config import Config, load_config
    from .footprint import CarbonInfo, ComponentEnergy, Footprint
    from .integrations.pandas import runs_dataframe
    from .planning.estimate import EpochEnergyPredictor, estimate, predict_from_epochs
    from .planning.modelmetrics import model_metrics
    from .planning.pepr import pepr_scores, pepr_table
    from .planning.schedule import best_window, find_window
    from .tracker import Tracker


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'impactlib' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext impactlib``: the notebook magics (:mod:`impactlib.integrations.jupyter`),
    imported only here so that ``import impactlib`` stays free of IPython."""
    from .integrations.jupyter import load_ipython_extension as load

    load(ipython)


def __dir__() -> list[str]:
    return sorted(__all__)
