"""A real HTTP server on 127.0.0.1 that replays provider answers and fails on demand.

Tests point ``IMPACTLIB_RTE_URL`` / ``IMPACTLIB_GB_URL`` / ``IMPACTLIB_ELECTRICITYMAPS_URL``
at it, so the providers go through httpx, sockets and JSON parsing exactly as in production.
Routes map a regular expression on the path to a file under ``tests/data/providers`` or to a
callable (for answers that must be relative to the current time). ``fail`` switches the
whole server into one failure mode:

``hang``       accept, then answer nothing for ``hang_s`` seconds (a read timeout);
``429``/``500`` that HTTP status with a JSON error body (``Retry-After`` on 429);
``malformed``  200 with a body that is not JSON;
``empty``      200 with an empty body.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

DATA = Path(__file__).parent / "data" / "providers"

Route = str | Callable[[str, dict[str, list[str]]], Any]


class ReplayServer:
    """Serve ``routes`` on an ephemeral port; use as a context manager."""

    def __init__(self, routes: dict[str, Route] | None = None) -> None:
        self.routes: dict[str, Route] = dict(routes or {})
        self.fail: str | None = None
        self.hang_s = 10.0
        self.retry_after: str | None = "120"
        self.status_for: dict[str, tuple[int, str]] = {}  # path regex -> (status, file)
        self.requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = []
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                server._handle(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> ReplayServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def paths(self) -> list[str]:
        """Paths requested so far, in order."""
        return [p for p, _, _ in self.requests]

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: bytes, **headers: str) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                h.send_header(name.replace("_", "-"), value)
            h.end_headers()
            h.wfile.write(body)
        except OSError:  # the client gave up (timeout test): nothing to do
            pass

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = parse_qs(parts.query)
        self.requests.append((parts.path, query, {k.lower(): v for k, v in h.headers.items()}))
        if self.fail == "hang":
            self._stop.wait(self.hang_s)
            return self._send(h, 200, b'{"data": []}')
        if self.fail == "429":
            extra = {"Retry_After": self.retry_after} if self.retry_after else {}
            return self._send(h, 429, b'{"message": "Too many requests"}', **extra)
        if self.fail == "500":
            return self._send(h, 500, b'{"error": "internal error"}')
        if self.fail == "malformed":
            return self._send(h, 200, b'{"data": [{"from": "2024-01-15T18:00Z", ')
        if self.fail == "empty":
            return self._send(h, 200, b"")
        for pattern, (status, name) in self.status_for.items():
            if re.fullmatch(pattern, parts.path):
                return self._send(h, status, (DATA / name).read_bytes())
        for pattern, route in self.routes.items():
            if re.fullmatch(pattern, parts.path):
                if callable(route):
                    body = json.dumps(route(parts.path, query)).encode()
                else:
                    body = (DATA / route).read_bytes()
                return self._send(h, 200, body)
        self._send(h, 404, b'{"error": "no such route in the replay server"}')


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


RTE_ROUTES: dict[str, Route] = {
    r"/api/explore/v2\.1/catalog/datasets/eco2mix-national-tr/records": "rte_tr_records.json",
    r"/api/explore/v2\.1/catalog/datasets/eco2mix-national-cons-def/records": (
        "rte_cons_def_records.json"
    ),
}
GB_ROUTES: dict[str, Route] = {
    r"/intensity/[^/]+/fw48h": "gb_national_fw48h.json",
    r"/intensity/[^/]+/[^/]+": "gb_national_range.json",
    r"/regional/intensity/[^/]+/fw48h/regionid/13": "gb_regional_fw48h_regionid_13.json",
    r"/regional/intensity/[^/]+/[^/]+/postcode/RG10": "gb_regional_range_postcode_RG10.json",
    r"/regional/regionid/13": "gb_regional_regionid_13.json",
}
EM_ROUTES: dict[str, Route] = {
    r"/v3/carbon-intensity/past-range": "em_past_range_DE.json",
    r"/v3/carbon-intensity/forecast": "em_forecast_DE.json",
    r"/v3/carbon-intensity/latest": "em_latest_FR.json",
}
ALL_ROUTES: dict[str, Route] = {**RTE_ROUTES, **GB_ROUTES, **EM_ROUTES}


KEY = "em-secret-key-123"  # the Electricity Maps key the recorded answers expect


def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No inherited IMPACTLIB_* settings; a private intensity cache and config dir."""
    import os

    for name in list(os.environ):
        if name.startswith("IMPACTLIB_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("IMPACTLIB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
