"""Logging in and out: failed attempts, lockout, the actor, sessions. No Streamlit here.

Failures are counted per login name as typed, known or not, in the database, so that the lock
holds across restarts and processes and an unknown name behaves exactly like a wrong password.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col, func, select

from portal.auth import totp
from portal.auth.actor import Actor
from portal.auth.passwords import burn_equal_time, verify_password
from portal.auth.policy import Action, require, scope_filter
from portal.auth.roles import Duty, Level
from portal.clock import format_local, utcnow
from portal.data import db
from portal.data.models import AccountLock, Institution, LoginFailure, Region, User
from portal.data.text import without_bad_characters
from portal.services import audit, credentials, loans
from portal.services.errors import ServiceError
from portal.services.regions import full_region_name
from portal.settings import get_settings

WRONG_CREDENTIALS = "用户名或密码错误。"


def normalise_username(username: str) -> str:
    """The name as typed, trimmed and lower-cased; a character no stored text may hold (a NUL, a
    lone surrogate, a direction mark) becomes "?", which no username contains, so the name is
    simply unknown (and PostgreSQL is never sent a NUL)."""
    return without_bad_characters(username or "", replacement="?").strip().lower()


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


def register_failure(username: str, now: datetime | None = None, detail: str = "") -> LoginResult:
    """Record a failed attempt; lock the name when the limit is reached. Returns what to say.

    ``detail`` says what failed when it was not the password (a second-factor code)."""
    settings = get_settings()
    now = now or utcnow()
    name = normalise_username(username)[:64]
    with db.session_scope(write=True) as session:
        until = locked_until(session, name, now)
        user = session.exec(select(User).where(User.username == name)).first()
        codes = _region_codes(user)
        if until is not None:
            audit.record(
                session,
                None,
                "login_failed",
                username=name,
                detail="账户锁定期间尝试登录",
                region_codes=codes,
                outcome="failure",
            )
            return LoginResult(False, locked_message(until), locked_until=until)
        session.add(LoginFailure(username=name, at=now))
        audit.record(
            session,
            None,
            "login_failed",
            username=name,
            detail=detail or WRONG_CREDENTIALS,
            region_codes=codes,
            outcome="failure",
        )
        session.flush()
        window_start = now - timedelta(minutes=settings.login_failure_window_minutes)
        failures = session.exec(
            select(func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.username == name, col(LoginFailure.at) > window_start)
        ).one()
        if failures < settings.login_max_failures:
            return LoginResult(False, detail or WRONG_CREDENTIALS)
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


def build_actor(session: Session, user: User, session_id: str = "", loan_id: int | None = None) -> Actor:
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
        session_id=session_id,
        loan_id=loan_id,
    )


def login_succeeded(
    username: str, now: datetime | None = None, via: str = "password", session_id: str | None = None
) -> Actor:
    """Every step passed: clear the failures, stamp the login, audit it, return the actor (with a
    new session id, and the password loan in force, if any)."""
    now = now or utcnow()
    name = normalise_username(username)
    with db.session_scope(write=True) as session:
        user = session.exec(select(User).where(User.username == name)).one()
        session.exec(delete(LoginFailure).where(col(LoginFailure.username) == name))  # type: ignore[call-overload]
        user.last_login_at = now
        session.add(user)
        loan_id = loans.loan_in_force(session, user.id or 0, now)
        actor = build_actor(session, user, session_id or new_session_id(), loan_id)
        detail = "密码登录" if via == "password" else "凭 Cookie 重新登录"
        if loan_id is not None:
            detail += f"（密码借用期间，借用单 {loan_id}）"
        audit.record(session, actor, "login", object_type="user", object_id=actor.user_id, detail=detail)
    return actor


def new_session_id() -> str:
    return secrets.token_hex(12)


STEP_TOTP = "totp"  # give the code of the enrolled second factor
STEP_CHANGE_PASSWORD = "change_password"  # set a new password (temporary, first use, expired, loan over)
STEP_ENROL_TOTP = "enrol_totp"  # enrol the second factor (required and not yet enrolled)


@dataclass(frozen=True)
class PendingLogin:
    """A login whose password was right and whose further steps are still to do."""

    user_id: int
    username: str
    real_name: str
    via: str
    steps: tuple[str, ...]
    session_id: str
    change_reason: str = ""

    @property
    def step(self) -> str | None:
        return self.steps[0] if self.steps else None

    def done(self, step: str) -> PendingLogin:
        return replace(self, steps=tuple(s for s in self.steps if s != step))


@dataclass(frozen=True)
class LoginStart:
    pending: PendingLogin | None = None
    message: str = ""  # why the login stops here (a used or expired temporary password)


def begin_login(username: str, via: str = "password", now: datetime | None = None) -> LoginStart:
    """The password (or cookie) was right: what must still happen before the session starts.

    A temporary password is single use: its first successful use spends it, so the change must be
    made in this login; an expired or spent one is refused. A loan that ran out is ended here,
    which asks for a new password.
    """
    now = now or utcnow()
    name = normalise_username(username)
    with db.session_scope(write=True) as session:
        user = session.exec(select(User).where(User.username == name)).first()
        if user is None or not user.is_active:
            return LoginStart(message=WRONG_CREDENTIALS)
        codes = _region_codes(user)
        if user.temp_password_expires_at is not None:
            refusal = ""
            if user.temp_password_used:
                refusal = "该临时密码已使用过（临时密码只能使用一次），请联系上一级管理员重新重置。"
            elif user.temp_password_expires_at <= now:
                refusal = "临时密码已过期，请联系上一级管理员重新重置。"
            if refusal:
                audit.record(
                    session,
                    None,
                    "login_failed",
                    username=name,
                    object_type="user",
                    object_id=user.id or "",
                    detail=refusal,
                    region_codes=codes,
                    outcome="failure",
                )
                return LoginStart(message=refusal)
            user.temp_password_used = True
            session.add(user)
        loans.end_due_loans(session, user.id, now)
        steps: list[str] = []
        if user.totp_secret:
            steps.append(STEP_TOTP)
        reason = credentials.change_reason(user, now)
        if reason:
            steps.append(STEP_CHANGE_PASSWORD)
        if not user.totp_secret and totp.required_for(Duty(user.duty), user.is_demo):
            steps.append(STEP_ENROL_TOTP)
        return LoginStart(
            pending=PendingLogin(
                user_id=user.id or 0,
                username=user.username,
                real_name=user.real_name,
                via=via,
                steps=tuple(steps),
                session_id=new_session_id(),
                change_reason=reason or "",
            )
        )


def _pending_user(session: Session, pending: PendingLogin) -> User:
    user = session.get(User, pending.user_id)
    if user is None or not user.is_active:
        raise ServiceError("账户不存在或已停用，请重新登录。")
    return user


def verify_second_factor(pending: PendingLogin, code: str, now: datetime | None = None) -> LoginResult | PendingLogin:
    """The login's second step: the code from the enrolled app. A wrong or replayed code counts as
    a failed login (towards the lock); a right one is spent (its time step is remembered)."""
    now = now or utcnow()
    with db.session_scope(write=True) as session:
        user = _pending_user(session, pending)
        secret = credentials.secret_of(user)
        if secret is None:
            return pending.done(STEP_TOTP)
        step = totp.matching_step(secret, code, user.totp_last_step, now)
        replay = step is None and totp.is_replay(secret, code, user.totp_last_step, now)
        if step is not None:
            user.totp_last_step = step
            session.add(user)
            return pending.done(STEP_TOTP)
    detail = "动态口令已使用过（重放）" if replay else "动态口令错误"
    result = register_failure(pending.username, now, detail=detail)
    if result.locked_until is None:
        message = "该动态口令已使用过，请等待验证器显示下一个口令。" if replay else "动态口令错误，请重新输入。"
        return LoginResult(False, message)
    return result


def complete_password_change(
    pending: PendingLogin, new_password: str, confirm: str, now: datetime | None = None
) -> PendingLogin:
    """The forced change within the login (raises ValidationError with the policy's reasons)."""
    now = now or utcnow()
    with db.session_scope(write=True) as session:
        user = _pending_user(session, pending)
        credentials.set_password(session, user, new_password, confirm, now)
        user.session_version += 1
        session.add(user)
        audit.record(
            session,
            build_actor(session, user, pending.session_id),
            "password_change",
            object_type="user",
            object_id=user.id or "",
            detail=f"登录时修改：{pending.change_reason}"[:500],
        )
    return pending.done(STEP_CHANGE_PASSWORD)


def complete_enrolment(pending: PendingLogin, secret: str, code: str, now: datetime | None = None) -> PendingLogin:
    """Enrol the second factor within the login (raises ValidationError on a wrong code)."""
    now = now or utcnow()
    with db.session_scope(write=True) as session:
        user = _pending_user(session, pending)
        credentials.store_second_factor(session, user, secret, code, now)
        audit.record(
            session,
            build_actor(session, user, pending.session_id),
            "totp_enrol",
            object_type="user",
            object_id=user.id or "",
            detail="首次登录绑定动态口令",
        )
    return pending.done(STEP_ENROL_TOTP)


def finish_login(pending: PendingLogin, now: datetime | None = None) -> Actor:
    """All steps done: start the session."""
    if pending.steps:
        raise ServiceError("登录尚未完成。")
    return login_succeeded(pending.username, now, via=pending.via, session_id=pending.session_id)


def authenticate(username: str, password: str, now: datetime | None = None, code: str | None = None) -> LoginResult:
    """The whole login check in one call (the CLI and tests; the login page runs the same steps
    around streamlit-authenticator's own password check). Steps other than the second factor's
    code (a forced change, an enrolment) stop the login with a message."""
    credentials_, until = gate(username, now)
    if until is not None:
        return register_failure(username, now)
    if credentials_ is None:
        burn_equal_time(password)
        return register_failure(username, now)
    if not verify_password(password, credentials_.password_hash):
        return register_failure(username, now)
    start = begin_login(username, now=now)
    if start.pending is None:
        return LoginResult(False, start.message)
    pending = start.pending
    if pending.step == STEP_TOTP:
        checked = verify_second_factor(pending, code or "", now)
        if isinstance(checked, LoginResult):
            return checked
        pending = checked
    if pending.steps:
        return LoginResult(False, f"登录还须完成：{', '.join(pending.steps)}")
    return LoginResult(True, actor=finish_login(pending, now))


def session_still_valid(actor: Actor, now: datetime | None = None) -> bool:
    """Is the account still active, the session not ended (a reset, a new password, a new role)
    and, for a session opened during a password loan, the loan still in force?"""
    with db.session_scope() as session:
        user = session.get(User, actor.user_id)
        valid = bool(user and user.is_active and user.session_version == actor.session_version)
    if valid and actor.loan_id is not None and not loans.loan_still_in_force(actor.loan_id, now):
        with db.session_scope(write=True) as session:
            loans.end_due_loans(session, actor.user_id, now)
        return False
    return valid


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
