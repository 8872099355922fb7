"""The audit log's hash chain (R6.5): rows linked at commit, tampering found and named, the
database's triggers, concurrent writers, the purge that keeps six months, the commands."""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, func, select
from typer.testing import CliRunner

from portal.__main__ import app
from portal.auth.actor import SYSTEM_ACTOR, Actor
from portal.clock import utcnow
from portal.data import audit_chain, db
from portal.data.models import AuditChainHead, AuditLog
from portal.services import audit, children
from portal.services.audit_integrity import ChainReport, purge_expired, verify_chain
from portal.services.errors import ServiceError
from portal.services.login import authenticate, end_session
from tests.conftest import DEMO_PASSWORD
from tests.factories import TODAY, child_values, with_class

runner = CliRunner()


def log(count: int, action: str = "demo_load", *, at: datetime | None = None) -> None:
    """``count`` audit rows, each in its own transaction (``at``: logged at that moment)."""
    for i in range(count):
        with db.session_scope(write=True) as session:
            row = audit.record(session, SYSTEM_ACTOR, action, detail=f"第 {i + 1} 条")
            if at is not None:
                row.at = at


def rows() -> list[AuditLog]:
    with db.session_scope() as session:
        return list(session.exec(select(AuditLog).order_by(col(AuditLog.id))).all())


def head() -> AuditChainHead:
    with db.session_scope() as session:
        found = session.get(AuditChainHead, 1)
        assert found is not None
        return found


def assert_linked(report: ChainReport) -> None:
    """The report is intact and agrees with the rows as stored: ids contiguous, each row's
    prev_hash the row_hash of the one before, the head at the last row."""
    assert report.ok, report.message
    stored = rows()
    assert report.checked == len(stored)
    assert [r.id for r in stored] == list(range(stored[0].id or 0, (stored[-1].id or 0) + 1))
    for before, after in itertools.pairwise(stored):
        assert after.prev_hash == before.row_hash and len(after.row_hash) == 64
    assert (head().last_id, head().last_hash) == (stored[-1].id, stored[-1].row_hash)


@contextmanager
def unguarded() -> Iterator[Connection]:
    """A connection on which the append-only triggers do not fire: what an attacker with the
    database owner's rights could do (PostgreSQL: the superuser's replication role; SQLite: the
    triggers dropped)."""
    with db.get_engine().begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            for trigger in (
                "audit_log_no_update",
                "audit_log_no_delete",
                "audit_chain_head_no_delete",
                "audit_chain_head_forward_only",
            ):
                conn.execute(text(f"DROP TRIGGER IF EXISTS {trigger}"))
        yield conn


# --- the chain ----------------------------------------------------------------------------------------


def test_rows_get_ids_and_links_at_commit_after_a_mix_of_services(actors: dict[str, Actor]) -> None:
    authenticate("demo-county", "Wrong#Password1")
    authenticate("demo-county", DEMO_PASSWORD)
    clerk = actors["clerk"]
    with_class(clerk)
    child_id = children.save_child(clerk, child_values(), today=TODAY).child_id
    children.reveal(clerk, child_id, "document_number", "核对户口簿")
    children.submit_children(clerk, [child_id], today=TODAY)
    end_session(actors["county"])
    assert_linked(verify_chain())
    assert rows()[0].prev_hash == ""  # the first row of a new database starts the chain


def test_rows_of_one_transaction_follow_each_other_and_a_session_may_commit_twice(database: str) -> None:
    with db.session_scope(write=True) as session:
        first = audit.record(session, SYSTEM_ACTOR, "demo_load", detail="一")
        second = audit.record(session, SYSTEM_ACTOR, "demo_load", detail="二")
        assert first.id is None  # the id is given at commit
        session.flush()  # a flush in the middle writes nothing of the audit rows yet
        assert session.exec(select(func.count()).select_from(AuditLog)).one() == 0
        session.commit()
        assert (first.id, second.id) == (1, 2) and second.prev_hash == first.row_hash
        audit.record(session, SYSTEM_ACTOR, "demo_load", detail="三")
    with db.session_scope(write=True) as session:  # added to the session directly: chained all the same
        session.add(AuditLog(action="demo_load", username="someone"))
    assert [r.detail for r in rows()] == ["一", "二", "三", ""]
    assert_linked(verify_chain())


def test_a_rolled_back_transaction_leaves_no_row_and_no_gap(database: str) -> None:
    log(1)
    with pytest.raises(RuntimeError), db.session_scope(write=True) as session:
        audit.record(session, SYSTEM_ACTOR, "demo_load", detail="撤销")
        raise RuntimeError("boom")
    log(1)
    assert [r.id for r in rows()] == [1, 2]
    assert_linked(verify_chain())


