"""Failed logins and lockout: five failures in 15 minutes lock a name for 30 minutes, in the
database, across processes; the lock lifts by itself; unknown names behave the same."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from portal.data import db
from portal.data.models import AccountLock, AuditLog, LoginFailure
from portal.services.errors import PermissionDenied, ServiceError
from portal.services.login import WRONG_CREDENTIALS, authenticate, list_locks, unlock
from tests.conftest import DEMO_PASSWORD

T0 = datetime(2026, 5, 20, 1, 0, tzinfo=UTC)


def fail_times(username: str, times: int, start: datetime = T0, step: timedelta = timedelta(seconds=30)) -> list[str]:
    return [authenticate(username, "wrong-password", now=start + i * step).message for i in range(times)]


def audit_actions(username: str) -> list[str]:
    with db.session_scope() as session:
        rows = session.exec(select(AuditLog).where(AuditLog.username == username).order_by(col(AuditLog.id))).all()
        return [r.action for r in rows]


def test_right_password_logs_in_and_is_audited(demo: str) -> None:
    result = authenticate("demo-county", DEMO_PASSWORD, now=T0)
    assert result.ok and result.actor is not None
    assert (result.actor.real_name, result.actor.role, result.actor.scope_label) == (
        "张伟",
        "县级审核员",
        "河南省郑州市中牟县",
    )
    assert audit_actions("demo-county") == ["login"]


def test_username_is_case_and_space_insensitive(demo: str) -> None:
    assert authenticate("  Demo-County ", DEMO_PASSWORD, now=T0).ok


def test_five_failures_lock_the_account_and_the_right_password_is_refused(demo: str) -> None:
    messages = fail_times("demo-clerk", 5)
    assert messages[:4] == [WRONG_CREDENTIALS] * 4
    assert "锁定" in messages[4]
    refused = authenticate("demo-clerk", DEMO_PASSWORD, now=T0 + timedelta(minutes=5))
    assert not refused.ok and "锁定" in refused.message
    assert refused.locked_until == T0 + timedelta(seconds=120) + timedelta(minutes=30)
    assert audit_actions("demo-clerk") == ["login_failed"] * 5 + ["lockout", "login_failed"]


def test_the_lock_lifts_after_30_minutes(demo: str) -> None:
    fail_times("demo-clerk", 5)
    locked_at = T0 + timedelta(seconds=120)
    assert not authenticate("demo-clerk", DEMO_PASSWORD, now=locked_at + timedelta(minutes=29, seconds=59)).ok
    assert authenticate("demo-clerk", DEMO_PASSWORD, now=locked_at + timedelta(minutes=30, seconds=1)).ok


def test_failures_spread_beyond_15_minutes_do_not_lock(demo: str) -> None:
    messages = fail_times("demo-clerk", 8, step=timedelta(minutes=4))
    assert messages == [WRONG_CREDENTIALS] * 8
    assert authenticate("demo-clerk", DEMO_PASSWORD, now=T0 + timedelta(minutes=33)).ok


def test_a_success_clears_the_failures(demo: str) -> None:
    fail_times("demo-clerk", 4)
    assert authenticate("demo-clerk", DEMO_PASSWORD, now=T0 + timedelta(minutes=3)).ok
    assert fail_times("demo-clerk", 4, start=T0 + timedelta(minutes=4)) == [WRONG_CREDENTIALS] * 4


def test_an_unknown_name_gets_the_same_answers(demo: str) -> None:
    assert fail_times("no-such-user", 5) == fail_times("demo-clerk", 5)


def test_the_lock_outlives_a_new_process(demo: str) -> None:
    fail_times("demo-clerk", 5, start=datetime.now(UTC) - timedelta(minutes=1), step=timedelta(seconds=1))
    db.dispose()  # nothing of this process's connections survives
    code = (
        "from portal.services.login import authenticate;"
        f"r = authenticate('demo-clerk', {DEMO_PASSWORD!r});"
        "print('OK' if r.ok else 'REFUSED', r.message)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.startswith("REFUSED") and "锁定" in out.stdout


def test_a_disabled_account_cannot_log_in(demo: str) -> None:
    from portal.data.models import User

    with db.session_scope() as session:
        user = session.exec(select(User).where(User.username == "demo-clerk")).one()
        user.is_active = False
        session.add(user)
    result = authenticate("demo-clerk", DEMO_PASSWORD, now=T0)
    assert (result.ok, result.message) == (False, WRONG_CREDENTIALS)


def test_the_security_administrator_lifts_a_lock(actors) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    fail_times("demo-clerk", 5, start=now - timedelta(minutes=1), step=timedelta(seconds=1))
    assert [row.username for row in list_locks(actors["secadmin"])] == ["demo-clerk"]
    with pytest.raises(PermissionDenied):
        unlock(actors["sysadmin"], "demo-clerk")
    unlock(actors["secadmin"], "demo-clerk")
    assert list_locks(actors["secadmin"]) == []
    assert authenticate("demo-clerk", DEMO_PASSWORD).ok
    with pytest.raises(ServiceError, match="没有被锁定"):
        unlock(actors["secadmin"], "demo-clerk")
    with db.session_scope() as session:
        assert session.exec(select(AccountLock)).all() == []
        assert session.exec(select(LoginFailure)).all() == []
        assert session.exec(select(AuditLog).where(AuditLog.action == "unlock")).one().object_id == "demo-clerk"
