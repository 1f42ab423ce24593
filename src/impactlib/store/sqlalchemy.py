"""Any SQLAlchemy URL (PostgreSQL for a lab): the same schema and statements as SQLite."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import StoreError
from . import schema
from .base import Row, Store

CONNECT_TIMEOUT_S = 10


class SqlAlchemyStore(Store):
    """A central database shared by every tracker and daemon of a lab."""

    def __init__(self, url: str) -> None:
        super().__init__()
        try:
            import sqlalchemy
        except ImportError as exc:
            raise StoreError(
                f"store {url.split('://')[0]}:// needs SQLAlchemy; "
                "fix: pip install 'impactlib[postgres]'"
            ) from exc
        self._sa = sqlalchemy
        self.location = sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
        try:
            # An unreachable server must fail in seconds, not after the system's TCP timeout.
            postgres = url.startswith("postgresql")
            connect_args = {"connect_timeout": CONNECT_TIMEOUT_S} if postgres else {}
            self._engine = sqlalchemy.create_engine(
                url, pool_pre_ping=True, connect_args=connect_args
            )
            self._engine.connect().close()  # reachable? (else the message below, with the fix)
            self.write([(sql, {}) for sql in schema.CREATE])
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise StoreError(
                f"cannot open the store {self.location} ({_short(exc)}); check the URL, and "
                "that the database server runs and accepts connections from this machine"
            ) from exc
        except ImportError as exc:
            raise StoreError(
                f"cannot open the store {self.location}: missing driver ({exc}); "
                "fix: pip install 'impactlib[postgres]'"
            ) from exc

    def write(
        self, statements: Iterable[tuple[str, Mapping[str, Any] | Sequence[Mapping[str, Any]]]]
    ) -> None:
        text = self._sa.text
        try:
            with self._engine.begin() as conn:
                for sql, params in statements:
                    if isinstance(params, Mapping):
                        conn.execute(text(sql), dict(params))
                    else:
                        conn.execute(text(sql), [dict(p) for p in params])
        except self._sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot write the store {self.location} ({_short(exc)})") from exc

    def read(self, sql: str, params: Mapping[str, Any]) -> list[Row]:
        # PostgreSQL cannot infer the type of a bare NULL parameter in ":p IS NULL".
        bind = self._sa.text(sql).bindparams(
            *(
                self._sa.bindparam(k, type_=self._sa.String)
                for k, v in params.items()
                if v is None or isinstance(v, str)
            )
        )
        try:
            with self._engine.connect() as conn:
                return [tuple(r) for r in conn.execute(bind, dict(params)).fetchall()]
        except self._sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"cannot read the store {self.location} ({_short(exc)})") from exc

    def close(self) -> None:
        """Dispose of the connection pool."""
        self._engine.dispose()


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200]
