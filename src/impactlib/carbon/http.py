"""A small GET-JSON helper with a shared time budget, for the intensity providers.

Why not call httpx directly in each provider: every provider must obey the same rules so
that a tracked run never hangs on the network (anchors §3 item 6: parallel trackers timing
out one by one, then silently pricing with the wrong country). The rules are:

- ``httpx`` is imported here, inside the function, so ``import impactlib`` stays fast;
- each request gets ``min(timeout, what is left of the budget)``; a :class:`Budget` is
  shared by every request made to price one run, so the total wait is bounded;
- there is no retry: one failure is an answer, which the cache remembers (negative caching);
- every failure becomes one :class:`~impactlib.errors.ProviderError` whose message says what
  failed (timeout, refused connection, HTTP status, malformed JSON) in words a record can keep;
  a used-up budget is its own :class:`~impactlib.errors.BudgetExhausted`, which is not a
  provider failure and must not be remembered as one.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import BudgetExhausted, HTTPStatusError, ProviderError

# The network wait, in all, of the requests made to price one run or answer one command.
DEFAULT_BUDGET_S = 4.0
# Below this much remaining budget a request is not worth starting: it could only time out.
_MIN_USEFUL_S = 0.05
_USER_AGENT = "impactlib (carbon intensity; +https://github.com/impactlib)"


@dataclass
class Budget:
    """Seconds of network wait allowed in total, shared by a sequence of requests."""

    total_s: float = DEFAULT_BUDGET_S
    _deadline: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.total_s

    def remaining(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self._deadline - time.monotonic())


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:  # an HTTP date: not worth parsing, the default back-off applies
        return None


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def get_json(
    provider: str,
    url: str,
    *,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout_s: float,
    budget: Budget,
) -> Any:
    """GET ``url`` and parse JSON, or raise :class:`ProviderError` naming what went wrong.

    ``provider`` prefixes messages (``"gb: timed out after 2.0 s"``). A body-level error of
    a JSON API (HTTP 4xx/5xx with ``{"message": ...}`` or ``{"error": ...}``) is quoted.
    """
    remaining = budget.remaining()
    if remaining < _MIN_USEFUL_S:
        raise BudgetExhausted(f"{provider}: network budget of {budget.total_s:g} s used up")
    wait = min(timeout_s, remaining)
    import httpx  # lazy: keeps `import impactlib` free of the HTTP stack

    all_headers = {"Accept": "application/json", "User-Agent": _USER_AGENT}
    all_headers.update(headers or {})
    try:
        response = httpx.get(
            url,
            params=dict(params or {}),
            headers=all_headers,
            timeout=httpx.Timeout(wait),
            follow_redirects=True,
        )
    except httpx.TimeoutException as exc:
        raise ProviderError(f"{provider}: no answer within {wait:.1f} s from {url}") from exc
    except httpx.HTTPError as exc:
        reason = _short(str(exc)) or type(exc).__name__
        raise ProviderError(f"{provider}: cannot reach {url} ({reason})") from exc
    if response.status_code >= 400:
        detail = _error_detail(response.text)
        status = f"HTTP {response.status_code} {response.reason_phrase}".strip()
        raise HTTPStatusError(
            f"{provider}: {status} from {url}" + (f" ({detail})" if detail else ""),
            response.status_code,
            _retry_after(response.headers.get("Retry-After")),
        )
    if not response.content.strip():
        raise ProviderError(f"{provider}: empty answer from {url}")
    try:
        return response.json()
    except ValueError as exc:
        raise ProviderError(
            f"{provider}: malformed JSON from {url} ({_short(response.text, 60)!r})"
        ) from exc


def _error_detail(body: str) -> str:
    """The message of a JSON error body, else a short excerpt of the text."""
    import json

    try:
        parsed = json.loads(body)
    except ValueError:
        return _short(body, 80)
    if isinstance(parsed, dict):
        for key in ("message", "error", "detail"):
            value = parsed.get(key)
            if isinstance(value, str) and value:
                return _short(value, 120)
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return _short(value["message"], 120)
    return _short(body, 80)
