"""The local API: HTTP/1.0 with JSON bodies over the daemon's Unix socket.

Like zeusd's and Docker's, it is plain HTTP on an ``AF_UNIX`` socket (stdlib ``http.server``
with a thread per connection: a handful of requests a minute per tracker need nothing more,
and ``import impactlib`` stays light). Unlike zeusd's, the answer depends on who asks:
the kernel's peer credentials (``SO_PEERCRED``) of each connection say which uid is on the
other end, so the socket file can be connectable by every local user (mode 0666) while a
user sees only their own processes and root sees all. Anything else is 403 with one JSON
error, never a partial answer.

Endpoints (GET only):

* ``/v1/health``: the daemon's domains, interval and policy (anyone);
* ``/v1/processes/self``: energy per domain of the caller's own process tree (exited
  descendants included) since the daemon first saw it, with each domain's method, floor and
  its source, the container the process runs in (runtime and id, or null) and the timestamp
  of the figures. The caller is known by the peer credentials alone, so this works from any
  PID namespace: a tracker in a container is served (:mod:`.callers`);
* ``/v1/processes/{pid}``: the same for the tree rooted at ``pid``, a PID in the caller's
  own namespace (the process's owner, or root of the daemon's namespace; see
  :mod:`.callers` for why a number is only a hint);
* ``/v1/users/{uid}``: a user's energy since the daemon started (that user, or root; never
  a caller in another PID namespace);
* ``/v1/machine``: each domain's whole energy (its quality in ``domains``: measured or
  estimated), per user, per job, per container and unattributed energy (root of the
  daemon's namespace only).

Bounds, so that one client cannot disturb the daemon or the others: each read of a request
waits at most ``READ_TIMEOUT_S``; request line and headers are bounded by ``http.server``
(64 KiB a line, 100 headers) and the path by ``MAX_PATH``; a uid holds at most
``MAX_CONNECTIONS_PER_UID`` connections at once (``MAX_CONNECTIONS`` in all) and makes at
most ``RATE_PER_S`` requests a second (bursts of ``BURST``); beyond that it is answered 429
at once, without a thread. A malformed request gets a 400 on its own connection only.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import socketserver
import stat
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, NamedTuple

from .._time import from_wall_ns, iso_utc
from ..errors import ImpactError
from ..log import log
from .callers import ROOT, Refused, identify, resolve
from .daemon import Daemon

API_VERSION = "v1"
READ_TIMEOUT_S = 2.0
MAX_PATH = 256
MAX_CONNECTIONS = 256
MAX_CONNECTIONS_PER_UID = 16
RATE_PER_S = 20.0
BURST = 40.0
SOCKET_MODE = 0o666  # every local user may connect; credentials decide what each sees


class SocketInUse(ImpactError):
    """Another daemon already answers on the socket."""


class Peer(NamedTuple):
    """Who is on the other end of a connection, from the kernel."""

    pid: int
    uid: int
    gid: int


def peer_credentials(sock: socket.socket) -> Peer:
    """``SO_PEERCRED`` of a connected Unix socket (Linux)."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return Peer(*struct.unpack("3i", raw))


