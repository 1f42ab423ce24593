"""The signals ``impactlib run`` receives, passed on to its command, and what they say of how
the run ended.

Outside SLURM a signal is the command's business: it is forwarded, and the run ends with what
the command died of (SIGINT, SIGTERM, SIGHUP or SIGQUIT: ``interrupted``; SIGKILL:
``killed``). Ctrl-C reaches the command from the terminal itself, so SIGINT is forwarded only
when the terminal did not send it to the whole group.

Under SLURM (``SLURM_JOB_ID`` set) a SIGTERM is the scheduler ending the job (``scancel``, the
time limit, preemption), and the run ends ``cancelled``, with the time it ran up to the
signal. SLURM 22.05 signals only the batch shell, and the record must be finished in every
way that reaches ``impactlib run``:

* **exec'ed** (``exec impactlib run -- CMD``): ``impactlib run`` is the batch shell and gets
  the SIGTERM. It forwards it, gives the command :data:`CANCEL_GRACE_S` to end (its energy
  meanwhile counts), then finishes the record: SLURM's SIGKILL comes ``KillWait`` (30 s by
  default) after the SIGTERM.
* **a line of the script**: the shell dies of the SIGTERM and slurmstepd SIGKILLs every
  process left in the step moments later; ``impactlib run`` is never signalled. So it asks
  Linux (``PR_SET_PDEATHSIG``) for :data:`PARENT_DIED` when its parent dies, and then
  finishes the record at once, before forwarding SIGTERM to the command.
* **the whole step signalled** (``scancel --full``, ``--signal=B:TERM`` to a shell that
  passes it on, a time limit where the site signals every process): both of the above; the
  first to come decides, the parent's death finishing at once.

The parent-death signal is a real-time signal that nothing else sends, so that a SIGTERM
and the parent's death stay apart; it also comes when the *thread* that started
``impactlib run`` ends while its process goes on, which is therefore checked and ignored.

Time is short: on SLURM 22.05 the SIGKILL came 0.2 to 17 ms after the batch shell died
(measured with ``proctrack/cgroup``), while the first finish of a run imports the intensity
sources and the embodied tables (30 to 50 ms without bytecode caches). Under SLURM they are
therefore loaded when the command starts, and the parent's death finishes the record in the
handler itself (1 to 10 ms), in the main thread, which is then waiting for the command and
holds no lock. After the command was waited for, the main thread finishes the record itself
and the handlers leave it alone; a delayed finish (the grace) runs in a timer thread, which
the tracker's lock serialises with any other.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Protocol

from ..footprint import Status

FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
INTERRUPTS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT}
CANCEL_GRACE_S = 5.0  # well inside SLURM's KillWait (30 s by default)
PARENT_DIED = signal.SIGRTMIN + 1 if sys.platform.startswith("linux") else None
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class Finishable(Protocol):
    """What finishing a run needs of its tracker (``stop`` is idempotent and locked)."""

    def stop(self, status: str = "completed") -> object:
        """Finish the record with ``status``."""


def exit_status(code: int) -> Status:
    """The status of a run whose command ended with ``code`` (negative: killed by a signal)."""
    if code == 0:
        return Status.COMPLETED
    if code < 0:
        sig = -code
        if sig == signal.SIGKILL:
            return Status.KILLED
        return Status.INTERRUPTED if sig in INTERRUPTS else Status.FAILED
    return Status.FAILED


def ask_for_parent_death_signal(signum: int) -> bool:
    """Ask Linux to send ``signum`` to this process when its parent dies (False if refused)."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _terminal_sent_sigint() -> bool:
    """True when we are the terminal's foreground group: Ctrl-C reached the child too."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError):
        return False


class RunSignals:
    """The signal handlers of one ``impactlib run``, and what they learnt of its end."""

    def __init__(self, child_pid: int, tracker: Finishable, *, slurm: bool, parent: int) -> None:
        """``slurm``: a SIGTERM or the parent's death is the scheduler cancelling the job;
        ``parent``: the parent's pid when ``impactlib run`` started."""
        self.child_pid = child_pid
        self.tracker = tracker
        self.slurm = slurm
        self.parent = parent
        self.cancelled = False
        self._reaped = False
        self._finisher: threading.Timer | None = None

    def install(self) -> None:
        """Take over the signals (after the command started: there is someone to tell)."""
        for sig in (*FORWARDED, signal.SIGINT):
            signal.signal(sig, self._forward)
        if not self.slurm:
            return
        load_what_finishing_needs()
        signal.signal(signal.SIGTERM, self._cancel)
        if PARENT_DIED is None:
            return
        signal.signal(PARENT_DIED, self._parent_died)
        if ask_for_parent_death_signal(PARENT_DIED) and os.getppid() != self.parent:
            self._parent_died(PARENT_DIED, None)  # it died before the kernel could tell us

    def reaped(self) -> None:
        """The command has ended and was waited for: nothing more to forward or finish here."""
        self._reaped = True
        if self._finisher is not None:
            self._finisher.cancel()

    def status(self, code: int) -> Status:
        """How the run ended: cancelled if SLURM signalled it, else by the command's code."""
        if self.cancelled or (self.slurm and code == -signal.SIGTERM):
            return Status.CANCELLED
        return exit_status(code)

    def _send(self, signum: int) -> None:
        if not self._reaped:  # a reaped pid may already be someone else's
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.child_pid, signum)

    def _forward(self, signum: int, frame: object) -> None:
        if signum == signal.SIGINT and _terminal_sent_sigint():
            return
        self._send(signum)

    def _cancel(self, signum: int, frame: object) -> None:
        """SLURM's SIGTERM: the command ends, in a grace, unless the parent is gone too."""
        if self._reaped:
            return
        self.cancelled = True
        if os.getppid() != self.parent:
            self._finish_now()
            self._send(signal.SIGTERM)
        else:
            self._send(signal.SIGTERM)
            self._finish_later()

    def _parent_died(self, signum: int, frame: object) -> None:
        """The batch shell died (of SLURM's SIGTERM): slurmstepd's SIGKILL is near."""
        if self._reaped or os.getppid() == self.parent:
            return  # the thread that started us ended, not its process
        self.cancelled = True
        self._finish_now()
        self._send(signal.SIGTERM)

    def _finish_now(self) -> None:
        """Finish the record as cancelled, here (only ever called from a handler before the
        command was waited for: the main thread holds no lock of the tracker's)."""
        if self._finisher is not None:
            self._finisher.cancel()
        self.tracker.stop(Status.CANCELLED)

    def _finish_later(self) -> None:
        """Finish the record as cancelled after the grace, unless the command ends first."""
        if self._finisher is None:
            self._finisher = threading.Timer(
                CANCEL_GRACE_S, self.tracker.stop, args=(Status.CANCELLED,)
            )
            self._finisher.daemon = True
            self._finisher.start()


def load_what_finishing_needs() -> None:
    """Import now what the final figures import lazily (the intensity sources that pricing
    asks which zones they serve, the embodied tables): a short run never pays for them, but
    a cancelled batch job has milliseconds to finish its record."""
    from .. import embodied  # noqa: F401
    from ..carbon.select import REGISTRY

    for load in REGISTRY.values():
        load()
