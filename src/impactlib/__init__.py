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

__all__ = [
    "ComponentEnergy",
    "Config",
    "ConfigError",
    "Footprint",
    "ImpactError",
    "Tracker",
    "UnknownZoneError",
    "__version__",
    "init",
    "load_config",
    "model_metrics",
    "track",
]

if TYPE_CHECKING:
    from .modelmetrics import model_metrics


def __getattr__(name: str) -> Any:
    # Heavy or optional parts are imported on first use, keeping `import impactlib` cheap.
    if name == "model_metrics":
        from .modelmetrics import model_metrics

        return model_metrics
    raise AttributeError(f"module 'impactlib' has no attribute {name!r}")