class _Bucket:
    """A token bucket: ``RATE_PER_S`` requests a second, bursts of ``BURST``."""

    __slots__ = ("tokens", "at")

    def __init__(self) -> None:
        self.tokens = BURST
        self.at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(BURST, self.tokens + (now - self.at) * RATE_PER_S)
        self.at = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class _Limits:
    """Connections held and request rate, per uid."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[int, int] = {}
        self._buckets: dict[int, _Bucket] = {}

    def admit(self, uid: int) -> str | None:
        """Count a new connection of ``uid``; the reason it is refused, or None."""
        with self._lock:
            held = self._open.get(uid, 0)
            if held >= MAX_CONNECTIONS_PER_UID or sum(self._open.values()) >= MAX_CONNECTIONS:
                return f"too many connections at once (at most {MAX_CONNECTIONS_PER_UID})"
            if not self._buckets.setdefault(uid, _Bucket()).take():
                return f"too many requests (at most {RATE_PER_S:g} a second)"
            self._open[uid] = held + 1
            return None

    def release(self, uid: int) -> None:
        with self._lock:
            left = self._open.get(uid, 1) - 1
            if left > 0:
                self._open[uid] = left
            else:
                self._open.pop(uid, None)


def _json_bytes(status: int, body: dict[str, Any]) -> bytes:
    data = json.dumps(body, separators=(",", ":")).encode()
    head = (
        f"HTTP/1.0 {status} {_REASONS.get(status, '')}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + data


_REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    414: "URI Too Long",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


class ApiServer(socketserver.UnixStreamServer):
    """The daemon's Unix-socket HTTP server: one thread per admitted connection."""

    request_queue_size = 128

    def __init__(self, path: str, daemon: Daemon) -> None:
        self.daemon = daemon
        self.limits = _Limits()
        self.socket_path = Path(path)
        _clear_stale_socket(self.socket_path)
        super().__init__(path, _Handler, bind_and_activate=False)
        try:
            self.server_bind()
            os.chmod(path, SOCKET_MODE)
            self.server_activate()
        except BaseException:
            self.server_close()
            raise

    def process_request(self, request: Any, client_address: Any) -> None:
        """Check the peer's limits before giving the connection a thread."""
        try:
            peer = peer_credentials(request)
        except OSError:
            self.shutdown_request(request)
            return
        refused = self.limits.admit(peer.uid)
        if refused is not None:
            with contextlib.suppress(OSError):
                request.settimeout(0.1)
                request.sendall(_json_bytes(429, {"error": refused}))
                # Closing with the request unread would reset the connection before the
                # client reads the answer: take what already arrived, without waiting.
                request.setblocking(False)
                request.recv(65536)
            self.shutdown_request(request)
            return
        thread = threading.Thread(
            target=self._serve, args=(request, client_address, peer.uid), daemon=True
        )
        thread.start()

    def _serve(self, request: Any, client_address: Any, uid: int) -> None:
        try:
            _Handler(request, client_address, self)
        except Exception as exc:  # a broken client is that client's problem only
            log.debug("impactlib serve: request from uid %s failed: %r", uid, exc)
        finally:
            self.limits.release(uid)
            self.shutdown_request(request)

    def server_close(self) -> None:
        """Close the socket and remove its file."""
        super().server_close()
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(self.socket_path.lstat().st_mode):
                self.socket_path.unlink()


def _clear_stale_socket(path: Path) -> None:
    """Remove a socket file left by a daemon that died; refuse one that still answers, and
    anything that is not a socket (never delete a file the admin put there by mistake)."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        return
    if not stat.S_ISSOCK(mode):
        raise SocketInUse(f"{path} exists and is not a socket; remove it or choose --socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(path))
    except OSError:
        path.unlink()  # nobody listens: left by a daemon that died
        return
    finally:
        probe.close()
    raise SocketInUse(f"another daemon answers on {path}; stop it or choose another --socket")


class _Handler(BaseHTTPRequestHandler):
    """One request; the answer depends on the peer's uid."""

    server: ApiServer
    server_version = "impactlib"
    timeout = READ_TIMEOUT_S  # each read of the request

    def setup(self) -> None:
        self.peer = peer_credentials(self.request)
        super().setup()

    # http.server calls these for malformed requests and unknown methods: JSON, one line.
    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        self._send(code, {"error": message or _REASONS.get(code, "error")})

    def address_string(self) -> str:
        return f"uid {self.peer.uid}"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("impactlib serve: %s %s", self.address_string(), format % args)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):
            self.wfile.write(_json_bytes(status, body))
        self.close_connection = True

    def do_GET(self) -> None:
        if len(self.path) > MAX_PATH:
            self._send(414, {"error": f"path longer than {MAX_PATH} characters"})
            return
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        if len(parts) < 2 or parts[0] != API_VERSION:
            self._send(404, {"error": f"unknown path {self.path[:64]!r}; see /v1/health"})
            return
        try:
            status, body = self._route(parts[1:])
        except Exception as exc:  # a bug must cost this request only
            log.exception("impactlib serve: %s failed", self.path[:64])
            status, body = 500, {"error": f"internal error ({type(exc).__name__})"}
        self._send(status, body)

    def _route(self, parts: list[str]) -> tuple[int, dict[str, Any]]:
        views = self.server.daemon
        if parts == ["health"]:
            return 200, health(views)
        if parts == ["processes", "self"]:
            return process_tree(views, self.peer, None)
        if len(parts) == 2 and parts[0] in ("processes", "users"):
            number = _number(parts[1])
            if number is None:
                return 400, {"error": f"{parts[1][:32]!r} is not a number"}
            if parts[0] == "processes":
                return process_tree(views, self.peer, number)
        if parts == ["machine"] or (len(parts) == 2 and parts[0] == "users"):
            return self._machine_view(views, parts)
        return 404, {"error": f"unknown path {self.path[:64]!r}; see /v1/health"}

    def _machine_view(self, views: Daemon, parts: list[str]) -> tuple[int, dict[str, Any]]:
        """``/v1/machine`` and ``/v1/users/{uid}``: views beyond the caller's namespace."""
        with views.lock:
            caller = identify(views.table, self.peer.pid, self.peer.uid)
        if caller.nested:
            return 403, {"error": "a caller in a container sees its own processes only"}
        if parts == ["machine"]:
            if not caller.sees_all:
                return 403, {"error": "only root sees the whole machine"}
            return 200, machine(views)
        number = int(parts[1])
        if self.peer.uid not in (ROOT, number):
            return 403, {"error": "a user sees only their own energy"}
        return 200, user(views, number)

    def do_POST(self) -> None:
        self._send(405, {"error": "this API only answers GET"})

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_POST


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) <= 10 else None