def test_outcome_session_and_loan_are_recorded(database: str) -> None:
    actor = Actor(
        user_id=7, username="u", real_name="某人", level=SYSTEM_ACTOR.level, duty=SYSTEM_ACTOR.duty, session_id="s1"
    )
    lent = dataclasses.replace(actor, loan_id=3, session_id="s2")
    with db.session_scope(write=True) as session:
        audit.record(session, actor, "login", outcome="success")
        audit.record(session, lent, "child_update", outcome="denied")
        audit.record(session, None, "login_failed", username="x", outcome="failure", session_id="pre")
    assert [(r.outcome, r.session_id, r.loan_id) for r in rows()] == [
        ("success", "s1", None),
        ("denied", "s2", 3),
        ("failure", "pre", None),
    ]
    with pytest.raises(ValueError, match="outcome"), db.session_scope() as session:
        audit.record(session, actor, "login", outcome="maybe")
    assert verify_chain().ok


def test_the_hash_reads_the_same_from_the_database_as_it_was_written(database: str) -> None:
    with db.session_scope(write=True) as session:
        row = audit.record(
            session, SYSTEM_ACTOR, "child_update", before={"名字": "李小明", "n": 1}, after=None, detail="引号\"'\\"
        )
        row.at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    stored = rows()[0]
    assert stored.at.microsecond == 678901
    values = {name: getattr(stored, name) for name in audit_chain.HASHED_COLUMNS}
    assert audit_chain.row_hash(stored.prev_hash, values) == stored.row_hash
    assert audit_chain.canonical("", values).startswith('["audit-v1","",1,"2026-01-02T03:04:05.678901Z",0,')


# --- tampering ----------------------------------------------------------------------------------------


def _swap_rows_3_and_4(conn: Connection) -> None:
    conn.execute(text("UPDATE audit_log SET id = 1000 WHERE id = 3"))
    conn.execute(text("UPDATE audit_log SET id = 3 WHERE id = 4"))
    conn.execute(text("UPDATE audit_log SET id = 4 WHERE id = 1000"))


def _rehash_row_3(conn: Connection) -> None:
    """Change row 3 and give it a correct hash: the link of row 4 breaks."""
    conn.execute(text("UPDATE audit_log SET detail = '改过了' WHERE id = 3"))
    with db.session_scope() as session:
        row = session.get(AuditLog, 3)
        assert row is not None
    values = {name: getattr(row, name) for name in audit_chain.HASHED_COLUMNS}
    values["detail"] = "改过了"
    forged = audit_chain.row_hash(row.prev_hash, values)
    conn.execute(text("UPDATE audit_log SET row_hash = :h WHERE id = 3"), {"h": forged})


def _append_outside(conn: Connection) -> None:
    conn.execute(
        text(
            "INSERT INTO audit_log (id, at, username, real_name, role, action, object_type, object_id, detail, "
            "outcome, session_id, prev_hash, row_hash) VALUES (7, :at, 'x', '', '', 'login', '', '', '', "
            "'success', '', '', '')"
        ),
        {"at": utcnow().replace(tzinfo=None)},
    )


