"""The package's logger, imported on first use.

``logging`` takes about 20 ms to import on the machines we measured, more than a tracker's
whole start-up budget, and a run that goes well logs nothing; so modules log through
:data:`log`, which loads the real ``logging.getLogger("impactlib")`` the first time a
message is actually emitted.
"""

from __future__ import annotations

from typing import Any


class _Logger:
    """Forwards ``debug``/``info``/``warning``/``exception`` to the ``impactlib`` logger."""

    def __getattr__(self, name: str) -> Any:
        import logging

        return getattr(logging.getLogger("impactlib"), name)


log = _Logger()
