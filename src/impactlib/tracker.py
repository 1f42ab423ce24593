"""The public tracker: start, stop, read the figures; the record is saved as it goes.

A :class:`Tracker` wires the parts together and owns only the run's lifecycle: it takes its
measurement from the shared sampler, which hands it the samples and asks it to checkpoint the
record every ``save_interval`` (so a ``kill -9`` loses at most that); it prices the per-minute
energy at the end, and finishes the record with its status on ``stop()``, on exceptions, on
SIGTERM/SIGINT and at interpreter exit.
Nothing here may raise into the user's program once measuring has started: failures are
logged and recorded.
"""

from __future__ import annotations

import atexit
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, TypeVar

from . import identity
from .attribution import ranks
from .attribution.shares import apply_priors
from .attribution.window import Measurement
from .carbon.base import EnergyBucket
from .config import Config, load_config
from .errors import ImpactError
from .footprint import CarbonInfo, Footprint
from .log import log
from .sampling import shared_sampler
from .store import RunRecord, SeriesRow, Store, open_store
from .units import j_to_kwh

F = TypeVar("F", bound=Callable[..., Any])

_active: set[Tracker] = set()
_active_lock = threading.Lock()


def _iso(wall_ns: int) -> str:
    return datetime.fromtimestamp(wall_ns / 1e9, tz=timezone.utc).isoformat(timespec="milliseconds")


