"""The Python face: ``impactlib.init()`` and ``impactlib.track()``.

They gather the settings (keyword arguments, then ``IMPACTLIB_*`` variables and
configuration files, leniently: a bad setting of the environment warns and falls back),
and hand the tracker where its run was placed by a workload manager
(:func:`impactlib.slurm.scope.place`), so that :mod:`impactlib.tracker` stays the run's
lifecycle only and knows nothing of SLURM.
"""

from __future__ import annotations

from typing import Any

from .config import load_config
from .errors import UnknownZoneError
from .notices import warn, warn_once
from .slurm.scope import place
from .tracker import Tracker

_LOCATION_KEYS = ("country", "region", "zone")


def init(**config: Any) -> Tracker:
    """Create a tracker from keyword settings, environment and configuration files.

    Wrong keyword arguments raise ``ValueError`` (:class:`~impactlib.errors.ConfigError`)
    at once. Problems of the environment (a configuration file, an ``IMPACTLIB_*``
    variable) never stop the program: each gives one warning, the setting falls back to
    the next layer's value, and the record says so.
    """
    effective = load_config(config, lenient=True)
    for problem in (*effective.problems, *effective.unknown_variables):
        warn_once(problem, problem)
    try:
        return Tracker(effective, placer=place)
    except UnknownZoneError as exc:
        if any(effective.sources.get(k) == "argument" for k in _LOCATION_KEYS):
            raise
        problem = f"{exc}; carbon intensity is located without it"
        warn(problem)
        from dataclasses import replace

        sources = {
            **effective.sources,
            **{k: f"default ({problem})" for k in _LOCATION_KEYS},
        }
        located = replace(
            effective,
            country=None,
            region=None,
            zone=None,
            sources=sources,
            problems=(*effective.problems, problem),
        )
        return Tracker(located, placer=place)


def track(**config: Any) -> Tracker:
    """``with impactlib.track(project=...) as t:`` or ``@impactlib.track(...)``."""
    return init(**config)
