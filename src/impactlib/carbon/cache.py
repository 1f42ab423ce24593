"""On-disk cache of provider answers, shared by every tracker on the machine.

Why on disk and shared: sixteen trackers finishing on one node should cost one request, not
sixteen, and a provider that is down should be asked once, not by every tracker in turn
(anchors §3 item 6). So both answers and *failures* are cached:

- an answer is stored under a hash of its URL and parameters, with a time-to-live chosen by
  the provider (long for settled history, minutes for recent data and forecasts);
- a failure is stored under the provider's base URL for :data:`FAILURE_TTL_S` (or the
  server's ``Retry-After``), and every request to that provider fails at once meanwhile.

Files are written with :func:`impactlib._files.atomic_write` (a temporary name moved into
place), so a reader in another process sees the old entry or the new one, never half a file.
A cache that cannot be read or written is skipped silently: caching must never break pricing.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._files import atomic_write
from ..config import Config
from ..errors import BudgetExhausted, HTTPStatusError, ImpactError, ProviderError
from .http import Budget, get_json

FAILURE_TTL_S = 300.0
MAX_RETRY_AFTER_S = 3600.0
_SUBDIR = "intensity-v1"


def default_cache_dir(config: Config) -> Path:
    """``config.cache_dir``, else the platform's user cache dir for impactlib."""
    if config.cache_dir:
        return Path(config.cache_dir).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("impactlib"))


class Cache:
    """JSON entries with an expiry time, one file each, safe to share between processes."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory / _SUBDIR if directory is not None else None

    def _path(self, key: str) -> Path | None:
        if self.directory is None:
            return None
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]
        return self.directory / f"{digest}.json"

    def _read(self, key: str) -> dict[str, Any] | None:
        path = self._path(key)
        if path is None:
            return None
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict) or entry.get("key") != key:
            return None
        if float(entry.get("expires", 0.0)) <= time.time():
            return None
        return entry

    def _write(self, key: str, entry: dict[str, Any], ttl_s: float) -> None:
        path = self._path(key)
        if path is None or ttl_s <= 0:
            return
        entry = {"key": key, "stored": time.time(), "expires": time.time() + ttl_s, **entry}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, json.dumps(entry))
        except (OSError, ImpactError):
            return  # read-only home, full disk...: run uncached rather than fail

    def get(self, key: str) -> Any | None:
        """The cached payload for ``key`` if present and fresh."""
        entry = self._read(key)
        return entry.get("payload") if entry is not None and "payload" in entry else None

    def put(self, key: str, payload: Any, ttl_s: float) -> None:
        """Store ``payload`` for ``ttl_s`` seconds."""
        self._write(key, {"payload": payload}, ttl_s)

    def failure(self, key: str) -> str | None:
        """The remembered failure message for ``key``, if one is still in force."""
        entry = self._read(key)
        return str(entry["failure"]) if entry is not None and "failure" in entry else None

    def put_failure(self, key: str, message: str, ttl_s: float) -> None:
        """Remember that ``key`` failed, so other trackers do not ask again for a while."""
        self._write(key, {"failure": message}, ttl_s)


@dataclass
class Fetcher:
    """What a provider needs to ask the network: timeout, shared budget and cache."""

    timeout_s: float
    budget: Budget
    cache: Cache
    requests: list[str] = field(default_factory=list)  # URLs actually fetched, for the record

    @staticmethod
    def from_config(config: Config, budget: Budget | None = None) -> Fetcher:
        """The fetcher for one priced run or one CLI command."""
        return Fetcher(
            timeout_s=config.network_timeout,
            budget=budget or Budget(),
            cache=Cache(default_cache_dir(config)),
        )

    def get_json(
        self,
        provider: str,
        base_url: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        ttl_s: float,
        check: Callable[[Any], None] | None = None,
    ) -> Any:
        """A JSON answer from cache or network; failures are remembered per ``base_url``.

        ``check`` validates the shape before the answer is cached, so a malformed answer is
        treated (and remembered) as a failure, not served from the cache for its TTL.
        Secrets in ``headers`` never reach the cache key or the files.
        """
        down_key = f"down {provider} {base_url}"
        remembered = self.cache.failure(down_key)
        if remembered is not None:
            raise ProviderError(f"{remembered} (remembered; not retried before it expires)")
        query = "&".join(f"{k}={v}" for k, v in sorted((params or {}).items()))
        key = f"get {provider} {base_url}{path}?{query}"
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        url = base_url.rstrip("/") + path
        self.requests.append(url)
        try:
            payload = get_json(
                provider,
                url,
                params=params,
                headers=headers,
                timeout_s=self.timeout_s,
                budget=self.budget,
            )
            if check is not None:
                check(payload)
        except HTTPStatusError as exc:
            if exc.status == 429 or exc.status >= 500:
                ttl = FAILURE_TTL_S
                if exc.retry_after_s is not None:
                    ttl = min(max(exc.retry_after_s, 1.0), MAX_RETRY_AFTER_S)
                self.cache.put_failure(down_key, str(exc), ttl)
            # Other 4xx (bad zone, refused key) depend on the request: not a provider outage.
            raise
        except BudgetExhausted:
            raise  # this run's own wait limit, not an outage: other trackers may still ask
        except ProviderError as exc:
            self.cache.put_failure(down_key, str(exc), FAILURE_TTL_S)
            raise
        self.cache.put(key, payload, ttl_s)
        return payload