@functools.lru_cache(maxsize=8)  # consecutive checkpoints write the same few minutes
def _minute_iso(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, tz=timezone.utc).isoformat(timespec="seconds")


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
        from .carbon.location import resolve_zone
        from .carbon.select import static_series

        self.config = config
        self.zone, self.located_by = resolve_zone(config)
        # Fails at init(), not after hours of training, on a bad zone; checkpoints price with it.
        static = static_series(self.zone)
        self._provisional = CarbonInfo(
            static.source,
            static.zone,
            static.points[0].g_per_kwh,
            f"provisional until the run ends: {static.detail}",
            None,
            self.located_by,
        )
        # new_process: the root is started after start() and given with attach()
        self._new_process = new_process
        self._scope_pid = scope_pid if scope_pid is not None or new_process else os.getpid()
        self._command = command if command is not None else identity.command_line()
        self._store = store
        self.run_id = os.urandom(16).hex()  # 128 random bits, as uuid4 (without importing uuid)
        self.status = "created"
        self._measurement: Measurement | None = None
        self._role: ranks.RankRole | None = None
        self._series_from: int | None = None  # the oldest minute a checkpoint rewrites
        self._epochs: list[float] = []
        self._footprint: Footprint | None = None
        self._lock = threading.RLock()
        self._warnings: list[str] = []
        self.model: dict[str, Any] = {}  # model metrics and task metrics logged for this run

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> Tracker:
        """Begin measuring (idempotent while running)."""
        with self._lock:
            if self.status == "running":
                return self
            self._role = ranks.claim()
            if not self._role.leader:
                log.info("impactlib: another rank of job %s measures this node", self._role.job_key)
                self.status = "follower"
                return self
            scope_pid: int | None = self._scope_pid
            if self.config.scope == "machine":
                scope_pid = None
            elif self._role.scope_pid is not None:
                scope_pid = self._role.scope_pid
            sampler = shared_sampler(self.config)
            self._warnings = list(sampler.meters.notes)
            if self._store is None:
                self._store = open_store(self.config)
            self._measurement = Measurement(sampler, self.config, scope_pid, self._new_process)
            try:  # idle floors remembered from earlier runs on this host
                apply_priors(self._measurement.accounts, self._store.floors(identity.host_name()))
            except ImpactError as exc:
                log.warning("impactlib: no remembered idle floors: %s", exc)
            sampler.subscribe(self._measurement, self.collect, self.config.save_interval)
            self.status = "running"
            self._pull()  # the baseline
            try:
                self._store.insert_run(self._new_record(), self.config.save_interval)
            except ImpactError:
                sampler.unsubscribe(self._measurement)
                self.status = "failed"
                raise
            with _active_lock:
                _active.add(self)
            _install_exit_hooks()
            return self

    def _new_record(self) -> RunRecord:
        assert self._measurement is not None
        now = _iso(self._measurement.first_wall_ns)
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
                "hardware": self._hardware(),
            },
        )

    def _device_names(self) -> dict[str, str]:
        assert self._measurement is not None
        names: dict[str, str] = {}
        for meter in self._measurement.sampler.meters.meters:
            device_names = getattr(meter, "device_names", None)
            if callable(device_names):
                names.update(device_names())
        return names

    def _hardware(self) -> str:
        """One line naming the hardware, for the record and the methods paragraph."""
        from collections import Counter

        from .planning.hardware import local_cpu_model

        assert self._measurement is not None
        m = self._measurement
        parts = [
            f"CPU {local_cpu_model(self.config.procfs_root) or 'unknown'} ({m.ncpus} logical CPUs)"
        ]
        gpus = Counter(self._device_names().values())
        if gpus:
            parts.append("GPU " + ", ".join(f"{n} x {name}" for name, n in gpus.items()))
        if m.total_memory:
            parts.append(f"{m.total_memory / 1e9:.1f} GB memory")
        return "; ".join(parts)

    # -- called by the sampler ---------------------------------------------------------
    def collect(self) -> None:
        """Checkpoint time: account the samples taken since the last one and save."""
        with self._lock:
            if self._pull():
                self._save("running", final=False)

    def _pull(self, fresh: bool = False) -> bool:
        """Account every sample the sampler holds for this run (lock held); ``fresh``:
        figures up to now (see ``Sampler.take``)."""
        if self._measurement is None or self.status != "running":
            return False
        self._measurement.consume(self._measurement.sampler.take(self._measurement, fresh))
        return True

    def flush(self) -> Footprint | None:
        """Save the current figures now (the run keeps going)."""
        with self._lock:
            if self._pull(fresh=True):
                self._save("running", final=False)
            return self._footprint

    def attach(self, pid: int) -> None:
        """Measure ``pid`` (a process started after ``start()``) and its descendants."""
        with self._lock:
            if self._measurement is not None and self.config.scope != "machine":
                self._measurement.attach(pid)

    def account_exit(self, root_cpu_s: float) -> None:
        """Give the exit rusage of the tracked root process (``impactlib run``)."""
        with self._lock:
            if self._measurement is not None and self.status == "running":
                self._measurement.account_exit(root_cpu_s)

    def stop(self, status: str = "completed") -> Footprint | None:
        """Stop measuring, price the energy, and finish the record with ``status``."""
        with self._lock:
            if self.status == "follower" and self._role is not None:
                self._role.release()
                self.status = "stopped"
                return None
            if self.status != "running" or self._measurement is None:
                return self._footprint
            self._measurement.consume(self._measurement.sampler.unsubscribe(self._measurement))
            self.status = status
            with _active_lock:
                _active.discard(self)
            self._save(status, final=True)
            self._measurement.close()
            if self._role is not None:
                self._role.release()
            return self._footprint

    # -- figures -----------------------------------------------------------------------
    def _series(self, final: bool) -> tuple[dict[tuple[int, str], float], list[SeriesRow]]:
        """The per-minute energy to write: every minute at the end (when the final idle
        floor is known), else the minutes since the previous checkpoint (finished minutes
        barely change meanwhile, and a checkpoint must not cost more as a run grows)."""
        assert self._measurement is not None
        by_minute = self._measurement.minute_series(None if final else self._series_from)
        if by_minute:
            self._series_from = max(minute for minute, _ in by_minute)
        rows = [
            SeriesRow(self.run_id, _minute_iso(minute), component, joules)
            for (minute, component), joules in sorted(by_minute.items())
        ]
        return by_minute, rows

    def _build_footprint(
        self, final: bool, by_minute: dict[tuple[int, str], float] | None = None
    ) -> Footprint:
        assert self._measurement is not None
        m = self._measurement
        components = m.components()
        warnings = list(self._warnings)
        if self.zone == "WORLD":
            warnings.append(f"carbon intensity: {self.located_by}")
        if final:
            kg, carbon = self._price(by_minute or m.minute_series(), warnings)
            embodied_kg, embodied_note = self._embodied(m)
        else:
            kg, carbon = self._provisional_price(sum(c.energy_j for c in components))
            embodied_kg, embodied_note = None, ""
        return Footprint(
            run_id=self.run_id,
            scope=m.scope,
            idle_policy=m.policy,
            started_at=_iso(m.first_wall_ns),
            ended_at=_iso(m.last_wall_ns) if final else None,
            duration_s=m.duration_s,
            components=components,
            pue=self.config.pue,
            emissions_kg=kg,
            carbon=carbon,
            cpu_hours=m.scope_cpu_s / 3600.0,
            gpu_hours=m.gpu_seconds / 3600.0,
            peak_memory_bytes=m.peak_rss,
            embodied_kg=embodied_kg,
            embodied_note=embodied_note,
            warnings=tuple(warnings),
        )

    def _price(
        self, by_minute: dict[tuple[int, str], float], warnings: list[str]
    ) -> tuple[float, CarbonInfo | None]:
        """The final price: live intensity where configured, time-aligned per minute."""
        from .carbon.select import price_run

        assert self._measurement is not None
        m = self._measurement
        per_minute: dict[int, float] = {}
        for (minute, _), joules in by_minute.items():
            per_minute[minute] = per_minute.get(minute, 0.0) + joules
        buckets = [
            EnergyBucket(datetime.fromtimestamp(minute * 60, tz=timezone.utc), joules)
            for minute, joules in sorted(per_minute.items())
        ]
        start = datetime.fromtimestamp(m.first_wall_ns / 1e9, tz=timezone.utc)
        end = datetime.fromtimestamp(m.last_wall_ns / 1e9, tz=timezone.utc)
        try:
            return price_run(buckets, self.config, self.zone, self.located_by, start, end)
        except Exception as exc:  # pricing must never lose the measured energy
            warnings.append(f"emissions not priced: {exc}")
            return 0.0, None

    def _provisional_price(self, energy_j: float) -> tuple[float, CarbonInfo]:
        """Checkpoints never touch the network: the static annual value, one number for
        the whole year, so the total energy prices exactly what the minutes would."""
        carbon = self._provisional
        return j_to_kwh(energy_j) * self.config.pue * carbon.mean_g_per_kwh / 1000.0, carbon

    def _embodied(self, m: Measurement) -> tuple[float | None, str]:
        try:
            from .embodied import embodied_for_run
        except ImportError:
            return None, ""
        try:
            names = self._device_names()
            gpu_names = [
                names.get(a.domain.id, a.domain.id)
                for a in m.accounts.values()
                if a.domain.component == "gpu" and a.total.dt_busy > 0
            ]
            return embodied_for_run(
                duration_s=m.duration_s,
                gpu_hours=m.gpu_seconds / 3600.0,
                gpus=gpu_names,
                cpu_share=m.scope_cpu_s / max(m.duration_s * m.ncpus, 1e-9),
                config=self.config,
            )
        except Exception as exc:
            return None, f"embodied not computed: {exc}"

    def _save(self, status: str, final: bool) -> None:
        try:
            assert self._store is not None and self._measurement is not None
            by_minute, series = self._series(final)
            self._footprint = self._build_footprint(final, by_minute)
            self._store.checkpoint(self.run_id, status, self._footprint, series, self._epochs)
            if final:
                self._store.save_floors(identity.host_name(), self._measurement.floors_w())
        except Exception as exc:
            log.warning("impactlib: could not save run %s: %s", self.run_id, exc)

    @property
    def footprint(self) -> Footprint | None:
        """The full result (per-component energy with method, scope, quality, provenance)."""
        with self._lock:
            if self._pull(fresh=True):
                return self._build_footprint(final=False)
            return self._footprint

    @property
    def energy_consumption(self) -> float:
        """Energy charged to the tracked scope, in kWh, PUE included."""
        fp = self.footprint
        return fp.energy_kwh if fp else 0.0

    @property
    def carbon_emissions(self) -> float:
        """Operational emissions in kg CO2e (embodied emissions are reported separately)."""
        fp = self.footprint
        return fp.emissions_kg if fp else 0.0

    # -- extras ------------------------------------------------------------------------
    def epoch_end(self) -> None:
        """Mark the end of a training epoch (used to predict a full training)."""
        fp = self.footprint
        if fp is not None:
            self._epochs.append(fp.energy_j)

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
        if self._store is not None and self.status not in ("created", "follower"):
            self._store.set_model(self.run_id, self.model)

    # -- context manager and decorator --------------------------------------------------
    def __enter__(self) -> Tracker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop(_status_for(exc))

    def __call__(self, func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            tracker = Tracker(self.config, store=self._store)
            with tracker:
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def _status_for(exc: BaseException | None) -> str:
    if exc is None:
        return "completed"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, SystemExit):
        return (
            "completed" if exc.code in (0, None) else "interrupted" if _by_signal(exc) else "failed"
        )
    return "failed"


