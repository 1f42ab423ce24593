"""One error tree for the whole package.

Every message is meant to be shown to a user as it is: one line that names the problem and
the fix. The CLI turns any :class:`ImpactError` into that line and exit code 2, with no
traceback, so raising one of these is how bad input is reported anywhere in the code.
"""

from __future__ import annotations


class ImpactError(Exception):
    """Base class: a problem the user can fix, described in one line."""


class ConfigError(ImpactError):
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


class StoreError(ImpactError):
    """The run store cannot be opened or written."""


class ProviderError(ImpactError):
    """A carbon-intensity provider failed (network, HTTP status, malformed answer)."""


class UsageError(ImpactError):
    """Bad input on the command line or to a public function."""
