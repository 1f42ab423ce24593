"""Process-wide hooks that finish every running record on the way out.

A training script may end by returning, by an uncaught exception, by SIGTERM (a scheduler's
time limit) or by ``sys.exit``; each running tracker's record must end with the status that
says which, before the interpreter is gone. Under SLURM a SIGTERM is the scheduler ending the
job (``scancel``, the time limit, preemption): the record ends ``cancelled``, elsewhere
``interrupted``. The hooks are installed once, by the first
tracker that starts, and never replace a SIGTERM handler the program set itself. A ``with``
block ends its run the same way: :class:`RunContext`.
"""

from __future__ import annotations

import atexit
import enum
import os
import signal
import sys
import threading
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Protocol, TypeVar


class State(enum.Enum):
    """Where a tracker is in its life (apart from the status its record ends with)."""

    CREATED = "created"
    RUNNING = "running"
    FOLLOWING = "following"  # another rank of the job measures this node
    STOPPED = "stopped"


class Stoppable(Protocol):
    """What the hooks need of a tracker."""

    @property
    def placement(self) -> object | None:
        """Where a workload manager put the run (None outside one)."""

    def stop(self, status: str = "completed") -> object:
        """Finish the record with ``status``."""


_active: set[Stoppable] = set()
_active_lock = threading.Lock()
_installed = False


def register(tracker: Stoppable) -> None:
    """Finish ``tracker`` if the process ends while it runs."""
    with _active_lock:
        _active.add(tracker)
    _install()


def unregister(tracker: Stoppable) -> None:
    """``tracker`` has finished by itself."""
    with _active_lock:
        _active.discard(tracker)


def status_for(exc: BaseException | None) -> str:
    """The record status for a run that ended with ``exc`` (None: normally)."""
    if exc is None:
        return "completed"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, SystemExit):
        if exc.code in (0, None):
            return "completed"
        by_signal = isinstance(exc.code, int) and exc.code > 128
        return "interrupted" if by_signal else "failed"
    return "failed"


_Run = TypeVar("_Run", bound="RunContext")


class RunContext(ABC):
    """``with`` for what measures a run (a tracker, a training measured epoch by epoch):
    the block starts it, and its end stops it with the status that says how the block
    ended (:func:`status_for`)."""

    @abstractmethod
    def start(self: _Run) -> _Run:
        """Begin measuring."""

    @abstractmethod
    def stop(self, status: str = "completed") -> object:
        """Finish the record with ``status``."""

    def __enter__(self: _Run) -> _Run:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop(status_for(exc))


def _finish_all(status: str) -> None:
    with _active_lock:
        running = list(_active)
    for tracker in running:
        tracker.stop(status)


def _on_exit() -> None:
    _finish_all("completed")


def _sigterm_status() -> str:
    """What a SIGTERM means: a workload manager cancelling the job (a running tracker was
    placed by one: its ``placement``), or someone interrupting the run."""
    with _active_lock:
        placed = any(t.placement is not None for t in _active)
    return "cancelled" if placed else "interrupted"


def _on_sigterm(signum: int, frame: object) -> None:
    _finish_all(_sigterm_status())
    # Exit as the signal would have, after the records are finished.
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    atexit.register(_on_exit)
    previous_hook = sys.excepthook

    def finish_then_report(
        exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        # An uncaught exception ends the program: finish the records before atexit would
        # wrongly call them completed.
        _finish_all(status_for(exc))
        previous_hook(exc_type, exc, tb)

    sys.excepthook = finish_then_report
    if threading.current_thread() is threading.main_thread():
        try:
            if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                signal.signal(signal.SIGTERM, _on_sigterm)
        except (ValueError, OSError):
            pass
