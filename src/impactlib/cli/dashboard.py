"""``impactlib dashboard``: serve the read-only web page of the store's totals."""

from __future__ import annotations

import typer

from .._time import parse_user_time
from ..errors import UsageError
from ..store import open_store
from .common import config_from

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def dashboard_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default: local only)."),
    port: int = typer.Option(8050, "--port", help="TCP port."),
    store: str = typer.Option(None, "--store", help="SQLite path or SQLAlchemy URL."),
    token: str = typer.Option(
        None,
        "--token",
        envvar="IMPACTLIB_DASHBOARD_TOKEN",
        help="Required of every visitor; made up and printed when bound beyond 127.0.0.1.",
    ),
    now: str = typer.Option(
        None, "--now", hidden=True, help="Project budgets from this UTC time, not now."
    ),
) -> None:
    """Serve totals per user, project, month and server, with filters (read-only)."""
    import secrets

    try:
        import uvicorn
    except ImportError as exc:
        raise UsageError(
            "the dashboard needs uvicorn and starlette; fix: pip install 'impactlib[dashboard]'"
        ) from exc
    from ..server.dashboard import create_app

    if not 0 < port < 65536:
        raise UsageError(f"option --port: {port} is not a TCP port; use 1-65535")
    if token is None and host not in LOOPBACK:
        token = secrets.token_urlsafe(24)
    store_obj = open_store(config_from(store=store))
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    typer.echo(f"impactlib dashboard of {store_obj.location}: {url}", err=True)
    at = parse_user_time(now) if now else None
    uvicorn.run(create_app(store_obj, token, now=at), host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    """Add ``dashboard`` to the app."""
    app.command("dashboard")(dashboard_command)
