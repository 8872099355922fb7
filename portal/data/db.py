"""The engine and the unit of work.

One engine per process, built from ``DATABASE_URL``. SQLite gets WAL, foreign keys and a busy
timeout on every connection, and write transactions that take the write lock up front
(``BEGIN IMMEDIATE``) so that two writers queue instead of failing half-way. PostgreSQL (psycopg 3)
gets a pooled engine with pre-ping.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session

from portal.settings import get_settings

_engine: Engine | None = None
_engine_url: str | None = None


class DatabaseBusyError(RuntimeError):
    """SQLite stayed locked by another writer past the busy timeout."""


def normalise_url(url: str) -> str:
    """Accept postgres:// and postgresql:// and use the psycopg 3 driver for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def build_engine(url: str, **overrides: Any) -> Engine:
    """A new engine for ``url`` with the portal's connection policy."""
    settings = get_settings()
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": settings.sqlite_busy_timeout_ms / 1000},
            **overrides,
        )
        _install_sqlite_policy(engine, settings.sqlite_busy_timeout_ms)
        return engine
    options: dict[str, Any] = {
        "pool_pre_ping": True,
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_recycle": 1800,
    }
    options.update(overrides)
    return create_engine(url, **options)


def _install_sqlite_policy(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # PRAGMA takes no bound parameters; the value is an int from the settings.
        busy_timeout = "PRAGMA busy_timeout=" + str(int(busy_timeout_ms))
        cursor.execute(busy_timeout)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def configure(url: str | None = None) -> Engine:
    """Set (or replace) the process engine; returns it."""
    global _engine, _engine_url
    url = normalise_url(url or get_settings().database_url)
    if _engine is not None:
        _engine.dispose()
    _engine = build_engine(url)
    _engine_url = url
    return _engine


def get_engine() -> Engine:
    if _engine is None:
        return configure()
    return _engine


def dispose() -> None:
    global _engine, _engine_url
    if _engine is not None:
        _engine.dispose()
    _engine = None
    _engine_url = None


@contextmanager
def session_scope(write: bool = False) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error.

    ``write=True`` takes SQLite's write lock at the start of the transaction.
    """
    engine = get_engine()
    bind = engine.execution_options(sqlite_immediate=True) if write else engine
    session = Session(bind=bind, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except Exception as exc:
        session.rollback()
        if "database is locked" in str(exc):
            raise DatabaseBusyError("数据库正忙，请稍后重试。") from exc
        raise
    finally:
        session.close()


# The progress counters listen to every session's flushes and commits (imported for its effect).
# The audit chain gives audit rows their ids and hashes at commit, after the counters' work.
from portal.data import audit_chain as _audit_chain  # noqa: E402, F401
from portal.data import counters as _counters  # noqa: E402, F401

# Rare writes (baseline, regions, a counter rebuild) bump the cross-process cache's version.
from portal.data import query_cache as _query_cache  # noqa: E402, F401
