"""Logging in and out: failed attempts, lockout, the actor, sessions. No Streamlit here.

Failures are counted per login name as typed, known or not, in the database, so that the lock
holds across restarts and processes and an unknown name behaves exactly like a wrong password.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col, func, select

from portal.auth.actor import Actor
from portal.auth.passwords import burn_equal_time, verify_password
from portal.auth.policy import Action, require, scope_filter
from portal.auth.roles import Duty, Level
from portal.clock import format_local, utcnow
from portal.data import db
from portal.data.models import AccountLock, Institution, LoginFailure, Region, User
from portal.services import audit
from portal.services.errors import ServiceError
from portal.services.regions import full_region_name
from portal.settings import get_settings

WRONG_CREDENTIALS = "用户名或密码错误。"


def normalise_username(username: str) -> str:
    return (username or "").strip().lower()


def locked_message(until: datetime) -> str:
    return f"登录失败次数过多，该账户已被锁定，请于 {format_local(until)} 之后再试，或联系安全管理员解除锁定。"


@dataclass(frozen=True)
class LoginResult:
    ok: bool
    message: str = ""
    actor: Actor | None = None
    locked_until: datetime | None = None


@dataclass(frozen=True)
class Credentials:
    """What the login widget needs to check one user's password."""

    username: str
    real_name: str
    password_hash: str


def locked_until(session: Session, username: str, now: datetime | None = None) -> datetime | None:
    """When the lock on ``username`` lifts, or None if it is not locked."""
    now = now or utcnow()
    lock = session.get(AccountLock, normalise_username(username))
    if lock is not None and lock.locked_until > now:
        return lock.locked_until
    return None


def gate(username: str, now: datetime | None = None) -> tuple[Credentials | None, datetime | None]:
    """Before the password is checked: the user's credentials (None if unknown or disabled) and
    the time the lock lifts (None if not locked). A locked name gets no credentials."""
    name = normalise_username(username)
    with db.session_scope() as session:
        until = locked_until(session, name, now)
        if until is not None:
            return None, until
        user = session.exec(select(User).where(User.username == name)).first()
        if user is None or not user.is_active:
            return None, None
        return Credentials(user.username, user.real_name, user.password_hash), None


def _region_codes(user: User | None) -> tuple[str | None, str | None, str | None]:
    if user is None:
        return (get_settings().province_code, None, None)
    return (user.province_code, user.city_code, user.county_code)


def register_failure(username: str, now: datetime | None = None) -> LoginResult:
    """Record a failed attempt; lock the name when the limit is reached. Returns what to say."""
    settings = get_settings()
    now = now or utcnow()
    name = normalise_username(username)[:64]
    with db.session_scope(write=True) as session:
        until = locked_until(session, name, now)
        user = session.exec(select(User).where(User.username == name)).first()
        codes = _region_codes(user)
        if until is not None:
            audit.record(
                session, None, "login_failed", username=name, detail="账户锁定期间尝试登录", region_codes=codes
            )
            return LoginResult(False, locked_message(until), locked_until=until)
        session.add(LoginFailure(username=name, at=now))
        audit.record(session, None, "login_failed", username=name, detail=WRONG_CREDENTIALS, region_codes=codes)
        session.flush()
        window_start = now - timedelta(minutes=settings.login_failure_window_minutes)
        failures = session.exec(
            select(func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.username == name, col(LoginFailure.at) > window_start)
        ).one()
        if failures < settings.login_max_failures:
            return LoginResult(False, WRONG_CREDENTIALS)
        until = now + timedelta(minutes=settings.lockout_minutes)
        lock = session.get(AccountLock, name)
        if lock is None:
            session.add(AccountLock(username=name, locked_at=now, locked_until=until))
        else:
            lock.locked_at, lock.locked_until = now, until
        session.exec(delete(LoginFailure).where(col(LoginFailure.username) == name))  # type: ignore[call-overload]
        audit.record(
            session,
            None,
            "lockout",
            username=name,
            object_type="user",
            object_id=user.id if user and user.id else "",
            detail=f"{failures} 次登录失败，锁定 {settings.lockout_minutes} 分钟",
            region_codes=codes,
        )
    return LoginResult(False, locked_message(until), locked_until=until)


