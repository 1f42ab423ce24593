"""The public tracker: start, stop, read the figures; the record is saved as it goes.

A :class:`Tracker` owns one run's lifecycle and nothing else. It takes a window on the shared
sampler (:mod:`impactlib.attribution.window`), which hands it the samples and asks it to
checkpoint the record every ``save_interval`` (so a ``kill -9`` loses at most that); at the
end it has the energy priced (:mod:`impactlib.carbon.pricing`), refines the host power model
from what it saw (:mod:`impactlib.attribution.floors`) and finishes the record with its
status, also on exceptions, SIGTERM/SIGINT and interpreter exit (:mod:`impactlib._lifecycle`).
The record is kept by a :class:`~impactlib.store.keeper.RunKeeper`: the configured store, or
the fallback store that replaced it, which is where a "saved to" line points.

Nothing here may raise into the user's program once measuring has started, and problems of
the environment (a bad setting, an unwritable store, an unreadable power model) only warn:
the library never kills the training it watches. Wrong explicit arguments raise at once.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from . import _lifecycle, identity
from ._lifecycle import RunContext, State
from .attribution import ranks, summary
from .attribution.floors import apply_known_floors, learn_floors
from .attribution.scope import CgroupScope, Placer, Scope, choose_scope
from .attribution.window import Window
from .attribution.work import DEFAULT_UNIT, RunWork, SteadyWindow
from .config import Config
from .footprint import Footprint
from .log import log
from .meters import MeterSettings
from .notices import warn as _warn
from .sampling import Sampler, shared_sampler
from .store import Store
from .store.keeper import MinuteSeries, RunKeeper

F = TypeVar("F", bound=Callable[..., Any])


class Tracker(RunContext):
    """Measures the energy and emissions of a process tree (default) or of the machine."""

    def __init__(
        self,
        config: Config,
        *,
        scope_pid: int | None = None,
        command: str | None = None,
        store: Store | None = None,
        new_process: bool = False,
        placer: Placer | None = None,
    ) -> None:
        """``new_process``: the tree to measure is a command started after :meth:`start`
        and given with :meth:`attach`; ``scope_pid``: an existing process's tree (default:
        this process). The configuration's ``scope = "machine"`` overrides both.
        ``placer``: where a workload manager placed the run (:data:`Placer`)."""
        from .carbon.location import locate
        from .carbon.pricing import ProvisionalPrice

        scope: Scope = choose_scope(config.scope, pid=scope_pid, pending=new_process)
        self._placer = placer
        self.placement = placer(config, scope, scope_pid is None) if placer else None
        if self.placement is not None:
            config, scope = self.placement.config, self.placement.scope
        self.config = config
        self.scope: Scope = scope
        self.location = locate(config)
        # Fails at init(), not after hours of training, on a bad zone; checkpoints price with it.
        self._provisional = ProvisionalPrice.for_location(self.location)
        self._command = command if command is not None else identity.command_line()
        self.run_id = os.urandom(16).hex()  # 128 random bits, as uuid4 (without importing uuid)
        self._keeper = RunKeeper(config, self.run_id, store, self._say)
        self.state = State.CREATED
        self._window: Window | None = None
        self._sampler: Sampler | None = None
        self._role: ranks.RankRole = ranks.Single()
        self._epochs: list[float] = []
        self._footprint: Footprint | None = None
        self._snapshot_at = 0.0  # monotonic time of the running footprint's last refresh
        self._lock = threading.RLock()
        self._warnings: list[str] = list(config.problems)
        self.model: dict[str, Any] = {}  # model and task metrics, units counted, windows
        self._work = RunWork(self.model, self._keeper.set_model)

    @property
    def status(self) -> str:
        """The tracker's state, by name (``created``, ``running``, ``following``, ``stopped``)."""
        return self.state.value

    @property
    def store_location(self) -> str:
        """Where this run's record is kept: the configured store, or the fallback store that
        replaced it when it failed (what a "saved to" line must name)."""
        return self._keeper.location

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> Tracker:
        """Begin measuring (idempotent while running)."""
        with self._lock:
            if self.state in (State.RUNNING, State.FOLLOWING):
                return self
            # Another tracker measuring this job's cgroup on this node already counts it.
            self._role = ranks.claim(whole_job=isinstance(self.scope, CgroupScope))
            if isinstance(self._role, ranks.Follower):  # zero figures that say why, fixed
                self.state = State.FOLLOWING
                explanation = self._role.explanation()
                self._footprint = summary.follower_footprint(
                    self.run_id, self.config.idle_policy, self.config.pue, explanation
                )
                _warn(explanation)
                return self
            self._sampler = sampler = shared_sampler(MeterSettings.of(self.config))
            self._warnings += sampler.meters.notes
            self._keeper.open()
            scope = ranks.measured_scope(self._role, self.scope)
            self._window = window = Window(sampler.meters, self.config, scope)
            summary.announce_limits(window, sampler.meters, self.location)
            if problem := apply_known_floors(window, self.config, self._keeper.floors):
                self._say(problem)
            sampler.subscribe(window, self.collect, self.config.save_interval)
            self.state = State.RUNNING
            self._pull()  # the baseline
            self._keeper.start(window, sampler.meters, self._command, self.placement)
            _lifecycle.register(self)
            return self

    def _say(self, problem: str) -> None:
        """Tell the user (once, at their line) and keep it with the run's warnings."""
        self._warnings.append(problem)
        _warn(problem)

    def attach(self, pid: int) -> None:
        """Measure ``pid`` (a command started after ``start()``) and its descendants."""
        with self._lock:
            if self._window is not None:
                self._window.attach(pid)

    def account_exit(self, root_cpu_s: float) -> None:
        """Give the exit rusage of the tracked root process (``impactlib run``)."""
        with self._lock:
            if self._window is not None and self.state is State.RUNNING:
                self._window.account_exit(root_cpu_s)

    # -- called by the sampler ---------------------------------------------------------
    def collect(self) -> None:
        """Checkpoint time: account the samples taken since the last one and save."""
        with self._lock:
            if self._pull():
                self._save("running", final=False)

    def _pull(self, fresh: bool = False) -> bool:
        """Account every sample the sampler holds for this run (lock held); ``fresh``:
        figures up to now (see ``Sampler.take``)."""
        if self._window is None or self._sampler is None or self.state is not State.RUNNING:
            return False
        self._window.account(self._sampler.take(self._window, fresh))
        return True

    def flush(self) -> Footprint | None:
        """Save the current figures now (the run keeps going)."""
        with self._lock:
            if self._pull(fresh=True):
                self._save("running", final=False)
            return self._footprint

    def stop(self, status: str = "completed") -> Footprint | None:
        """Stop measuring, price the energy, and finish the record with ``status``."""
        with self._lock:
            if self.state is State.FOLLOWING:
                self._role.release()
                self.state = State.STOPPED
                return self._footprint
            if self.state is not State.RUNNING or self._window is None or self._sampler is None:
                return self._footprint
            self._role.settle(self._warnings, status)  # a leader waits for the other ranks
            self._window.account(self._sampler.unsubscribe(self._window))
            self.state = State.STOPPED
            _lifecycle.unregister(self)
            learn_floors(self._window, self.config)
            self._save(status, final=True)
            self._window.close()
            self._role.release()
            return self._footprint

    # -- figures -----------------------------------------------------------------------
    def snapshot(self) -> Footprint | None:
        """The figures up to now: a running tracker takes the samples it has (and, where
        they would lag, one more); a stopped one returns its final footprint. Reads within
        half an interval of each other share one snapshot, so ``energy_consumption`` and
        ``carbon_emissions`` read together describe the same moment."""
        with self._lock:
            if self.state is not State.RUNNING:
                return self._footprint
            now = time.monotonic()
            if self._footprint is None or now - self._snapshot_at > self.config.interval / 2:
                self._pull(fresh=True)
                self._footprint = self._build_footprint(final=False)
                self._snapshot_at = now
            return self._footprint

    def _build_footprint(self, final: bool, by_minute: MinuteSeries | None = None) -> Footprint:
        assert self._window is not None and self._sampler is not None
        return summary.build_footprint(
            run_id=self.run_id,
            window=self._window,
            meters=self._sampler.meters,
            config=self.config,
            location=self.location,
            provisional=self._provisional,
            warnings=self._warnings,
            final=final,
            by_minute=by_minute,
        )

    def _save(self, status: str, final: bool) -> None:
        """Build the footprint (kept on this object whatever happens) and write it."""
        assert self._window is not None
        self._work.save(final)  # the counts and windows (at the end: closing those open)
        try:
            by_minute, series = self._keeper.series(self._window.minute_series, final)
            self._footprint = self._build_footprint(final, by_minute)
        except Exception:  # a bug of ours: say so loudly, never kill the training
            log.exception("impactlib: could not compute the figures of run %s", self.run_id)
            return
        floors_w = self._window.observed_floors_w() if final else None
        self._keeper.save(status, self._footprint, series, self._epochs, floors_w)

    @property
    def footprint(self) -> Footprint | None:
        """The full result (per-component energy with method, scope, quality, provenance)."""
        return self.snapshot()

    @property
    def energy_consumption(self) -> float:
        """Energy charged to the tracked scope, in kWh, PUE included."""
        fp = self.snapshot()
        return fp.energy_kwh if fp else 0.0

    @property
    def carbon_emissions(self) -> float:
        """Operational emissions in kg CO2e (embodied emissions are reported separately)."""
        fp = self.snapshot()
        return fp.emissions_kg if fp else 0.0

    # -- extras ------------------------------------------------------------------------
    def epoch_end(self) -> Footprint | None:
        """Mark the end of a training epoch (used to predict a full training); return the
        figures of this very moment, which the mark records."""
        with self._lock:
            self._snapshot_at = 0.0  # an epoch mark needs the figures of this very moment
            fp = self.snapshot()
            if fp is not None and self.state is State.RUNNING:
                self._epochs.append(fp.energy_j)
            return fp

    def log_model(self, model: Any, example_input: Any = None, **kwargs: Any) -> dict[str, Any]:
        """Compute model metrics (parameters, size, FLOPs) and attach them to this run."""
        return self._work.log_model(model, example_input, **kwargs)

    def log_metrics(self, **metrics: float) -> None:
        """Attach task performance (accuracy, Dice...) to this run, for PePR and reports."""
        self._work.log_metrics(metrics)

    def count(self, n: float, unit: str = DEFAULT_UNIT) -> None:
        """Count ``n`` more units of work done (samples, volumes, requests): reports give
        energy, CO2e and SCI per unit. Cheap: stored with the next checkpoint."""
        self._work.count(n, unit)

    def window(self, name: str) -> SteadyWindow:
        """``with tracker.window("serve"):`` measures a steady-state window of the run: its
        energy per unit counted inside it, idle share apart (:mod:`.attribution.work`)."""
        return self._work.window(name, self._sampler, self._window, self.config)

    # -- decorator (``with``: RunContext) -----------------------------------------------
    def __call__(self, func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            tracker = Tracker(self.config, store=self._keeper.store, placer=self._placer)
            with tracker:
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]
