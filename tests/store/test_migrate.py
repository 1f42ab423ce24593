"""Alembic migrations: the baseline is every table of store/schema.py, and `impactlib db
upgrade` brings SQLite and PostgreSQL stores (new, or made by trackers before) to it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from clihelp import cli

from impactlib.store import open_store, schema

HEAD = "0005_ranges"  # the newest revision: what an upgrade ends at


def _layout(path: Path) -> dict[str, list[tuple[str, str, int, int]]]:
    conn = sqlite3.connect(path)
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'alembic_version'"
        )
    ]
    out = {
        t: [(c[1], c[2], c[3], c[5]) for c in conn.execute(f"PRAGMA table_info({t})")]
        for t in sorted(tables)
    }
    conn.close()
    return out


def test_baseline_is_every_table_of_the_schema(tmp_path: Path) -> None:
    """Fails when schema.CREATE changes without a new migration."""
    from impactlib.store.migrate import upgrade

    migrated = tmp_path / "migrated.db"
    sqlite3.connect(migrated).close()
    upgrade(str(migrated), str(migrated))
    direct = tmp_path / "direct.db"
    conn = sqlite3.connect(direct)
    for statement in schema.CREATE:
        conn.execute(statement)
    conn.close()
    assert _layout(migrated) == _layout(direct)


def test_db_upgrade_adopts_a_store_trackers_made_and_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    open_store(str(path)).close()
    before = cli("db", "current", "--store", str(path))
    assert before.returncode == 0 and "revision none" in before.stdout
    for _ in range(2):
        result = cli("db", "upgrade", "--store", str(path))
        assert result.returncode == 0, result.stderr
        assert f"schema at revision {HEAD}" in result.stdout
    after = cli("db", "current", "--store", str(path))
    assert "up to date" in after.stdout


def test_db_upgrade_uses_the_configured_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "env.db"
    result = cli("db", "upgrade", env={"IMPACTLIB_STORE": str(path)})
    assert result.returncode == 0, result.stderr
    assert str(path) in result.stdout and path.exists()


@pytest.mark.postgres
def test_db_upgrade_on_postgresql_widens_old_real_columns(postgres_url: str) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(postgres_url)
    with engine.begin() as conn:  # a store as trackers made it before: 4-byte REAL columns
        for statement in schema.CREATE:
            conn.execute(sqlalchemy.text(statement.replace("DOUBLE PRECISION", "REAL")))
    result = cli("db", "upgrade", "--store", postgres_url)
    assert result.returncode == 0, result.stderr
    with engine.connect() as conn:
        kinds = conn.execute(
            sqlalchemy.text(
                "SELECT data_type FROM information_schema.columns "
                "WHERE table_name = 'runs' AND column_name = 'energy_kwh'"
            )
        ).scalar()
        revision = conn.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    assert (kinds, revision) == ("double precision", HEAD)


def test_db_upgrade_to_a_named_revision(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    result = cli("db", "upgrade", "--store", str(path), "--revision", "0001_baseline")
    assert result.returncode == 0, result.stderr
    assert "revision 0001_baseline" in result.stdout
    unknown = cli("db", "upgrade", "--store", str(path), "--revision", "9999_nope")
    assert unknown.returncode == 2 and "9999_nope" in unknown.stderr
