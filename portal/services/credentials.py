"""A user's own credentials: changing the password under the policy, the second factor.

Used by the login's steps (a forced change, enrolment) and by the 我的账户 page alike. No Streamlit.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from portal.auth import totp
from portal.auth.actor import Actor
from portal.auth.passwords import hash_password, password_problems, verify_password
from portal.auth.roles import Duty
from portal.clock import utcnow
from portal.data import crypto, db
from portal.data.models import PasswordHistory, User
from portal.services import audit
from portal.services.errors import ServiceError, ValidationError
from portal.services.security_policy import current_policy

TOTP_CONTEXT = "user.totp_secret"


def password_expired(user: User, now: datetime | None = None) -> bool:
    """Is the password older than ``password_max_age_days``? (Demo accounts never expire.)"""
    days = current_policy().max_age_days
    if days <= 0 or user.is_demo:
        return False
    changed = user.password_changed_at or user.created_at
    return (now or utcnow()) - changed > timedelta(days=days)


def change_reason(user: User, now: datetime | None = None) -> str | None:
    """Why the user must change the password before going on, or None."""
    if user.temp_password_expires_at is not None:
        return "您正在使用管理员签发的临时密码，请设置新密码。"
    if user.must_change_password:
        return "您的密码须在使用前修改（首次登录或密码借用已结束）。"
    if password_expired(user, now):
        return f"您的密码已使用超过 {current_policy().max_age_days} 天，请设置新密码。"
    return None


def _reused(session: Session, user: User, password: str) -> bool:
    """Is ``password`` the current one or one of the last ``password_history`` passwords?"""
    keep = current_policy().history
    if verify_password(password, user.password_hash) and user.temp_password_expires_at is None:
        return True
    earlier = session.exec(
        select(PasswordHistory.password_hash)
        .where(PasswordHistory.user_id == user.id)
        .order_by(col(PasswordHistory.changed_at).desc(), col(PasswordHistory.id).desc())
        .limit(keep - 1 if user.temp_password_expires_at is None else keep)
    ).all()
    return any(verify_password(password, h) for h in earlier)


def set_password(session: Session, user: User, new_password: str, confirm: str, now: datetime) -> None:
    """Store a new password chosen by its owner, after the policy checks (inside ``session``)."""
    from portal.services.accounts import context_words

    if new_password != confirm:
        raise ValidationError({"confirm": "两次输入的新密码不一致。"})
    problems = password_problems(new_password, context_words(session, user))
    if problems:
        raise ValidationError({"new_password": "，".join(problems) + "。"})
    if _reused(session, user, new_password):
        raise ValidationError(
            {"new_password": f"新密码不能与当前密码或最近 {current_policy().history} 次使用过的密码相同。"}
        )
    if user.temp_password_expires_at is None:
        # The outgoing password joins the history (a temporary one is nobody's choice).
        session.add(PasswordHistory(user_id=user.id or 0, password_hash=user.password_hash, changed_at=now))
    user.password_hash = hash_password(new_password)
    user.password_changed_at = now
    user.must_change_password = False
    user.temp_password_expires_at = None
    user.temp_password_used = False
    session.add(user)


def _own_account(session: Session, actor: Actor, current_password: str) -> User:
    """The actor's own active account, once the current password is confirmed."""
    user = session.get(User, actor.user_id)
    if user is None or not user.is_active:
        raise ServiceError("账户不存在或已停用。")
    if not verify_password(current_password, user.password_hash):
        raise ValidationError({"current": "当前密码不正确。"})
    return user


def change_own_password(actor: Actor, current: str, new_password: str, confirm: str) -> None:
    """The 我的账户 page: change one's password, giving the current one. Other sessions end."""
    now = utcnow()
    with db.session_scope(write=True) as session:
        user = _own_account(session, actor, current)
        set_password(session, user, new_password, confirm, now)
        user.session_version += 1  # every other session of the user ends at its next click
        session.add(user)
        audit.record(session, actor, "password_change", object_type="user", object_id=actor.user_id, detail="本人修改")
    return None


def secret_of(user: User) -> str | None:
    """The user's TOTP secret in clear (None when not enrolled)."""
    return crypto.decrypt(user.totp_secret, TOTP_CONTEXT) if user.totp_secret else None


def store_second_factor(session: Session, user: User, secret: str, code: str, now: datetime) -> None:
    """Enrol ``secret`` once the user proves it works with a code from their app."""
    step = totp.matching_step(secret, code, None, now)
    if step is None:
        raise ValidationError({"code": "动态口令不正确，请核对手机时间后输入验证器当前显示的 6 位数字。"})
    user.totp_secret = crypto.encrypt(secret, TOTP_CONTEXT)
    user.totp_last_step = step
    session.add(user)


def enrol_own_second_factor(actor: Actor, current_password: str, secret: str, code: str) -> None:
    """The 我的账户 page: enrol (or replace) the second factor, confirming with the password."""
    now = utcnow()
    with db.session_scope(write=True) as session:
        user = _own_account(session, actor, current_password)
        replaced = bool(user.totp_secret)
        store_second_factor(session, user, secret, code, now)
        user.session_version += 1
        session.add(user)
        audit.record(
            session,
            actor,
            "totp_enrol",
            object_type="user",
            object_id=actor.user_id,
            detail="更换动态口令设备" if replaced else "绑定动态口令",
        )


def second_factor_status(actor: Actor) -> tuple[bool, bool]:
    """(enrolled, required) for the user's own account."""
    with db.session_scope() as session:
        user = session.get(User, actor.user_id)
        if user is None:
            return False, False
        return bool(user.totp_secret), totp.required_for(Duty(user.duty), user.is_demo)