TAMPERING = {
    "detail changed": (lambda c: c.execute(text("UPDATE audit_log SET detail = 'x' WHERE id = 3")), 3, "内容"),
    "action changed": (lambda c: c.execute(text("UPDATE audit_log SET action = 'login' WHERE id = 5")), 5, "内容"),
    "middle row deleted": (lambda c: c.execute(text("DELETE FROM audit_log WHERE id = 3")), 3, "缺失"),
    "two middle rows deleted": (
        lambda c: c.execute(text("DELETE FROM audit_log WHERE id IN (3, 4)")),
        3,
        "第 3 至 4 条",
    ),
    "first row deleted": (lambda c: c.execute(text("DELETE FROM audit_log WHERE id = 1")), 1, "缺失"),
    "tail deleted": (lambda c: c.execute(text("DELETE FROM audit_log WHERE id >= 5")), 5, "链尾被截断"),
    "rows reordered": (_swap_rows_3_and_4, 3, "前一条"),
    "row rewritten with a new hash": (_rehash_row_3, 4, "第 3 条"),
    "row added outside the application": (_append_outside, 7, "链头"),
    "head moved back": (lambda c: c.execute(text("UPDATE audit_chain_head SET last_hash = 'x'")), 6, "链头"),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_tampering_is_found_and_the_first_broken_row_named(database: str, case: str) -> None:
    log(6)
    assert verify_chain().ok
    tamper, broken_id, words = TAMPERING[case]
    with unguarded() as conn:
        tamper(conn)
    report = verify_chain(batch_size=2)  # batches smaller than the chain: the walk crosses them
    assert not report.ok
    assert report.broken_id == broken_id, report.message
    assert words in report.reason, report.message
    assert f"第 {broken_id} 条记录处断开" in report.message


def test_the_verify_command_prints_the_rows_checked_or_the_broken_row(database: str) -> None:
    log(3)
    intact = runner.invoke(app, ["audit", "verify"])
    assert intact.exit_code == 0, intact.output
    assert "audit chain intact: 3 rows checked" in intact.output
    with unguarded() as conn:
        conn.execute(text("UPDATE audit_log SET detail = 'x' WHERE id = 2"))
    broken = runner.invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1
    assert "audit chain broken at row 2" in broken.output
    # Each run is audited, with its outcome.
    verifications = [r for r in rows() if r.action == "audit_verify"]
    assert [r.outcome for r in verifications] == ["success", "failure"]


def test_the_auditor_may_verify_others_may_not(actors: dict[str, Actor]) -> None:
    from portal.services.errors import PermissionDenied

    assert verify_chain(actors["auditor"]).ok
    with pytest.raises(PermissionDenied):
        verify_chain(actors["clerk"])
    assert rows()[-1].action == "audit_verify" and rows()[-1].username == "demo-auditor"


# --- the database refuses ------------------------------------------------------------------------------


def test_triggers_refuse_update_and_the_delete_of_recent_rows(database: str) -> None:
    log(1, at=utcnow() - timedelta(days=200))
    log(1, at=utcnow() - timedelta(days=170))
    log(1)
    for statement in (
        "UPDATE audit_log SET detail = 'x' WHERE id = 3",
        "UPDATE audit_log SET detail = 'x' WHERE id = 1",  # old rows are not changed either
        "DELETE FROM audit_log WHERE id = 3",
        "DELETE FROM audit_log WHERE id = 2",  # younger than 183 days
        "DELETE FROM audit_chain_head",
        "UPDATE audit_chain_head SET last_id = last_id - 1",
    ):
        with pytest.raises(DBAPIError, match=r"append-only|moves forward"), db.get_engine().begin() as conn:
            conn.execute(text(statement))
    with db.get_engine().begin() as conn:  # older than six months: the purge may delete it
        assert conn.execute(text("DELETE FROM audit_log WHERE id = 1")).rowcount == 1
    assert [r.id for r in rows()] == [2, 3]


# --- concurrent writers --------------------------------------------------------------------------------


def test_concurrent_writers_still_make_one_valid_chain(database: str) -> None:
    threads, each = 6, 8
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(each):
                with db.session_scope(write=True) as session:
                    audit.record(session, SYSTEM_ACTOR, "demo_load", detail=f"{n}-{i}")
                    if i % 3 == 0:
                        audit.record(session, SYSTEM_ACTOR, "demo_load", detail=f"{n}-{i}b")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors, errors
    report = verify_chain()
    assert_linked(report)
    assert report.checked == threads * (each + 3)


# --- the purge -----------------------------------------------------------------------------------------


def test_purge_deletes_an_old_prefix_and_the_chain_still_verifies(database: str) -> None:
    now = utcnow()
    log(3, at=now - timedelta(days=400))
    log(2, at=now - timedelta(days=200))
    log(1, at=now - timedelta(days=100))
    log(1, at=now - timedelta(days=400))  # old, but after a younger row: not a prefix, kept
    log(1)
    third = rows()[2].row_hash
    result = purge_expired(older_than_days=365)
    assert (result.deleted, result.anchor_id) == (3, 3)
    assert (head().anchor_id, head().anchor_hash) == (3, third)
    report = verify_chain()
    assert report.ok and report.first_id == 4, report.message
    assert rows()[-1].action == "audit_purge" and "删除 3 条" in rows()[-1].detail
    # Asked for 10 days, the purge still keeps six months: the 200-day rows go, the 100-day row stays.
    result = purge_expired(older_than_days=10)
    assert result.deleted == 2
    assert [r.id for r in rows()][:3] == [6, 7, 8]
    assert verify_chain().ok
    assert purge_expired(older_than_days=10).deleted == 0  # nothing old at the front any more
    assert verify_chain().ok


def test_purge_refuses_a_broken_chain_and_anyone_but_the_operator(actors: dict[str, Actor]) -> None:
    with pytest.raises(ServiceError, match="运维命令"):
        purge_expired(actors["sysadmin"])
    log(1, at=utcnow() - timedelta(days=400))
    with unguarded() as conn:
        conn.execute(text("UPDATE audit_log SET detail = 'x' WHERE id = 1"))
    before = len(rows())
    with pytest.raises(ServiceError, match="未通过核验"):
        purge_expired(older_than_days=200)
    assert len(rows()) == before


def test_the_purge_command(database: str) -> None:
    log(2, at=utcnow() - timedelta(days=400))
    log(1)
    result = runner.invoke(app, ["audit", "purge", "--older-than-days", "30"])
    assert result.exit_code == 0, result.output
    assert "audit rows purged: 2" in result.output and "183" in result.output
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0
