"""Secrets never go into records or outputs: a store URL's password is masked where a run is
recorded, where ``sync`` copies a run made by an older version, and in the records already
kept (``impactlib db upgrade``)."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest
from clihelp import cli

PASSWORD = "s3cret-pw"
ENV = {"IMPACTLIB_COUNTRY": "DE", "IMPACTLIB_INTERVAL": "0.05"}


def with_password(url: str) -> str:
    """The test server's URL with a password (the server trusts local connections, so any
    password is accepted: what matters is where it ends up)."""
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{PASSWORD}@{host}"


def sqlite_rows(path: Path) -> str:
    """Every row of every table, as text."""
    conn = sqlite3.connect(path)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def postgres_rows(url: str) -> str:
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    out = []
    with engine.connect() as conn:
        tables = conn.execute(
            sqlalchemy.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ).scalars()
        for table in list(tables):
            rows = conn.execute(sqlalchemy.text(f'SELECT * FROM "{table}"'))
            out += [str(tuple(row)) for row in rows]  # a Row's own repr cuts long text
    engine.dispose()
    return "\n".join(out)


@pytest.mark.postgres
def test_a_runs_store_password_is_in_no_row_and_no_output(
    postgres_url: str, tmp_path: Path
) -> None:
    url = with_password(postgres_url)
    env = {**ENV, "IMPACTLIB_POWERCAP_ROOT": str(tmp_path / "none"), "IMPACTLIB_STORE": url}
    result = cli("run", "--", sys.executable, "-c", "print('ok')", env=env)
    assert result.returncode == 0, result.stderr
    assert "saved to" in result.stderr and PASSWORD not in result.stderr
    rows = postgres_rows(postgres_url)
    assert "impact:***@" in rows and PASSWORD not in rows  # user and host kept, not the password
    for fmt in ("json", "csv", "markdown", "table"):
        shown = cli("report", "--format", fmt, env=env)
        assert shown.returncode == 0, shown.stderr
        assert PASSWORD not in shown.stdout + shown.stderr
    local = tmp_path / "copy.db"
    synced = cli("sync", "--store", url, "--to", str(local), env=env)
    assert synced.returncode == 0, synced.stderr
    assert PASSWORD not in synced.stdout + synced.stderr
    assert "impact:***@" in sqlite_rows(local) and PASSWORD not in sqlite_rows(local)


def _older_record(path: Path, tmp_path: Path) -> None:
    """A store holding a run as an older version recorded it: the store URL in clear."""
    env = {**ENV, "IMPACTLIB_POWERCAP_ROOT": str(tmp_path / "none")}
    assert cli("run", "-q", "--store", str(path), "--", "true", env=env).returncode == 0
    conn = sqlite3.connect(path)
    (run_id, config) = conn.execute("SELECT id, config FROM runs").fetchone()
    values = json.loads(config)
    values["values"]["store"] = f"postgresql://alice:{PASSWORD}@db.lab/impact"
    conn.execute("UPDATE runs SET config = ? WHERE id = ?", (json.dumps(values), run_id))
    conn.commit()
    conn.close()
    assert PASSWORD in sqlite_rows(path)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def central(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "central.db")
    return str(request.getfixturevalue("postgres_url"))


def test_sync_masks_a_password_an_older_version_recorded(central: str, tmp_path: Path) -> None:
    local = tmp_path / "old.db"
    _older_record(local, tmp_path)
    result = cli("sync", "--store", str(local), "--to", central)
    assert result.returncode == 0, result.stderr
    rows = postgres_rows(central) if "://" in central else sqlite_rows(Path(central))
    assert "alice:***@db.lab" in rows and PASSWORD not in rows


def test_db_upgrade_masks_the_passwords_already_kept(tmp_path: Path) -> None:
    store = tmp_path / "old.db"
    _older_record(store, tmp_path)
    result = cli("db", "upgrade", "--store", str(store))
    assert result.returncode == 0, result.stderr
    rows = sqlite_rows(store)
    assert "alice:***@db.lab" in rows and PASSWORD not in rows
    shown = cli("report", "--format", "json", "--store", str(store))
    assert shown.returncode == 0 and PASSWORD not in shown.stdout
