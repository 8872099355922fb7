"""The engine, the migrations, aware UTC datetimes and the append-only audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError, StatementError
from sqlmodel import select

from portal.data import db, migrate
from portal.data.models import AuditLog, LoginFailure

EXPECTED_TABLES = {"region", "institution", "user_account", "login_failure", "account_lock", "audit_log"}


def test_migrations_create_every_table(database: str) -> None:
    tables = set(inspect(db.get_engine()).get_table_names())
    assert EXPECTED_TABLES <= tables
    from alembic.script import ScriptDirectory

    assert migrate.current_revision() == ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()


def test_downgrade_and_upgrade_again(database: str) -> None:
    migrate.downgrade(revision="base")
    assert not (EXPECTED_TABLES & set(inspect(db.get_engine()).get_table_names()))
    migrate.upgrade()
    assert EXPECTED_TABLES <= set(inspect(db.get_engine()).get_table_names())


def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(tmp_path) -> None:
    engine = db.build_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    engine.dispose()


def test_postgres_urls_use_psycopg3() -> None:
    assert db.normalise_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert db.normalise_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"


def test_datetimes_come_back_aware_utc(database: str) -> None:
    beijing = timezone(timedelta(hours=8))
    moment = datetime(2026, 5, 31, 23, 30, tzinfo=beijing)
    with db.session_scope() as session:
        row = LoginFailure(username="someone", at=moment)
        session.add(row)
        session.flush()
        row_id = row.id
    with db.session_scope() as session:
        stored = session.get(LoginFailure, row_id)
        assert stored is not None
        assert stored.at.tzinfo is not None and stored.at.utcoffset() == timedelta(0)
        assert stored.at == datetime(2026, 5, 31, 15, 30, tzinfo=UTC)


def test_naive_datetimes_are_refused(database: str) -> None:
    with pytest.raises(StatementError, match="naive datetime"), db.session_scope() as session:
        session.add(LoginFailure(username="someone", at=datetime(2026, 1, 1, 8, 0)))
        session.flush()
    with db.session_scope() as session:
        assert session.exec(select(LoginFailure)).all() == []


def test_foreign_keys_are_enforced(database: str) -> None:
    from portal.data.models import Institution

    with pytest.raises(DBAPIError), db.session_scope() as session:
        session.add(
            Institution(
                code="4101229999",
                name="不存在的县的幼儿园",
                kind="独立设置幼儿园",
                ownership="公办",
                urban_rural="村庄",
                province_code="41",
                city_code="410100",
                county_code="999999",
            )
        )
        session.flush()


def test_audit_log_is_append_only(database: str) -> None:
    with db.session_scope() as session:
        session.add(AuditLog(action="login", username="someone"))
    for statement in ("UPDATE audit_log SET action = 'nothing'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), db.get_engine().begin() as conn:
            conn.execute(text(statement))
    with db.session_scope() as session:
        rows = session.exec(select(AuditLog)).all()
        assert [r.action for r in rows] == ["login"]


def test_revision_0010_chains_the_rows_logged_before_and_its_downgrade_restores_0001(database: str) -> None:
    """Rows logged before the chain (with a gap a rolled-back sequence value left) are hashed into
    it, an ``audit_chain_start`` row follows; the downgrade puts back the triggers of 0001 and, on
    PostgreSQL, the id sequence after the ids the chain gave."""
    import sqlalchemy as sa

    from portal.auth.actor import SYSTEM_ACTOR
    from portal.data.types import UTCDateTime
    from portal.services import audit
    from portal.services.audit_integrity import verify_chain

    migrate.downgrade(revision="0009")
    legacy = sa.table(
        "audit_log",
        *(sa.column(name) for name in ("id", "username", "real_name", "role", "action", "object_type")),
        *(sa.column(name) for name in ("object_id", "detail", "province_code")),
        sa.column("at", UTCDateTime()),
    )
    base = {"real_name": "", "role": "", "object_type": "", "object_id": "", "province_code": "41"}
    with db.get_engine().begin() as conn:
        for row_id in (1, 2, 5):
            at = datetime(2026, 3, row_id, 8, 0, 0, 123456, tzinfo=UTC)
            conn.execute(sa.insert(legacy).values(id=row_id, at=at, username="a", action="login", detail="旧", **base))
    migrate.upgrade()
    report = verify_chain()
    assert report.ok and report.checked == 4, report.message
    with db.session_scope() as session:
        rows = session.exec(select(AuditLog).order_by(AuditLog.id)).all()  # type: ignore[arg-type]
        assert [(r.id, r.action) for r in rows][-1] == (6, "audit_chain_start")
        assert rows[0].prev_hash == "" and rows[1].prev_hash == rows[0].row_hash
    with db.session_scope(write=True) as session:
        audit.record(session, SYSTEM_ACTOR, "demo_load")
    assert verify_chain().ok and verify_chain().last_id == 7

    migrate.downgrade(revision="0009")
    for statement in ("UPDATE audit_log SET action = 'nothing'", "DELETE FROM audit_log WHERE id = 1"):
        with pytest.raises(DBAPIError, match="append-only"), db.get_engine().begin() as conn:
            conn.execute(text(statement))
    with db.get_engine().begin() as conn:  # the id sequence (or SQLite's rowid) carries on after the chain's ids
        conn.execute(sa.insert(legacy).values(at=datetime.now(UTC), username="b", action="logout", detail="", **base))
        assert conn.execute(text("SELECT MAX(id) FROM audit_log")).scalar() == 8
    migrate.upgrade()
    report = verify_chain()
    assert report.ok and report.last_id == 9, report.message