def _by_signal(exc: SystemExit) -> bool:
    return isinstance(exc.code, int) and exc.code > 128


# -- process-wide hooks: finish every running record on the way out ---------------------
_hooks_installed = False


def _finish_all(status: str) -> None:
    with _active_lock:
        running = list(_active)
    for tracker in running:
        tracker.stop(status)


def _on_exit() -> None:
    _finish_all("completed")


def _on_sigterm(signum: int, frame: object) -> None:
    _finish_all("interrupted")
    # Exit as the signal would have, after the records are finished.
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_exit_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_on_exit)
    previous_hook = sys.excepthook

    def finish_then_report(
        exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        # An uncaught exception ends the program: finish the records before atexit would
        # wrongly call them completed.
        _finish_all(_status_for(exc))
        previous_hook(exc_type, exc, tb)

    sys.excepthook = finish_then_report
    if threading.current_thread() is threading.main_thread():
        try:
            if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                signal.signal(signal.SIGTERM, _on_sigterm)
        except (ValueError, OSError):
            pass


def init(**config: Any) -> Tracker:
    """Create a tracker from keyword settings, environment and configuration files.

    Raises :class:`~impactlib.errors.ConfigError` (one line naming the key, where it came
    from and the allowed values) on bad configuration; nothing is measured yet.
    """
    return Tracker(load_config(config))


def track(**config: Any) -> Tracker:
    """``with impactlib.track(project=...) as t:`` or ``@impactlib.track(...)``."""
    return init(**config)
