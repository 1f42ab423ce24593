"""``impactlib serve``: run the privileged daemon (root; see docs/daemon.md and the systemd unit
in deploy/impactlib.service).

It samples every meter each ``interval``, attributes every interval to every process, user and
job, answers ``/v1/...`` questions on the Unix socket and serves ``/metrics`` until SIGTERM or
SIGINT, then flushes the per-minute aggregates to the store and removes its socket. Started by
someone other than root it still runs (to try it on a machine whose counters are readable),
but says that it will likely not be able to read RAPL.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import TYPE_CHECKING, Any

import typer

from .common import config_from

if TYPE_CHECKING:
    from ..server.api import ApiServer
    from ..server.daemon import Daemon


def serve_command(
    socket_path: str | None = typer.Option(
        None, "--socket", help="Unix socket of the local API (daemon_socket)."
    ),
    metrics_address: str | None = typer.Option(
        None,
        "--metrics-address",
        help="HOST:PORT of the Prometheus /metrics (metrics_address; empty: no exporter).",
    ),
    metrics_containers: str | None = typer.Option(
        None,
        "--metrics-containers",
        metavar="BOOL",
        help="A /metrics series per container: true or false (metrics_containers).",
    ),
    store: str | None = typer.Option(None, "--store", help="Where per-minute aggregates go."),
    powercap_root: str | None = typer.Option(None, "--powercap-root", help="RAPL powercap root."),
    interval: str | None = typer.Option(
        None, "--interval", metavar="SECONDS", help="Sampling interval (seconds > 0)."
    ),
    idle_policy: str | None = typer.Option(
        None, "--idle-policy", help="How idle power is shared: usage or none."
    ),
) -> None:
    """Measure the whole machine and give every user their own share (run as root)."""
    from ..server.api import ApiServer
    from ..server.daemon import Daemon

    config = config_from(
        daemon_socket=socket_path,
        metrics_address=metrics_address,
        metrics_containers=metrics_containers,
        store=store,
        powercap_root=powercap_root,
        interval=interval,
        idle_policy=idle_policy,
    )
    if os.geteuid() != 0:
        typer.echo("impactlib serve: warning: not root; RAPL is likely unreadable", err=True)
    daemon = Daemon(config)
    api = ApiServer(config.daemon_socket, daemon)
    exporter: Any = None
    try:
        if config.metrics_address:
            from ..server.metrics import start_exporter

            exporter, url = start_exporter(daemon, config.metrics_address)
            typer.echo(f"impactlib serve: metrics on {url}", err=True)
        typer.echo(f"impactlib serve: answering on {config.daemon_socket}", err=True)
        _run(daemon, api)
    finally:
        api.server_close()
        if exporter is not None:
            exporter.shutdown()
        daemon.close()


def _run(daemon: Daemon, api: ApiServer) -> None:
    """Serve the API in a thread and sample in this one until SIGTERM or SIGINT."""
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    thread = threading.Thread(target=api.serve_forever, name="impactlib-api", daemon=True)
    thread.start()
    try:
        daemon.run(stop)
    finally:
        api.shutdown()
        thread.join()


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the app."""
    app.command("serve")(serve_command)
