"""The store that keeps one run: the configured store or, once that fails, a fallback store.

A tracker must never report a run as saved where it is not, and never stop measuring because
of its store (the library never kills the training it watches). :class:`RunKeeper` is where
both hold: it opens the configured store (checking a SQLite file's integrity), creates the
run's record, writes its checkpoints, and, when the store cannot be opened, cannot take the
record, or fails by the end of the run (a server gone, a disk full), moves the whole run to a
fallback store (:func:`~impactlib.store.fallback.open_fallback_store`) and says where, once,
through the ``say`` it was given. :attr:`RunKeeper.location` is therefore the store that
actually holds the run, which is what a "saved to" line (``impactlib run``'s summary) names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .. import identity
from .._time import from_wall_ns, iso_utc, minute_iso
from ..attribution.summary import gpu_names
from ..errors import ImpactError
from ..log import log
from . import open_store
from .budget_use import warn_when_passed
from .fallback import open_fallback_store
from .records import RunRecord, SeriesRow, starting_record

if TYPE_CHECKING:
    from ..attribution.scope import Placement
    from ..attribution.window import Window
    from ..config import Config
    from ..footprint import Component, Footprint
    from ..meters import MeterSet
    from .base import Store

MinuteSeries = Mapping[tuple[int, "Component"], float]


class RunKeeper:
    """Keeps one run's record; ``store``: the store to use (default: the configured one,
    opened by :meth:`open`); ``say``: tells the user a problem, in one line."""

    def __init__(
        self, config: Config, run_id: str, store: Store | None, say: Callable[[str], None]
    ) -> None:
        self.store = store
        self._config = config
        self._run_id = run_id
        self._say = say
        self._record: RunRecord | None = None  # set once the run's record is created
        self._series_from: int | None = None  # the oldest minute a checkpoint rewrites

    @property
    def location(self) -> str:
        """Where the run is kept, in words a message can quote."""
        return self.store.location if self.store is not None else "nowhere (not started)"

    def open(self) -> None:
        """Open the configured store, unless one was given or is open already."""
        if self.store is None:
            try:
                self.store = open_store(self._config, verify=True)
            except ImpactError as exc:
                self._replace(exc)

    def start(
        self, window: Window, meters: MeterSet, command: str, placement: Placement | None
    ) -> None:
        """Create the record of the run ``window`` measures (``placement``: where a workload
        manager put it); the machine is described now, at the run's start."""
        assert self.store is not None
        placed = placement.record if placement is not None else {}
        gpus = gpu_names(meters, window.accounts)
        procfs = self._config.procfs_root
        system = identity.system_info(procfs, window.ncpus, window.total_memory, gpus)
        started = iso_utc(from_wall_ns(window.first_wall_ns))
        self._record = starting_record(self._run_id, self._config, command, started, system, placed)
        try:
            self.store.insert_run(self._record, self._config.save_interval)
        except ImpactError as exc:
            self._replace(exc)
            self.store.insert_run(self._record, self._config.save_interval)
        warn_when_passed(self.store, self._config)  # the project's budget, once per process

    def floors(self, host: str) -> dict[str, float]:
        """The idle floors earlier runs saw on ``host`` (none when the store cannot say)."""
        assert self.store is not None
        try:
            return self.store.floors(host)
        except ImpactError as exc:
            log.warning("impactlib: no remembered idle floors: %s", exc)
            return {}

    def series(
        self, minute_series: Callable[[int | None], MinuteSeries], final: bool
    ) -> tuple[MinuteSeries, list[SeriesRow]]:
        """The per-minute energy to write, from the window's ``minute_series``: every minute
        at the end (when the final idle floor is known), else the minutes since the previous
        checkpoint (finished minutes barely change meanwhile, and a checkpoint must not cost
        more as a run grows)."""
        by_minute = minute_series(None if final else self._series_from)
        if by_minute:
            self._series_from = max(minute for minute, _ in by_minute)
        rows = [
            SeriesRow(self._run_id, minute_iso(minute), component, joules)
            for (minute, component), joules in sorted(by_minute.items())
        ]
        return by_minute, rows

    def save(
        self,
        status: str,
        footprint: Footprint,
        series: Sequence[SeriesRow],
        epochs: Sequence[float],
        floors_w: Mapping[str, float] | None = None,
    ) -> None:
        """Write a checkpoint; ``floors_w``, given at the run's end only: the lowest powers
        this run saw, remembered for the host. A checkpoint that fails is only logged (the
        next one may succeed); a store that fails at the end gets the whole run, every
        minute of it, moved to a fallback store."""
        assert self.store is not None
        try:
            self.store.checkpoint(self._run_id, status, footprint, series, epochs)
            if floors_w is not None:
                self.store.save_floors(identity.host_name(), floors_w)
        except (ImpactError, OSError) as exc:
            log.warning("impactlib: could not save run %s: %s", self._run_id, exc)
            if floors_w is not None and isinstance(exc, ImpactError):
                self._keep_in_fallback(exc, status, footprint, series, epochs)
        except Exception:
            log.exception("impactlib: could not save run %s", self._run_id)

    def set_model(self, model: Mapping[str, Any]) -> None:
        """Attach model and task metrics to the run, once its record exists."""
        if self.store is None or self._record is None:
            return
        try:
            self.store.set_model(self._run_id, model)
        except (ImpactError, OSError) as exc:
            log.warning("impactlib: could not save the model of run %s: %s", self._run_id, exc)

    def _replace(self, exc: ImpactError) -> None:
        """The store cannot be used: keep the run in a fallback store, and say where."""
        self.store = open_fallback_store()
        self._say(f"{exc}; this run is kept in {self.store.location} instead")

    def _keep_in_fallback(
        self,
        exc: ImpactError,
        status: str,
        footprint: Footprint,
        series: Sequence[SeriesRow],
        epochs: Sequence[float],
    ) -> None:
        assert self._record is not None
        self._replace(exc)
        assert self.store is not None
        try:
            self.store.insert_run(self._record, self._config.save_interval)
            self.store.checkpoint(self._run_id, status, footprint, series, epochs)
        except ImpactError as again:
            log.warning("impactlib: could not save run %s: %s", self._run_id, again)
