"""The idle floors a run's window splits energy with: known at its start, learned at its end.

At the start a window takes, in order of trust, the host power model's floors (``calibrated``
or ``learned``, :mod:`impactlib.attribution.power_model`), then the lowest powers earlier runs
on this host observed (the window already holds the estimation models' own). At the end the
run's (power, busy CPUs) points refine the host power model, and a fresh fit becomes the
run's floor for any domain that had none, so the final split uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .. import identity
from ..config import Config
from ..footprint import Component, FloorSource
from ..meters.platform import PlatformModelMeter
from .platform_power import PlatformPower
from .shares import Floor, apply_remembered_floors
from .window import Window


def apply_known_floors(
    window: Window, config: Config, remembered_w: Callable[[str], Mapping[str, float]]
) -> str | None:
    """Give ``window`` this host's floors: its power model's, then ``remembered_w(host)``
    (what earlier runs on it observed, from the store); return a problem line when the
    model file could not be used."""
    from .power_model import load_power_model

    host = identity.host_name()
    model, problem = load_power_model(config, host)
    if model is not None and model.platform is not None:
        add_platform_model(window, model.platform)
    if model is not None:
        floors: dict[str, Floor] = {}
        for domain_id in window.accounts:
            known = model.floor_w(domain_id)
            if known is not None:
                floors[domain_id] = Floor(*known, model.floor_spread(domain_id))
        window.set_known_floors(floors)
    apply_remembered_floors(window.accounts, remembered_w(host))
    return problem


def add_platform_model(window: Window, platform: PlatformPower) -> None:
    """The calibrated platform (``calibrate --wall-watts``) as a domain of ``window``, where
    no wall meter gives a measured one (here or through the daemon): a constant power, all
    of it idle, split by the idle policy."""
    if any(a.domain.component is Component.PLATFORM for a in window.accounts.values()):
        return
    meter = PlatformModelMeter(platform.watts, platform.describe())
    window.add_time_meter(meter, Floor(platform.watts, FloorSource.CALIBRATED))


def learn_floors(window: Window, config: Config) -> None:
    """Add this run's fits to the host power model; a fresh fit is this run's floor where
    it had none."""
    from .power_model import learn

    points = {domain_id: account.points for domain_id, account in window.accounts.items()}
    for domain_id, fitted in learn(points, config, identity.host_name()).items():
        if window.accounts[domain_id].known_floor is None:
            window.accounts[domain_id].known_floor = Floor(
                fitted.idle_w, FloorSource.LEARNED, fitted.floor_spread
            )
