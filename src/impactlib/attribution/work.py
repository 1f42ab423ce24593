"""What a run did beside drawing power: the units of work it counted and its steady-state
windows, kept with its model and task metrics in the record's ``model`` field.

A lab decides per unit of work (a segmented MRI volume, a served request, a training
sample), so a run counts them (:meth:`RunWork.count`: ``tracker.count(n, unit="volumes")``,
the integrations' samples, ``impactlib count``) and every report divides its figures by them
(:mod:`impactlib.report.figures`). Counting is on the hot path of a training loop: it adds
to a dictionary under a lock and nothing more; the counts reach the store with the run's
next checkpoint (:meth:`RunWork.save`), so a ``kill -9`` loses what a checkpoint would.

A :class:`SteadyWindow` is ML.ENERGY's method for serving: energy over a steady-state part
of the run (warm-up and tear-down left out) divided by the units processed in it. It is a
second accounting view of the run's own samples: an inner :class:`~.window.Window` on the
same scope, subscribed to the same sampler while it is open (no sampling of its own). Its
energy is split into dynamic and idle with the run's idle floors, at each checkpoint that
stores it (the run's samples accounted then) and finally with the run's final floors, so
its split reads as the run's does.

Stored layout (energies in J before PUE, as a footprint's components)::

    model["units"] = {"volumes": 10000}
    model["windows"] = [{"name": "serve", "started_at": ..., "ended_at": ...,
                         "duration_s": 60.0, "dynamic_j": ..., "idle_j": ...,
                         "units": {"requests": 1200}, "complete": true}]

Nothing here raises into the user's program once measuring has started, except a wrong
explicit argument (a negative count, a unit that is not a word), at once. Lock order, as the
tracker's: a :class:`SteadyWindow`'s lock, then the sampler's, then the inner window's;
:class:`RunWork`'s own lock is never held while another is taken.
"""

from __future__ import annotations

import math
import numbers
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from .._time import from_wall_ns, iso_utc
from ..config import Config
from ..errors import UsageError
from ..log import log
from ..notices import warn_once
from ..planning.modelmetrics import model_metrics
from ..sampling import Sampler
from .window import Window

UNITS_KEY = "units"  # model["units"]: unit -> count over the whole run
WINDOWS_KEY = "windows"  # model["windows"]: one stored window per closed window
DEFAULT_UNIT = "samples"
# A unit is one word (it names CSV columns and JSON keys): "volumes", "requests", "tokens".
_UNIT = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,39}")


def check_unit(unit: object) -> str:
    """``unit`` if it is a word of at most 40 letters, digits, ``_ . -``; else UsageError."""
    if not isinstance(unit, str) or not _UNIT.fullmatch(unit):
        raise UsageError(
            f"unit {unit!r} is not a word; name what was counted, e.g. volumes "
            "(letters, digits, '_', '.', '-'; at most 40)"
        )
    return unit


def check_count(n: object) -> float:
    """``n`` as a number of units done, finite and not negative (a NumPy scalar becomes a
    Python number, which JSON can store); else UsageError."""
    if isinstance(n, bool) or not isinstance(n, numbers.Real):
        raise UsageError(f"count {n!r} is not a number; give how many units were done, e.g. 32")
    value = int(n) if isinstance(n, numbers.Integral) else float(n)
    if not math.isfinite(value) or value < 0:
        raise UsageError(f"count {n!r}: give a finite number of units done, 0 or more")
    return value


def merged_units(model: Mapping[str, Any] | None, unit: str, n: float) -> dict[str, Any]:
    """``model`` with ``n`` more ``unit`` counted (``impactlib count`` on a stored run)."""
    out = dict(model or {})
    units = dict(out.get(UNITS_KEY) or {})
    units[unit] = _add(units.get(unit, 0), n)
    out[UNITS_KEY] = units
    return out


def _add(total: float, n: float) -> float:
    """Whole numbers stay integers (a count of samples reads ``640``, not ``640.0``)."""
    result = total + n
    return int(result) if isinstance(total, int) and isinstance(n, int) else result


