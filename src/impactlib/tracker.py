"""The public tracker: start, stop, read the figures; the record is saved as it goes.

A :class:`Tracker` owns one run's lifecycle and nothing else. It takes a window on the shared
sampler (:mod:`impactlib.attribution.window`), which hands it the samples and asks it to
checkpoint the record every ``save_interval`` (so a ``kill -9`` loses at most that); at the
end it has the energy priced (:mod:`impactlib.carbon.pricing`), refines the host power model
from what it saw (:mod:`impactlib.attribution.power_model`) and finishes the record with its
status, also on exceptions, SIGTERM/SIGINT and interpreter exit (:mod:`impactlib._lifecycle`).

Nothing here may raise into the user's program once measuring has started, and problems of
the environment (a bad setting, an unwritable store, an unreadable power model) only warn:
the library never kills the training it watches. Wrong explicit arguments raise at once.
"""

from __future__ import annotations

import enum
import functools
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from . import _lifecycle, identity
from ._time import from_wall_ns, iso_utc, minute_iso
from .attribution import ranks
from .attribution.scope import CgroupScope, MachineScope, Scope, TreeScope, choose_scope
from .attribution.shares import Floor, apply_remembered_floors
from .attribution.window import Window
from .config import Config, load_config
from .errors import ImpactError, ImpactWarning, UnknownZoneError
from .footprint import Footprint
from .log import log
from .sampling import Sampler, shared_sampler
from .store import RunRecord, SeriesRow, Store, open_store
from .units import S_PER_H

if TYPE_CHECKING:
    from .slurm.job import SlurmJob

F = TypeVar("F", bound=Callable[..., Any])


class State(enum.Enum):
    """Where a tracker is in its life (apart from the status its record ends with)."""

    CREATED = "created"
    RUNNING = "running"
    FOLLOWING = "following"  # another rank of the job measures this node
    STOPPED = "stopped"


def _iso(wall_ns: int) -> str:
    return iso_utc(from_wall_ns(wall_ns))


_PACKAGE_DIR = os.path.dirname(__file__)


def _warn(message: str) -> None:
    """One warning (``warnings`` shows each message once), pointing at the user's line that
    led here rather than at impactlib's own code."""
    import sys
    import warnings

    level, frame = 1, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    warnings.warn(f"impactlib: {message}", ImpactWarning, stacklevel=level)


