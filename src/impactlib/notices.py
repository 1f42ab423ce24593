"""What the library says to a Python user: one :class:`ImpactWarning`, at the user's line.

A training script's author reads the warnings Python prints, not ``footprint.warnings``; so
whatever makes the figures less than measured (a CPU or GPU estimated from its TDP, the
world-average carbon intensity) is said there, once per process (a loop that creates a
tracker per epoch must not repeat it), and attributed to the line of the user's code that
led to it, not to impactlib's own. :class:`ImpactWarning` is a ``UserWarning``, which
Python's default filters show.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from collections.abc import Iterable, Sequence
from typing import Protocol

from .errors import EstimateWarning, ImpactWarning

_PACKAGE_DIR = os.path.dirname(__file__)
_said: set[str] = set()
_said_lock = threading.Lock()
ESTIMATED_COMPONENTS = ("cpu", "gpu")  # what a TDP model stands in for when no meter reads it


class _Estimated(Protocol):
    """What is needed of a measured domain (:class:`impactlib.meters.base.Domain`)."""

    @property
    def component(self) -> str: ...

    @property
    def quality(self) -> str: ...


def warn(message: str, category: type[ImpactWarning] = ImpactWarning) -> None:
    """One warning (``warnings`` shows each message once per line), pointing at the user's
    line that led here rather than at impactlib's own code."""
    level, frame = 2, sys._getframe(1)  # stacklevel 2 is the frame that called this one
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    warnings.warn(f"impactlib: {message}", category, stacklevel=level)


def warn_once(key: str, message: str, category: type[ImpactWarning] = ImpactWarning) -> None:
    """:func:`warn`, the first time this process meets ``key`` only."""
    with _said_lock:
        if key in _said:
            return
        _said.add(key)
    warn(message, category)


def warn_estimates(
    domains: Iterable[_Estimated], notes: Sequence[str], world_average: str | None
) -> None:
    """Once per process each: a CPU or GPU whose energy is estimated, not metered (with the
    meters' note on why and how to fix it, when they gave one), and a world-average carbon
    intensity (``world_average``: how it came to be used, None when it was not)."""
    estimated = {str(d.component) for d in domains if str(d.quality) == "estimated"}
    for component in ESTIMATED_COMPONENTS:
        if component not in estimated:
            continue
        why = next((n for n in notes if n.lower().startswith(component)), None)
        warn_once(
            f"estimated {component}",
            why or f"{component.upper()} energy is estimated from its TDP, not measured",
            EstimateWarning,
        )
    if world_average is not None:
        warn_once("world average", f"carbon intensity: {world_average}", EstimateWarning)