def build_actor(session: Session, user: User) -> Actor:
    region_name = ""
    if user.region_code:
        region = session.get(Region, user.region_code)
        region_name = full_region_name(session, region) if region else user.region_code
    institution_name = ""
    if user.institution_id:
        institution = session.get(Institution, user.institution_id)
        institution_name = institution.name if institution else ""
    assert user.id is not None
    return Actor(
        user_id=user.id,
        username=user.username,
        real_name=user.real_name,
        level=Level(user.level),
        duty=Duty(user.duty),
        region_code=user.region_code,
        region_name=region_name,
        institution_id=user.institution_id,
        institution_name=institution_name,
        province_code=user.province_code,
        city_code=user.city_code,
        county_code=user.county_code,
        township_code=user.township_code,
        session_version=user.session_version,
        is_demo=user.is_demo,
    )


def login_succeeded(username: str, now: datetime | None = None, via: str = "password") -> Actor:
    """The password was right: clear the failures, stamp the login, audit it, return the actor."""
    now = now or utcnow()
    name = normalise_username(username)
    with db.session_scope(write=True) as session:
        user = session.exec(select(User).where(User.username == name)).one()
        session.exec(delete(LoginFailure).where(col(LoginFailure.username) == name))  # type: ignore[call-overload]
        user.last_login_at = now
        session.add(user)
        actor = build_actor(session, user)
        audit.record(
            session,
            actor,
            "login",
            object_type="user",
            object_id=actor.user_id,
            detail="密码登录" if via == "password" else "凭 Cookie 重新登录",
        )
    return actor


def authenticate(username: str, password: str, now: datetime | None = None) -> LoginResult:
    """The whole login check in one call (used by the CLI and tests; the login page runs the same
    three steps around streamlit-authenticator's own password check)."""
    credentials, until = gate(username, now)
    if until is not None:
        return register_failure(username, now)
    if credentials is None:
        burn_equal_time(password)
        return register_failure(username, now)
    if not verify_password(password, credentials.password_hash):
        return register_failure(username, now)
    return LoginResult(True, actor=login_succeeded(username, now))


def session_still_valid(actor: Actor) -> bool:
    """Is the account still active and the session not ended by a password reset?"""
    with db.session_scope() as session:
        user = session.get(User, actor.user_id)
        return bool(user and user.is_active and user.session_version == actor.session_version)


def end_session(actor: Actor, reason: str = "logout") -> None:
    """Audit the end of a session: ``logout`` or ``session_timeout``."""
    with db.session_scope(write=True) as session:
        detail = "用户退出" if reason == "logout" else f"空闲超过 {get_settings().session_idle_minutes} 分钟"
        audit.record(session, actor, reason, object_type="user", object_id=actor.user_id, detail=detail)


def unlock(actor: Actor, username: str) -> None:
    """A security administrator lifts a lock before its time."""
    name = normalise_username(username)
    with db.session_scope(write=True) as session:
        user = session.exec(select(User).where(User.username == name)).first()
        if user is not None:
            require(actor, Action.UNLOCK_ACCOUNT, user)
        else:
            require(actor, Action.UNLOCK_ACCOUNT)
        lock = session.get(AccountLock, name)
        if lock is None:
            raise ServiceError(f"账户 {name} 当前没有被锁定。")
        before = {"locked_until": lock.locked_until}
        session.delete(lock)
        session.exec(delete(LoginFailure).where(col(LoginFailure.username) == name))  # type: ignore[call-overload]
        audit.record(session, actor, "unlock", object_type="user", object_id=name, before=before)


@dataclass(frozen=True)
class LockRow:
    username: str
    real_name: str
    locked_at: datetime
    locked_until: datetime


def list_locks(actor: Actor, now: datetime | None = None) -> list[LockRow]:
    """Current locks on the accounts in the security administrator's scope."""
    require(actor, Action.UNLOCK_ACCOUNT)
    now = now or utcnow()
    with db.session_scope() as session:
        rows = session.exec(
            select(AccountLock, User)
            .join(User, col(User.username) == col(AccountLock.username))
            .where(col(AccountLock.locked_until) > now, scope_filter(actor, User))
            .order_by(col(AccountLock.locked_until).desc())
        ).all()
        return [LockRow(u.username, u.real_name, lock.locked_at, lock.locked_until) for lock, u in rows]