class Tracker:
    """Measures the energy and emissions of a process tree (default) or of the machine."""

    def __init__(
        self,
        config: Config,
        *,
        scope_pid: int | None = None,
        command: str | None = None,
        store: Store | None = None,
        new_process: bool = False,
    ) -> None:
        """``new_process``: the tree to measure is a command started after :meth:`start`
        and given with :meth:`attach`; ``scope_pid``: an existing process's tree (default:
        this process). The configuration's ``scope = "machine"`` overrides both."""
        from .carbon.location import resolve_zone
        from .carbon.pricing import ProvisionalPrice
        from .slurm.job import detect

        self.slurm = detect(os.environ)
        if self.slurm is not None and config.sources.get("idle_policy", "default") == "default":
            config = _allocation_policy(config)
        self.config = config
        self.scope: Scope = choose_scope(config.scope, pid=scope_pid, pending=new_process)
        if self.slurm is not None and scope_pid is None:
            self.scope = _job_scope(self.scope, config, self.slurm)
        self.zone, self.located_by = resolve_zone(config)
        # Fails at init(), not after hours of training, on a bad zone; checkpoints price with it.
        self._provisional = ProvisionalPrice.for_zone(self.zone, self.located_by)
        self._command = command if command is not None else identity.command_line()
        self._store = store
        self.run_id = os.urandom(16).hex()  # 128 random bits, as uuid4 (without importing uuid)
        self.state = State.CREATED
        self._window: Window | None = None
        self._sampler: Sampler | None = None
        self._role: ranks.RankRole = ranks.Single()
        self._series_from: int | None = None  # the oldest minute a checkpoint rewrites
        self._epochs: list[float] = []
        self._footprint: Footprint | None = None
        self._snapshot_at = 0.0  # monotonic time of the running footprint's last refresh
        self._lock = threading.RLock()
        self._warnings: list[str] = list(config.problems)
        self._power_model: Any = None
        self.model: dict[str, Any] = {}  # model metrics and task metrics logged for this run

    @property
    def status(self) -> str:
        """The tracker's state, by name (``created``, ``running``, ``following``, ``stopped``)."""
        return self.state.value

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> Tracker:
        """Begin measuring (idempotent while running)."""
        with self._lock:
            if self.state in (State.RUNNING, State.FOLLOWING):
                return self
            self._role = ranks.claim()
            if isinstance(self._role, ranks.Follower):
                self.state = State.FOLLOWING
                _warn(self._role.explanation())
                return self
            scope = self.scope
            if isinstance(self._role, ranks.Leader) and isinstance(scope, TreeScope):
                scope = TreeScope(self._role.scope_pid)  # every local rank is in its tree
            self._sampler = sampler = shared_sampler(self.config)
            self._warnings += sampler.meters.notes
            self._open_store()
            assert self._store is not None
            self._window = window = Window(sampler.meters, self.config, scope)
            self._apply_known_floors(window)
            sampler.subscribe(window, self.collect, self.config.save_interval)
            self.state = State.RUNNING
            self._pull()  # the baseline
            try:
                self._store.insert_run(self._new_record(window), self.config.save_interval)
            except ImpactError as exc:
                self._store_failed(exc)
                self._store.insert_run(self._new_record(window), self.config.save_interval)
            _lifecycle.register(self)
            return self

    def _open_store(self) -> None:
        if self._store is not None:
            return
        try:
            self._store = open_store(self.config)
        except ImpactError as exc:
            self._store_failed(exc)

    def _store_failed(self, exc: ImpactError) -> None:
        """The configured store cannot be used: keep measuring into a fallback one, and say
        where (the figures also stay on this object)."""
        from .store import open_fallback_store

        self._store = open_fallback_store()
        message = f"{exc}; this run is kept in {self._store.location} instead"
        self._warnings.append(message)
        _warn(message)

    def _apply_known_floors(self, window: Window) -> None:
        """Idle floors: the host power model's where it has them, then what earlier runs on
        this host observed (the window already holds the estimation models' own)."""
        from .attribution.power_model import load_power_model

        host = identity.host_name()
        model, problem = load_power_model(self.config, host)
        if problem:
            self._warnings.append(problem)
            _warn(problem)
        self._power_model = model
        if model is not None:
            floors: dict[str, Floor] = {}
            for domain_id in window.accounts:
                known = model.floor_w(domain_id)
                if known is not None:
                    floors[domain_id] = Floor(*known)
            window.set_known_floors(floors)
        assert self._store is not None
        try:
            apply_remembered_floors(window.accounts, self._store.floors(host))
        except ImpactError as exc:
            log.warning("impactlib: no remembered idle floors: %s", exc)

    def _new_record(self, window: Window) -> RunRecord:
        now = _iso(window.first_wall_ns)
        system = identity.system_info(
            self.config.procfs_root,
            window.ncpus,
            window.total_memory,
            self._gpu_names(window.accounts),
        )
        details: dict[str, Any] = {}
        if self.slurm is not None:
            details["slurm"] = _slurm_details(self.slurm, self.scope)
        return RunRecord(
            id=self.run_id,
            project=self.config.project,
            experiment=self.config.experiment,
            user=identity.current_user(),
            host=identity.host_name(),
            pid=os.getpid(),
            command=self._command,
            git_commit=identity.git_commit(),
            started_at=now,
            ended_at=None,
            updated_at=now,
            status="running",
            config={
                "values": self.config.public_dict(),
                "sources": dict(self.config.sources),
                "hardware": identity.hardware_line(system),
                "system": system,
                **details,
            },
        )

    def _gpu_names(self, domain_ids: Iterable[str]) -> list[str]:
        """Product names of the GPU domains among ``domain_ids``."""
        assert self._sampler is not None
        names: dict[str, str] = {}
        for meter in self._sampler.meters.meters:
            names.update(meter.device_names())
        return [names.get(d, d) for d in domain_ids if d.startswith("gpu:")]

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
                self._footprint = self._follower_footprint()
                self.state = State.STOPPED
                return self._footprint
            if self.state is not State.RUNNING or self._window is None or self._sampler is None:
                return self._footprint
            self._window.account(self._sampler.unsubscribe(self._window))
            self.state = State.STOPPED
            _lifecycle.unregister(self)
            self._learn_power_model(self._window)
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
                if self.state is State.FOLLOWING:
                    return self._follower_footprint()
                return self._footprint
            now = time.monotonic()
            if self._footprint is None or now - self._snapshot_at > self.config.interval / 2:
                self._pull(fresh=True)
                self._footprint = self._build_footprint(final=False)
                self._snapshot_at = now
            return self._footprint

    def _series(self, final: bool) -> tuple[dict[tuple[int, str], float], list[SeriesRow]]:
        """The per-minute energy to write: every minute at the end (when the final idle
        floor is known), else the minutes since the previous checkpoint (finished minutes
        barely change meanwhile, and a checkpoint must not cost more as a run grows)."""
        assert self._window is not None
        by_minute = self._window.minute_series(None if final else self._series_from)
        if by_minute:
            self._series_from = max(minute for minute, _ in by_minute)
        rows = [
            SeriesRow(self.run_id, minute_iso(minute), component, joules)
            for (minute, component), joules in sorted(by_minute.items())
        ]
        return by_minute, rows

    def _build_footprint(
        self, final: bool, by_minute: Mapping[tuple[int, str], float] | None = None
    ) -> Footprint:
        assert self._window is not None
        w = self._window
        components = w.components()
        warnings = list(self._warnings)
        if self.zone == "WORLD":
            warnings.append(f"carbon intensity: {self.located_by}")
        if final:  # pricing and embodied figures are only needed once, at the end
            from .carbon.pricing import price_final
            from .embodied import embodied_for

            per_minute: dict[int, float] = {}
            for (minute, _), joules in (by_minute or w.minute_series()).items():
                per_minute[minute] = per_minute.get(minute, 0.0) + joules
            priced = price_final(
                per_minute,
                self.config,
                self.zone,
                self.located_by,
                from_wall_ns(w.first_wall_ns),
                from_wall_ns(w.last_wall_ns),
            )
            kg, carbon = priced.kg, priced.carbon
            if priced.warning:
                warnings.append(priced.warning)
            embodied_kg, embodied_note = embodied_for(
                duration_s=w.duration_s,
                cpu_s=w.scope_cpu_s,
                ncpus=w.ncpus,
                gpu_hours=w.gpu_seconds / S_PER_H,
                gpus=lambda: self._gpu_names(
                    d for d, a in w.accounts.items() if a.total.dt_busy > 0
                ),
                config=self.config,
            )
            warnings += self._floor_warnings(w)
            assert self._sampler is not None
            warnings += self._sampler.meters.diagnostics()
        else:
            kg = self._provisional.kg(sum(c.energy_j for c in components), self.config.pue)
            carbon = self._provisional.carbon
            embodied_kg, embodied_note = None, ""
        return Footprint(
            run_id=self.run_id,
            scope=w.label,
            idle_policy=w.policy,
            started_at=_iso(w.first_wall_ns),
            ended_at=_iso(w.last_wall_ns) if final else None,
            duration_s=w.duration_s,
            components=components,
            pue=self.config.pue,
            emissions_kg=kg,
            carbon=carbon,
            cpu_hours=w.scope_cpu_s / S_PER_H,
            gpu_hours=w.gpu_seconds / S_PER_H,
            peak_memory_bytes=w.peak_rss,
            embodied_kg=embodied_kg,
            embodied_note=embodied_note,
            warnings=tuple(warnings),
        )

    @staticmethod
    def _floor_warnings(window: Window) -> list[str]:
        """A measured domain whose idle floor was not calibrated says so, and how to fix it:
        an observed floor may hold load; a learned one is only as good as the load it saw."""
        if isinstance(window.scope, MachineScope):
            return []  # the whole machine pays all of it: the floor changes nothing
        out = []
        for account in window.accounts.values():
            floor = account.floor
            if account.domain.quality != "measured":
                continue
            if floor.source == "observed":
                out.append(
                    f"{account.domain.id}: idle floor only observed ({floor.watts:.1f} W, the "
                    "lowest power seen); if the machine was never idle meanwhile it holds load, "
                    "and this run's share of idle power may be understated; "
                    "`impactlib calibrate` measures the host's idle power"
                )
            elif floor.source == "learned":
                out.append(
                    f"{account.domain.id}: idle floor learned from runs' own samples "
                    f"({floor.watts:.1f} W), not calibrated; "
                    "`impactlib calibrate` measures the host's idle power"
                )
        return out

    def _learn_power_model(self, window: Window) -> None:
        """Refine the host power model from this run's (power, busy CPUs) points where they
        span enough load to fit, and use a fresh fit for this run where it had none."""
        from .attribution.power_model import fit, merge, save_power_model

        learned = {}
        for domain_id, account in window.accounts.items():
            if account.points:
                model = fit(account.points, domain_id, "learned")
                if model is not None:
                    learned[domain_id] = model
        if not learned:
            return
        for domain_id, model in learned.items():
            account = window.accounts[domain_id]
            if account.known_floor is None:
                account.known_floor = Floor(model.idle_w, "learned")
        try:
            merged = merge(self._power_model, learned)
            save_power_model(merged, self.config)
        except (ImpactError, OSError) as exc:
            log.info("impactlib: power model not saved: %s", exc)

    def _follower_footprint(self) -> Footprint:
        """Zero figures that say why: the node leader's record holds this rank's energy."""
        assert isinstance(self._role, ranks.Follower)
        now = _iso(time.time_ns())
        return Footprint(
            run_id=self.run_id,
            scope="follower",
            idle_policy=self.config.idle_policy,
            started_at=now,
            ended_at=None,
            duration_s=0.0,
            components=(),
            pue=self.config.pue,
            emissions_kg=0.0,
            carbon=None,
            warnings=(self._role.explanation(),),
        )

    def _save(self, status: str, final: bool) -> None:
        """Build the footprint (kept on this object whatever happens) and write it."""
        assert self._store is not None and self._window is not None
        try:
            by_minute, series = self._series(final)
            self._footprint = self._build_footprint(final, by_minute)
        except Exception:  # a bug of ours: say so loudly, never kill the training
            log.exception("impactlib: could not compute the figures of run %s", self.run_id)
            return
        try:
            self._store.checkpoint(self.run_id, status, self._footprint, series, self._epochs)
            if final:
                self._store.save_floors(identity.host_name(), self._window.observed_floors_w())
        except (ImpactError, OSError) as exc:
            log.warning("impactlib: could not save run %s: %s", self.run_id, exc)
        except Exception:
            log.exception("impactlib: could not save run %s", self.run_id)

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
        from .planning.modelmetrics import model_metrics

        self.model.update(model_metrics(model, example_input, **kwargs))
        self._save_model()
        return dict(self.model)

    def log_metrics(self, **metrics: float) -> None:
        """Attach task performance (accuracy, Dice...) to this run, for PePR and reports."""
        self.model.setdefault("metrics", {}).update(metrics)
        self._save_model()

    def _save_model(self) -> None:
        if self._store is None or self.state in (State.CREATED, State.FOLLOWING):
            return
        try:
            self._store.set_model(self.run_id, self.model)
        except (ImpactError, OSError) as exc:
            log.warning("impactlib: could not save the model of run %s: %s", self.run_id, exc)

    # -- context manager and decorator --------------------------------------------------
    def __enter__(self) -> Tracker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop(_lifecycle.status_for(exc))

    def __call__(self, func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            tracker = Tracker(self.config, store=self._store)
            with tracker:
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def _allocation_policy(config: Config) -> Config:
    """Under SLURM the job holds its allocation whether it uses it or not, so that is what
    idle power is split by, unless the user chose a policy."""
    from dataclasses import replace

    sources = {**config.sources, "idle_policy": "default under SLURM (the job's allocation)"}
    return replace(config, idle_policy="allocation", sources=sources)


def _job_scope(scope: Scope, config: Config, job: SlurmJob) -> Scope:
    """The job's cgroup on this node, where one is found and the user did not choose the
    scope: it holds every process of the job, descendants of this process or not."""
    from .slurm.cgroup import find_job_cgroup

    if isinstance(scope, MachineScope) or config.sources.get("scope", "default") != "default":
        return scope
    found = find_job_cgroup(job, config.procfs_root, config.cgroup_root)
    if found is None:
        return scope
    return CgroupScope(
        found.cpu_file, found.version, found.memory_file, found.cpus, found.memory_bytes
    )


def _slurm_details(job: SlurmJob, scope: Scope) -> dict[str, Any]:
    """The ``config["slurm"]`` of a record: the job's identity and, when measured by its
    cgroup, which one and what the job held."""
    details: dict[str, Any] = job.to_dict()
    if isinstance(scope, CgroupScope):
        details["cgroup"] = {
            "cpu_file": scope.cpu_file,
            "version": scope.version,
            "cpus": scope.cpus,
            "memory_bytes": scope.memory_bytes,
        }
    return details


_LOCATION_KEYS = ("country", "region", "zone")


def init(**config: Any) -> Tracker:
    """Create a tracker from keyword settings, environment and configuration files.

    Wrong keyword arguments raise ``ValueError`` (:class:`~impactlib.errors.ConfigError`)
    at once. Problems of the environment (a configuration file, an ``IMPACTLIB_*``
    variable) never stop the program: each gives one warning, the setting falls back to
    the next layer's value, and the record says so.
    """
    effective = load_config(config, lenient=True)
    for problem in effective.problems:
        _warn(problem)
    try:
        return Tracker(effective)
    except UnknownZoneError as exc:
        if any(effective.sources.get(k) == "argument" for k in _LOCATION_KEYS):
            raise
        problem = f"{exc}; carbon intensity is located without it"
        _warn(problem)
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
        return Tracker(located)


def track(**config: Any) -> Tracker:
    """``with impactlib.track(project=...) as t:`` or ``@impactlib.track(...)``."""
    return init(**config)