class RunWork:
    """The record's ``model`` field of one run: model and task metrics, counts, windows.

    ``model`` is the tracker's own dictionary (``Tracker.model``); ``store`` writes it to
    the run's record (the keeper's ``set_model``, which waits for the record to exist).
    """

    def __init__(self, model: dict[str, Any], store: Callable[[Mapping[str, Any]], None]):
        self.model = model
        self._store = store
        self._units: dict[str, float] = {}
        self._open: list[SteadyWindow] = []
        self._closed: list[SteadyWindow] = []
        self._dirty = False
        self.finished = False  # the run's final record is written: no window opens now
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # writes of the model reach the store in order

    # -- what the user logs ----------------------------------------------------------------
    def count(self, n: float, unit: str = DEFAULT_UNIT) -> None:
        """``n`` more ``unit`` done, in the run and in every window open now."""
        n, unit = check_count(n), check_unit(unit)
        with self._lock:
            if self.finished:
                warn_once(
                    "count-after-end",
                    f"impactlib: {n} {unit} counted after the run ended are not stored; "
                    "count while the run is measured",
                )
                return
            self._units[unit] = _add(self._units.get(unit, 0), n)
            for window in self._open:
                window.units[unit] = _add(window.units.get(unit, 0), n)
            self._dirty = True

    def log_model(self, model: Any, example_input: Any = None, **kwargs: Any) -> dict[str, Any]:
        """Model metrics (parameters, size, FLOPs), stored at once."""
        metrics = model_metrics(model, example_input, **kwargs)
        with self._lock:
            self.model.update(metrics)
        self._write()
        return dict(self.model)

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        """Task metrics (accuracy, Dice...), stored at once."""
        with self._lock:
            self.model.setdefault("metrics", {}).update(metrics)
        self._write()

    def window(
        self, name: str, sampler: Sampler | None, run: Window | None, config: Config
    ) -> SteadyWindow:
        """A steady-state window on the run measured by ``run`` (None: not measured here)."""
        if not isinstance(name, str) or not name.strip():
            raise UsageError(f"window name {name!r}: give a name, e.g. tracker.window('serve')")
        return SteadyWindow(name.strip(), self, sampler, run, config)

    # -- kept by the tracker ---------------------------------------------------------------
    def save(self, final: bool) -> None:
        """At a checkpoint (the run's samples accounted): store the counts and windows if
        they changed. ``final``: the run ends: a window still open is closed where the run
        ended, marked incomplete, and every window is split with the run's final floors."""
        if final:
            with self._lock:
                self.finished = True
                still_open = list(self._open)
            for window in still_open:
                window.close(complete=False)
        with self._lock:
            dirty = self._dirty or (final and bool(self._closed))
        if dirty:
            self._write()

    def _opened(self, window: SteadyWindow) -> bool:
        with self._lock:
            if self.finished:
                return False
            self._open.append(window)
            return True

    def _closed_window(self, window: SteadyWindow, measured: bool) -> None:
        with self._lock:
            if window in self._open:
                self._open.remove(window)
            if measured:
                self._closed.append(window)
                self._dirty = True

    def _write(self) -> None:
        """Store the model with the counts and windows (a failure is only logged: the store's
        is the keeper's to report, ours must never kill the training)."""
        with self._write_lock:
            try:
                with self._lock:
                    if self._units:
                        self.model[UNITS_KEY] = dict(self._units)
                    if self._closed:  # split with the run's floors as they stand now
                        self.model[WINDOWS_KEY] = [w.stored() for w in self._closed]
                    snapshot = dict(self.model)
                    self._dirty = False
                self._store(snapshot)
            except Exception:
                log.exception("impactlib: could not store the run's counts and metrics")


class SteadyWindow:
    """``with tracker.window("serve"): ...``: the energy of a steady-state part of a run,
    per unit counted inside it (``tracker.count``), its idle share apart.

    Not measured (another rank of the job measures this node, or the run was not started
    or has ended): the block runs all the same and nothing is stored; the reason is logged.
    """

    def __init__(
        self,
        name: str,
        work: RunWork,
        sampler: Sampler | None,
        run: Window | None,
        config: Config,
    ) -> None:
        self.name = name
        self.units: dict[str, float] = {}  # counted while open (RunWork.count adds here)
        self._work = work
        self._sampler = sampler
        self._run = run
        self._config = config
        self._view: Window | None = None  # while open: subscribed to the sampler
        self._done: Window | None = None  # once closed: its accounts, split when stored
        self.complete = False  # closed by its block, not by the run's end
        self._lock = threading.Lock()

    def __enter__(self) -> SteadyWindow:
        with self._lock:
            if self._view is not None or self._done is not None:
                raise UsageError(f"window {self.name!r} is already open or closed; open a new one")
            if self._sampler is None or self._run is None or not self._work._opened(self):
                log.info(
                    "impactlib: window %r not measured: the run measures nothing here", self.name
                )
                return self
            try:
                self._view = self._run.inner(self._config)
                self._sampler.subscribe(self._view, self._collect, self._config.save_interval)
            except Exception:  # never stop the program for a window
                log.exception("impactlib: window %r not measured", self.name)
                self._view = None
                self._work._closed_window(self, measured=False)
        return self

    def _collect(self) -> None:
        """Checkpoint time (sampler thread): account the samples taken since the last one,
        so the inbox stays short (under the window's lock: a close at the same moment
        accounts its last samples after these, in tick order)."""
        with self._lock:
            view, sampler = self._view, self._sampler
            if view is not None and sampler is not None:
                view.account(sampler.take(view))

    def __exit__(self, *exc_info: object) -> None:
        """Closed by its block, however the block ended: complete."""
        self.close(complete=True)

    def close(self, complete: bool) -> None:
        """Account the window's last samples (one taken now); it is stored with the run's
        next checkpoint. ``complete``: closed by its block, not by the run's end.
        Idempotent."""
        with self._lock:
            view, self._view = self._view, None
            if view is None or self._sampler is None:
                return
            try:
                view.account(self._sampler.unsubscribe(view))
                self._done, self.complete = view, complete
            except Exception:  # a bug of ours: never kill the training
                log.exception("impactlib: window %r not stored", self.name)
            finally:
                view.close()  # its process tree's descriptors; the accounts stay
        self._work._closed_window(self, measured=self._done is not None)

    def stored(self) -> dict[str, Any]:
        """The window as stored: its charged energy split with the run's idle floors as
        they stand (the run's samples accounted up to its latest checkpoint), so that its
        dynamic and idle parts read as the run's, and with the run's final floors at its
        end."""
        view, run = self._done, self._run
        assert view is not None and run is not None
        for domain_id, account in view.accounts.items():
            run_account = run.accounts.get(domain_id)
            if run_account is not None:
                account.known_floor = run_account.floor
        parts = view.components()
        return {
            "name": self.name,
            "started_at": iso_utc(from_wall_ns(view.first_wall_ns)),
            "ended_at": iso_utc(from_wall_ns(view.last_wall_ns)),
            "duration_s": view.duration_s,
            "dynamic_j": sum(c.dynamic_j for c in parts),
            "idle_j": sum(c.idle_j for c in parts),
            "units": dict(self.units),
            "complete": self.complete,
        }
