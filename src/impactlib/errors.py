"""One error tree for the whole package.

Every message is meant to be shown to a user as it is: one line that names the problem and
the fix. The CLI turns any :class:`ImpactError` into that line and exit code 2, with no
traceback, so raising one of these is how bad input is reported anywhere in the code.

Errors that describe a wrong *value* (:class:`ConfigError`, :class:`UsageError`) are also
:class:`ValueError`, so that ``impactlib.init(pue=0.5)`` fails the way any Python call with a
bad argument does and code written against the standard exceptions catches it. Problems the
library meets in its environment (a stray config file, a bad ``IMPACTLIB_*`` variable, a store
that cannot be opened) are not raised at a training script: they become one
:class:`ImpactWarning` and measurement goes on.
"""

from __future__ import annotations


class ImpactError(Exception):
    """Base class: a problem the user can fix, described in one line."""


class ConfigError(ImpactError, ValueError):
    """An invalid configuration value (names the file or variable, the key and what is allowed)."""


class UnknownZoneError(ConfigError):
    """A country, region or zone that no bundled table or provider knows."""


class MeterError(ImpactError):
    """A hardware meter could not be read."""


class MeterUnavailable(MeterError):
    """A meter that cannot be used here; ``reason`` says why and ``fix`` what would enable it."""

    def __init__(self, meter: str, reason: str, fix: str = "") -> None:
        self.meter = meter
        self.reason = reason
        self.fix = fix
        text = f"{meter}: {reason}"
        super().__init__(f"{text}; fix: {fix}" if fix else text)


class MeterFailed(MeterUnavailable):
    """Hardware that is here (its driver answers, or it was found) but cannot be read.

    Kept apart from hardware that is absent or belongs to another job because its energy
    is *missing* from every record made here, which the record must say.
    """


class StoreError(ImpactError):
    """The run store cannot be opened or written."""


class ProviderError(ImpactError):
    """A carbon-intensity provider failed (network, HTTP status, malformed answer)."""


class HTTPStatusError(ProviderError):
    """A non-2xx answer; ``retry_after_s`` is the server's Retry-After (seconds) when given.

    Kept apart from other provider failures because only some statuses (429, 5xx) mean the
    provider is down for everybody and may be remembered as an outage.
    """

    def __init__(self, message: str, status: int, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


class BudgetExhausted(ProviderError):
    """The run's network time budget was used up before a request could be made.

    Says nothing about the provider's health, so it is never remembered as an outage.
    """


class UsageError(ImpactError, ValueError):
    """Bad input on the command line or to a public function."""


class ImpactWarning(UserWarning):
    """A problem in the environment that the library worked around (what was used instead).

    Its own category so that users can filter it (``warnings.simplefilter("error",
    impactlib.ImpactWarning)`` in a test suite) without touching other warnings.
    """


class EstimateWarning(ImpactWarning):
    """A figure rests on an estimate where a user may expect a measurement: a CPU or GPU
    modelled from its TDP, the world-average carbon intensity.

    A category of its own because the CLI's run summary already says it (``impactlib run``
    filters it out), and a user who has accepted the estimate can silence just this.
    """


class BudgetWarning(ImpactWarning):
    """A project has used the set share of its budget (``budget_warn_share``, 80 % by
    default): said once per process and budget, when a tracker starts.

    A category of its own so that a lab that knows can silence just this one.
    """