# -- views: what each endpoint answers (the daemon's lock held while reading) ---------------


def _iso(wall_ns: int) -> str:
    return iso_utc(from_wall_ns(wall_ns))


def _domains(daemon: Daemon) -> dict[str, dict[str, Any]]:
    out = {}
    for domain_id, domain in daemon.attributor.domains.items():
        floor = daemon.attributor.floor(domain_id)
        out[domain_id] = {
            "component": domain.component,
            "method": domain.method,
            "quality": domain.quality,
            "floor_w": floor.watts,
            "floor_source": floor.source,
        }
    return out


def health(daemon: Daemon) -> dict[str, Any]:
    """What the daemon measures and how."""
    with daemon.lock:
        return {
            "status": "ok",
            "host": daemon.host,
            "interval_s": daemon.config.interval,
            "idle_policy": daemon.attributor.policy,
            "since": _iso(daemon.started_ns),
            "domains": _domains(daemon),
        }


def process_tree(daemon: Daemon, peer: Peer, asked: int | None) -> tuple[int, dict[str, Any]]:
    """The tree rooted at the process ``asked`` names in the peer's PID namespace (None: the
    peer's own process): 404, 403 or 200."""
    daemon.refresh()
    with daemon.lock:
        caller = identify(daemon.table, peer.pid, peer.uid)
        proc = resolve(daemon.table, caller, asked)
        if isinstance(proc, Refused):
            return proc.status, {"error": proc.error}
        tree = daemon.attributor.tree(proc, daemon.table.procs)
        domains = _domains(daemon)
        for domain_id, info in domains.items():
            info["energy_j"] = tree.energy_j.get(domain_id, 0.0)
        container = proc.container
        return 200, {
            "pid": caller.pid_of(proc),
            "uid": proc.uid,
            "container": dict(vars(container)) if container is not None else None,
            "since": _iso(tree.seen_ns),
            "timestamp": _iso(daemon.attributor.last_wall_ns or time.time_ns()),
            "idle_policy": daemon.attributor.policy,
            "cpu_s": tree.cpu_s,
            "processes": tree.processes,
            "domains": domains,
        }


def user(daemon: Daemon, uid: int) -> dict[str, Any]:
    """A user's energy per domain since the daemon started."""
    with daemon.lock:
        return {
            "uid": uid,
            "since": _iso(daemon.started_ns),
            "timestamp": _iso(daemon.attributor.last_wall_ns or time.time_ns()),
            "energy_j": dict(daemon.attributor.users.get(uid, {})),
        }


def machine(daemon: Daemon) -> dict[str, Any]:
    """Everything: each whole domain, per user, per job, unattributed (root only)."""
    with daemon.lock:
        a = daemon.attributor
        return {
            "since": _iso(daemon.started_ns),
            "timestamp": _iso(a.last_wall_ns or time.time_ns()),
            "domains": _domains(daemon),
            "domain_energy_j": a.domain_energy(),
            "unattributed_j": dict(a.unattributed),
            "users_j": {str(uid): dict(e) for uid, e in a.users.items()},
            "jobs_j": {job: dict(e) for job, e in a.jobs.items()},
            "containers_j": {name: dict(e) for name, e in a.containers.items()},
            "unsent_rows": daemon.unsent_rows,
            "store_problem": daemon.store_problem,
        }
