"""impactlib: the energy and carbon of a computation, measured, attributed, explained.

Public API (everything else is internal)::

    import impactlib
    tracker = impactlib.init()
    tracker.start(); ...; tracker.stop()
    tracker.energy_consumption, tracker.carbon_emissions   # kWh (PUE included), kg CO2e

    with impactlib.track(project="unet") as t: ...
    @impactlib.track(project="unet")
    def train(): ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import Config, load_config
from .errors import ConfigError, ImpactError, UnknownZoneError
from .footprint import ComponentEnergy, Footprint
from .tracker import Tracker, init, track

__version__ = "0.1.0"

# Heavy or optional parts, imported on first use to keep `import impactlib` cheap.
_LAZY = {
    "model_metrics": "modelmetrics",
    "estimate": "estimate",
    "predict_from_epochs": "estimate",
    "EpochEnergyPredictor": "estimate",
    "pepr_table": "report.pepr",
    "pepr_scores": "report.pepr",
    "best_window": "schedule",
    "find_window": "schedule",
}

__all__ = [
    "ComponentEnergy",
    "Config",
    "ConfigError",
    "EpochEnergyPredictor",
    "best_window",
    "find_window",
    "Footprint",
    "ImpactError",
    "Tracker",
    "UnknownZoneError",
    "__version__",
    "estimate",
    "init",
    "load_config",
    "model_metrics",
    "pepr_scores",
    "pepr_table",
    "predict_from_epochs",
    "track",
]

if TYPE_CHECKING:
    from .estimate import EpochEnergyPredictor, estimate, predict_from_epochs
    from .modelmetrics import model_metrics
    from .report.pepr import pepr_scores, pepr_table
    from .schedule import best_window, find_window


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'impactlib' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
