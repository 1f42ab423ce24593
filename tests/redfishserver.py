"""A real Redfish service on 127.0.0.1 answering from a mockup tree, as DMTF's
Redfish-Mockup-Server does: ``/redfish/v1/Chassis/1U`` is ``<root>/redfish/v1/Chassis/1U/
index.json``, read at each request (a test edits a file to move a reading).

Every request must carry HTTP Basic credentials (``username``/``password``), as a BMC asks;
otherwise 401. ``fail_status`` makes the resources whose path matches one of its keys answer
that status instead (a BMC busy or restarting). :func:`mockup` copies the DMTF
``public-rackmount1`` mockup (tests/data/redfish) where a test may change it.
"""

from __future__ import annotations

import base64
import json
import shutil
import ssl
import subprocess
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

MOCKUP = Path(__file__).parent / "data" / "redfish" / "public-rackmount1"
USERNAME = "impact-reader"
PASSWORD = "pw-Zq81-never-shown"


def mockup(tmp_path: Path) -> Path:
    """A writable copy of the DMTF public-rackmount1 mockup's power resources."""
    root = tmp_path / "mockup"
    shutil.copytree(MOCKUP, root)
    return root


def edit(root: Path, resource: str, change: Callable[[dict[str, Any]], None]) -> None:
    """Change one resource (``/redfish/v1/Chassis/1U``) of a mockup copy in place."""
    path = root / resource.strip("/") / "index.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc, indent=4))


def add(root: Path, resource: str, doc: dict[str, Any]) -> None:
    """Add one resource to a mockup copy."""
    path = root / resource.strip("/") / "index.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**doc, "@odata.id": resource}, indent=4))


def add_chassis(root: Path, resource: str, kind: str, *, first: bool, **more: Any) -> None:
    """Add a powered-on chassis of ``ChassisType`` ``kind`` (and ``more`` properties) to a
    mockup copy, listed first or last in the service's chassis collection."""
    add(
        root,
        resource,
        {
            "@odata.type": "#Chassis.v1_22_0.Chassis",
            "ChassisType": kind,
            "PowerState": "On",
            **more,
        },
    )

    def listed(collection: dict[str, Any]) -> None:
        members = collection["Members"]
        members.insert(0 if first else len(members), {"@odata.id": resource})

    edit(root, "/redfish/v1/Chassis", listed)


class SelfSigned(NamedTuple):
    """A self-signed certificate for 127.0.0.1 and its key, as a BMC ships one."""

    cert: Path
    key: Path


def self_signed(folder: Path) -> SelfSigned:
    """Make one with the openssl command (a dependency of ca-certificates)."""
    cert, key = folder / "bmc-cert.pem", folder / "bmc-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return SelfSigned(cert, key)


class RedfishServer:
    """Serve a mockup tree on an ephemeral port; use as a context manager."""

    def __init__(
        self,
        root: Path,
        username: str = USERNAME,
        password: str = PASSWORD,
        tls: SelfSigned | None = None,
    ) -> None:
        self.root = root
        self.scheme = "https" if tls else "http"
        self.fail_status: dict[str, int] = {}
        self.requests: list[str] = []
        expected = base64.b64encode(f"{username}:{password}".encode()).decode()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the meter's client expects

            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                path = self.path.split("?", 1)[0].split("#", 1)[0]
                server.requests.append(path)
                if self.headers.get("Authorization") != f"Basic {expected}":
                    self._answer(401, {"error": {"code": "Base.1.0.NoValidSession"}})
                    return
                for part, status in server.fail_status.items():
                    if part in path:
                        self._answer(status, {"error": {"code": "Base.1.0.InternalError"}})
                        return
                index = server.root / path.strip("/") / "index.json"
                if not index.is_file():
                    self._answer(404, {"error": {"code": "Base.1.0.ResourceMissingAtURI"}})
                    return
                self._answer(200, json.loads(index.read_text()))

            def _answer(self, status: int, doc: dict[str, Any]) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="Redfish"')
                self.end_headers()
                self.wfile.write(body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        if tls is not None:  # a BMC's self-signed certificate
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls.cert, tls.key)
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> RedfishServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def credentials_file(folder: Path, text: str | None = None, mode: int = 0o600) -> Path:
    """A ``redfish_credentials`` file (the server's account by default) with ``mode``."""
    path = folder / "bmc.toml"
    path.write_text(
        text if text is not None else f'username = "{USERNAME}"\npassword = "{PASSWORD}"\n'
    )
    path.chmod(mode)
    return path
