"""Accounts (R6.1, R6.3): creating, changing and disabling users of a level and the level below,
resetting a forgotten password from one level up, the register of grants, the idle-account job.

Every role given, changed or taken away is filed in ``account_grant``, which the level above reads
in its scope. The three administrators (system, security, audit) stay apart: an account holds one
duty, an administrator's duty is never turned into another administrator's duty, and one person
(real name and phone) holds at most one of the three in a region.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, func, select

from portal.auth.actor import Actor
from portal.auth.passwords import hash_password, password_problems, random_password
from portal.auth.policy import Action, may, require, scope_filter
from portal.auth.roles import (
    ADMIN_DUTIES,
    BUREAU_LEVELS,
    DUTIES_BY_LEVEL,
    DUTY_LABELS,
    LEVEL_ORDER,
    Duty,
    Level,
    is_valid_role,
    level_rank,
    role_label,
)
from portal.clock import format_local, utcnow
from portal.data import db
from portal.data.models import AccountGrant, Institution, Region, User
from portal.services import audit, exports
from portal.services.errors import ServiceError, ValidationError
from portal.services.inputs import search_term
from portal.services.security_policy import current_policy

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
PHONE_RE = re.compile(r"^[0-9+\- ]{7,20}$")


@dataclass(frozen=True)
class NewUser:
    username: str
    real_name: str
    level: Level
    duty: Duty
    password: str
    phone: str = ""
    region_code: str | None = None  # bureau levels: the province, city or county code
    institution_code: str | None = None  # township and institution levels: the 10-digit code
    must_change_password: bool = False
    is_demo: bool = False


def _scope_codes(session: Session, data: NewUser, errors: dict[str, str]) -> dict[str, object]:
    """Resolve the region or institution of a new user into the scope columns of the row."""
    if data.level in BUREAU_LEVELS:
        if data.level is Level.MINISTRY:
            return {"region_code": None}
        region = session.get(Region, data.region_code or "")
        expected = {Level.PROVINCE: "province", Level.CITY: "city", Level.COUNTY: "county"}[data.level]
        ok = region is not None and (
            region.level == expected or (data.level is Level.COUNTY and region.county_code == region.code)
        )
        if not ok or region is None:
            errors["region_code"] = f"管辖区划“{data.region_code or ''}”不是有效的{expected_label(data.level)}区划。"
            return {}
        return {
            "region_code": region.code,
            "province_code": region.province_code,
            "city_code": region.city_code if data.level is not Level.PROVINCE else None,
            "county_code": region.county_code if data.level is Level.COUNTY else None,
        }
    institution = session.exec(select(Institution).where(Institution.code == (data.institution_code or ""))).first()
    if institution is None:
        errors["institution_code"] = f"机构标识码“{data.institution_code or ''}”不存在。"
        return {}
    if data.level is Level.TOWNSHIP and not institution.is_township_central:
        errors["institution_code"] = f"{institution.name}不是乡镇中心园，不能设乡镇级账户。"
        return {}
    return {
        "region_code": institution.township_code or institution.county_code,
        "institution_id": institution.id,
        "province_code": institution.province_code,
        "city_code": institution.city_code,
        "county_code": institution.county_code,
        "township_code": institution.township_code,
    }


def expected_label(level: Level) -> str:
    return {Level.PROVINCE: "省级", Level.CITY: "地市级", Level.COUNTY: "县级"}.get(level, "")


def context_words(session: Session, user: User) -> tuple[str, ...]:
    """The words a user's password must not contain: names and codes of the user and the place."""
    words = [user.username, user.real_name]
    if user.region_code:
        region = session.get(Region, user.region_code)
        words += [user.region_code, region.name if region else ""]
    if user.institution_id:
        institution = session.get(Institution, user.institution_id)
        if institution is not None:
            words += [institution.code, institution.name]
    return tuple(w for w in words if w)


@dataclass(frozen=True)
class IssuedPassword:
    """A temporary password, shown once to the administrator who issued it."""

    user_id: int
    username: str
    real_name: str
    password: str
    expires_at: datetime


def _issue_temporary(user: User, now: datetime) -> tuple[str, datetime]:
    """Give ``user`` a fresh random temporary password: single use, valid for the set hours."""
    password = random_password(16)
    expires = now + timedelta(hours=current_policy().temp_password_hours)
    user.password_hash = hash_password(password)
    user.must_change_password = True
    user.temp_password_expires_at = expires
    user.temp_password_used = False
    user.password_changed_at = None
    return password, expires


def _check_separation(session: Session, user: User, duty: Duty, errors: dict[str, str]) -> None:
    """One person holds at most one of the three administrators' duties in a region (R6.5)."""
    if duty not in ADMIN_DUTIES:
        return
    if not user.phone.strip():
        errors["phone"] = "管理员账户须登记联系电话（用于核实身份与三员分立）。"
        return
    others = session.exec(
        select(User).where(
            col(User.real_name) == user.real_name,
            col(User.phone) == user.phone,
            col(User.duty).in_([d.value for d in ADMIN_DUTIES if d is not duty]),
            col(User.is_active),
            User.region_code == user.region_code,
            col(User.id) != (user.id or 0),
        )
    ).first()
    if others is not None:
        errors["duty"] = (
            f"三员分立：{user.real_name}（{user.phone}）已持有{DUTY_LABELS[Duty(others.duty)]}账户 "
            f"{others.username}，不能再担任{DUTY_LABELS[duty]}。"
        )


def _file_grant(
    session: Session, actor: Actor, user: User, change: str, *, previous_role: str = "", reason: str = ""
) -> None:
    """File a grant (given, changed, revoked, restored) in the register the level above reads."""
    scope = ""
    if user.institution_id:
        institution = session.get(Institution, user.institution_id)
        scope = institution.name if institution else ""
    elif user.region_code:
        region = session.get(Region, user.region_code)
        scope = region.name if region else user.region_code
    else:
        scope = "全国"
    assert user.id is not None
    session.add(
        AccountGrant(
            at=utcnow(),
            change=change,
            grantor_id=actor.user_id or None,
            grantor_username=actor.username,
            grantor_real_name=actor.real_name,
            grantor_role=actor.role,
            grantee_id=user.id,
            grantee_username=user.username,
            grantee_real_name=user.real_name,
            role=role_label(Level(user.level), Duty(user.duty)),
            level=user.level,
            duty=user.duty,
            previous_role=previous_role,
            scope=scope,
            reason=reason[:500],
            province_code=user.province_code,
            city_code=user.city_code,
            county_code=user.county_code,
            township_code=user.township_code,
            institution_id=user.institution_id,
        )
    )


def _validate_identity(data: NewUser, username: str, errors: dict[str, str]) -> None:
    if not USERNAME_RE.match(username):
        errors["username"] = "用户名应为 3–64 位小写字母、数字、点、下划线或连字符，以字母或数字开头。"
    if not data.real_name.strip() or len(data.real_name) > 64 or not data.real_name.strip().isprintable():
        errors["real_name"] = "真实姓名不能为空，不超过 64 个字，且不能含控制字符。"
    if data.phone and not PHONE_RE.match(data.phone):
        errors["phone"] = "联系电话格式不正确。"
    if not is_valid_role(data.level, data.duty):
        errors["duty"] = f"{role_label(data.level, data.duty)}不是有效的角色。"


def _create(actor: Actor, data: NewUser, temporary: bool) -> tuple[User, IssuedPassword | None]:
    username = data.username.strip().lower()
    errors: dict[str, str] = {}
    _validate_identity(data, username, errors)
    now = utcnow()
    with db.session_scope(write=True) as session:
        codes = _scope_codes(session, data, errors)
        if "username" not in errors and session.exec(select(User).where(User.username == username)).first():
            errors["username"] = f"用户名 {username} 已被使用。"
        user = User(
            username=username,
            real_name=data.real_name.strip(),
            phone=data.phone.strip(),
            level=data.level.value,
            duty=data.duty.value,
            password_hash="",
            must_change_password=data.must_change_password,
            is_demo=data.is_demo,
            **codes,  # type: ignore[arg-type]
        )
        if not actor.is_system and "duty" not in errors:
            _check_separation(session, user, data.duty, errors)
        issued: IssuedPassword | None = None
        if not temporary:
            problems = password_problems(data.password, context_words(session, user))
            if problems:
                errors["password"] = "，".join(problems) + "。"
        if errors:
            raise ValidationError(errors)
        require(actor, Action.MANAGE_USER, user)
        if temporary:
            password, expires = _issue_temporary(user, now)
        else:
            user.password_hash = hash_password(data.password)
            if actor.is_system and not data.must_change_password:
                user.password_changed_at = now
            else:
                # An administrator never chooses a password someone keeps: it is changed at first use.
                user.must_change_password = True
        session.add(user)
        session.flush()
        assert user.id is not None
        if temporary:
            issued = IssuedPassword(user.id, user.username, user.real_name, password, expires)
        _file_grant(session, actor, user, "grant")
        audit.record(
            session,
            actor,
            "user_create",
            object_type="user",
            object_id=user.id,
            after={
                "username": user.username,
                "real_name": user.real_name,
                "role": role_label(data.level, data.duty),
                "region_code": user.region_code,
                "institution_id": user.institution_id,
            },
        )
    return user, issued


def create_user(actor: Actor, data: NewUser) -> User:
    """Create an account with the password given (the operator's commands, demo data, tests).

    Created by an administrator, the password must be changed at first use all the same.
    """
    return _create(actor, data, temporary=False)[0]


def open_account(actor: Actor, data: NewUser) -> IssuedPassword:
    """An administrator opens an account: it gets a random temporary password (single use, valid
    ``temp_password_hours``), shown once, to be changed at first login."""
    issued = _create(actor, data, temporary=True)[1]
    assert issued is not None
    return issued


def user_id_of(username: str) -> int:
    """The id of an account by its username (ServiceError when there is none)."""
    with db.session_scope() as session:
        user_id = session.exec(select(User.id).where(User.username == username.strip().lower())).first()
    if user_id is None:
        raise ServiceError(f"账户 {username} 不存在。")
    return user_id


def _managed_user(session: Session, actor: Actor, user_id: int, action: Action = Action.MANAGE_USER) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise ServiceError("该账户不存在。")
    require(actor, action, user)
    return user


def update_user(actor: Actor, user_id: int, *, real_name: str, phone: str, duty: Duty, reason: str = "") -> None:
    """Change an account's real name, phone or duty (a role change is filed as a grant)."""
    errors: dict[str, str] = {}
    with db.session_scope(write=True) as session:
        user = _managed_user(session, actor, user_id)
        level = Level(user.level)
        _validate_identity(NewUser(user.username, real_name, level, duty, "", phone=phone), user.username, errors)
        old_duty = Duty(user.duty)
        if duty is not old_duty and old_duty in ADMIN_DUTIES and duty in ADMIN_DUTIES:
            errors["duty"] = "三员分立：管理员账户的职责不能改为另一种管理员职责，请另建账户。"
        if duty is not old_duty and not reason.strip():
            errors["reason"] = "变更角色须填写理由（记入授权登记）。"
        before = {"real_name": user.real_name, "phone": user.phone, "role": role_label(level, old_duty)}
        user.real_name, user.phone = real_name.strip(), phone.strip()
        if not errors:
            _check_separation(session, user, duty, errors)
        if errors:
            raise ValidationError(errors)
        user.duty = duty.value
        after = {"real_name": user.real_name, "phone": user.phone, "role": role_label(level, duty)}
        if before == after:
            raise ServiceError("没有需要保存的修改。")
        if duty is not old_duty:
            user.session_version += 1  # a new role takes effect at the next login
        session.add(user)
        if duty is not old_duty:
            _file_grant(session, actor, user, "change", previous_role=before["role"], reason=reason)
        audit.record(
            session,
            actor,
            "user_update",
            object_type="user",
            object_id=user_id,
            before=before,
            after=after,
            detail=reason.strip()[:200],
        )


def set_active(actor: Actor, user_id: int, active: bool, reason: str) -> None:
    """Disable an account (its open sessions end at their next click) or enable it again."""
    if not reason.strip():
        raise ValidationError({"reason": "停用或启用账户须填写理由。"})
    now = utcnow()
    with db.session_scope(write=True) as session:
        user = _managed_user(session, actor, user_id)
        if user.is_active == active:
            raise ServiceError(f"账户 {user.username} 已经{'启用' if active else '停用'}。")
        user.is_active = active
        if active:
            user.disabled_at, user.disabled_reason = None, ""
        else:
            user.disabled_at, user.disabled_reason = now, reason.strip()[:200]
            user.session_version += 1
        session.add(user)
        _file_grant(session, actor, user, "restore" if active else "revoke", reason=reason.strip())
        audit.record(
            session,
            actor,
            "user_enable" if active else "user_disable",
            object_type="user",
            object_id=user_id,
            detail=reason.strip()[:200],
        )


def revoke_grant(actor: Actor, username: str, reason: str) -> None:
    """The security administrator takes back a role given wrongly: the account is disabled (its
    sessions end), the revocation is filed in the register and audited."""
    reason = reason.strip()
    if len(reason) < 4:
        raise ValidationError({"reason": "撤销授权须写明理由（至少 4 个字）。"})
    now = utcnow()
    name = search_term(username, 64).lower()
    with db.session_scope(write=True) as session:
        user = session.exec(select(User).where(User.username == name)).first() if name else None
        if user is None or not may(actor, Action.VIEW_USER, user):
            raise ServiceError("该账户不存在或不在您的管辖范围内。")
        require(actor, Action.REVOKE_GRANT, user)
        if not user.is_active:
            raise ServiceError(f"账户 {user.username} 已经停用。")
        user.is_active, user.disabled_at, user.disabled_reason = False, now, f"撤销授权：{reason}"[:200]
        user.session_version += 1
        session.add(user)
        _file_grant(session, actor, user, "revoke", reason=reason)
        audit.record(session, actor, "grant_revoke", object_type="user", object_id=user.id or "", detail=reason[:500])


def reset_password(actor: Actor, user_id: int) -> IssuedPassword:
    """A forgotten password: the administrator one level up issues a temporary one (single use,
    valid ``temp_password_hours``, changed at first use); every open session of the user ends."""
    now = utcnow()
    with db.session_scope(write=True) as session:
        user = _managed_user(session, actor, user_id, Action.RESET_PASSWORD)
        password, expires = _issue_temporary(user, now)
        user.session_version += 1
        session.add(user)
        audit.record(
            session,
            actor,
            "password_reset",
            object_type="user",
            object_id=user_id,
            detail=f"签发临时密码，有效至 {format_local(expires)}，首次使用须修改",
        )
        return IssuedPassword(user_id, user.username, user.real_name, password, expires)


@dataclass(frozen=True)
class UserDetail:
    id: int
    username: str
    real_name: str
    phone: str
    level: Level
    duty: Duty
    role: str
    is_active: bool
    disabled_reason: str
    may_manage: bool
    may_reset: bool
    duties: tuple[Duty, ...]  # the duties this account may be given (its level's)
    has_second_factor: bool
    must_change_password: bool


def user_detail(actor: Actor, user_id: int) -> UserDetail:
    """One account as its administrator sees it, with what the administrator may do to it."""
    require(actor, Action.VIEW_USER)
    with db.session_scope() as session:
        user = session.get(User, user_id)
        if user is None or not may(actor, Action.VIEW_USER, user):
            raise ServiceError("该账户不存在或不在您的管辖范围内。")
        level = Level(user.level)
        return UserDetail(
            id=user_id,
            username=user.username,
            real_name=user.real_name,
            phone=user.phone,
            level=level,
            duty=Duty(user.duty),
            role=role_label(level, Duty(user.duty)),
            is_active=user.is_active,
            disabled_reason=user.disabled_reason,
            may_manage=may(actor, Action.MANAGE_USER, user),
            may_reset=may(actor, Action.RESET_PASSWORD, user),
            duties=tuple(d for d in Duty if d in DUTIES_BY_LEVEL[level]),
            has_second_factor=bool(user.totp_secret),
            must_change_password=user.must_change_password,
        )


def manageable_levels(actor: Actor) -> list[Level]:
    """The levels whose accounts the administrator may open: their own and the one below."""
    if actor.duty is not Duty.SYSADMIN:
        return []
    rank = level_rank(actor.level)
    if actor.level is Level.COUNTY:
        return [Level.COUNTY, Level.TOWNSHIP, Level.INSTITUTION]
    return [lvl for lvl in LEVEL_ORDER if level_rank(lvl) in (rank, rank + 1) and lvl is not Level.TOWNSHIP]


@dataclass(frozen=True)
class GrantRow:
    id: int
    at: datetime
    change: str
    grantor: str
    grantor_role: str
    grantee_username: str
    grantee_real_name: str
    role: str
    previous_role: str
    scope: str
    reason: str


CHANGE_LABELS = {"grant": "授予", "change": "变更", "revoke": "撤销（停用）", "restore": "恢复（启用）"}


@dataclass(frozen=True)
class GrantPage:
    rows: Sequence[GrantRow]
    total: int
    next_before: int | None


def _grant_query_conditions(actor: Actor, search: str | None) -> list:  # type: ignore[type-arg]
    conditions = [scope_filter(actor, AccountGrant)]
    term = search_term(search)
    if term:
        conditions.append(
            col(AccountGrant.grantee_username).contains(term.lower(), autoescape=True)
            | col(AccountGrant.grantee_real_name).contains(term, autoescape=True)
            | col(AccountGrant.grantor_username).contains(term.lower(), autoescape=True)
        )
    return conditions


def _grant_row(g: AccountGrant) -> GrantRow:
    return GrantRow(
        id=g.id or 0,
        at=g.at,
        change=CHANGE_LABELS.get(g.change, g.change),
        grantor=f"{g.grantor_real_name}（{g.grantor_username}）",
        grantor_role=g.grantor_role,
        grantee_username=g.grantee_username,
        grantee_real_name=g.grantee_real_name,
        role=g.role,
        previous_role=g.previous_role,
        scope=g.scope,
        reason=g.reason,
    )


def list_grants(actor: Actor, *, search: str | None = None, before_id: int | None = None, limit: int = 50) -> GrantPage:
    """The register of grants in the administrator's scope (their level and every level below),
    newest first."""
    require(actor, Action.VIEW_GRANTS)
    conditions = _grant_query_conditions(actor, search)
    with db.session_scope() as session:
        total = session.exec(select(func.count()).select_from(AccountGrant).where(*conditions)).one()
        query = select(AccountGrant).where(*conditions)
        if before_id is not None:
            query = query.where(col(AccountGrant.id) < before_id)
        found = session.exec(query.order_by(col(AccountGrant.id).desc()).limit(limit + 1)).all()
    rows = [_grant_row(g) for g in found[:limit]]
    return GrantPage(rows=rows, total=total, next_before=rows[-1].id if len(found) > limit and rows else None)


GRANT_COLUMNS = ("时间", "类别", "授权人", "授权人角色", "用户名", "姓名", "角色", "原角色", "范围", "理由")


def export_grants(actor: Actor, *, search: str | None = None) -> bytes:
    """The register as CSV (UTF-8 with BOM for Excel), neutralised and audited."""
    import csv
    import io

    require(actor, Action.VIEW_GRANTS)
    conditions = _grant_query_conditions(actor, search)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(GRANT_COLUMNS)
    count = 0
    with db.session_scope(write=True) as session:
        for g in session.exec(select(AccountGrant).where(*conditions).order_by(col(AccountGrant.id))):
            r = _grant_row(g)
            writer.writerow(
                [
                    exports.neutralise(v)
                    for v in (
                        format_local(r.at),
                        r.change,
                        r.grantor,
                        r.grantor_role,
                        r.grantee_username,
                        r.grantee_real_name,
                        r.role,
                        r.previous_role,
                        r.scope,
                        r.reason,
                    )
                ]
            )
            count += 1
        exports.record(session, actor, "授权登记", count, object_type="grant")
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def disable_idle_accounts(now: datetime | None = None) -> list[str]:
    """The daily job: disable accounts unused for ``account_idle_days`` (last login, or creation
    for accounts never used). Returns the usernames disabled; each is audited and filed."""
    from portal.auth.actor import SYSTEM_ACTOR

    days = current_policy().account_idle_days
    if days <= 0:
        return []
    now = now or utcnow()
    cutoff = now - timedelta(days=days)
    disabled: list[str] = []
    with db.session_scope(write=True) as session:
        idle = session.exec(
            select(User).where(
                col(User.is_active),
                func.coalesce(col(User.last_login_at), col(User.created_at)) < cutoff,
            )
        ).all()
        for user in idle:
            # Accounts reset or opened recently have a fresh temporary password: not idle.
            if user.temp_password_expires_at is not None and user.temp_password_expires_at > now:
                continue
            user.is_active = False
            user.disabled_at = now
            user.disabled_reason = f"连续 {days} 天未登录，系统自动停用"
            user.session_version += 1
            session.add(user)
            _file_grant(session, SYSTEM_ACTOR, user, "revoke", reason=user.disabled_reason)
            audit.record(
                session,
                SYSTEM_ACTOR,
                "account_idle_disable",
                object_type="user",
                object_id=user.id or "",
                detail=user.disabled_reason,
                region_codes=(user.province_code, user.city_code, user.county_code),
            )
            disabled.append(user.username)
    return disabled


@dataclass(frozen=True)
class UserRow:
    id: int
    username: str
    real_name: str
    role: str
    scope: str
    is_active: bool
    last_login_at: datetime | None


@dataclass(frozen=True)
class UserPage:
    rows: Sequence[UserRow]
    total: int
    next_after: str | None


def list_users(actor: Actor, *, search: str | None = None, after: str | None = None, limit: int = 50) -> UserPage:
    """Accounts in the administrator's scope, by username, keyset-paged."""
    require(actor, Action.VIEW_USER)
    conditions = [scope_filter(actor, User)]
    term = search_term(search)
    if term:
        conditions.append(
            col(User.username).contains(term.lower(), autoescape=True)
            | col(User.real_name).contains(term, autoescape=True)
        )
    with db.session_scope() as session:
        total = session.exec(select(func.count()).select_from(User).where(*conditions)).one()
        query = select(User).where(*conditions)
        if after:
            query = query.where(col(User.username) > after)
        found = session.exec(query.order_by(col(User.username)).limit(limit + 1)).all()
        page = found[:limit]
        region_names = {
            r.code: r.name
            for r in session.exec(
                select(Region).where(col(Region.code).in_({u.region_code for u in page if u.region_code}))
            ).all()
        }
        institution_names = {
            i.id: i.name
            for i in session.exec(
                select(Institution).where(col(Institution.id).in_({u.institution_id for u in page if u.institution_id}))
            ).all()
        }
        rows = [
            UserRow(
                id=u.id or 0,
                username=u.username,
                real_name=u.real_name,
                role=role_label(Level(u.level), Duty(u.duty)),
                scope=institution_names.get(u.institution_id or 0)
                or region_names.get(u.region_code or "", "全国" if u.level == Level.MINISTRY else ""),
                is_active=u.is_active,
                last_login_at=u.last_login_at,
            )
            for u in page
        ]
    return UserPage(rows=rows, total=total, next_after=page[-1].username if len(found) > limit and page else None)


def demo_accounts_exist() -> bool:
    """Is this a demo deployment (any demo account present)? The portal then shows a banner."""
    with db.session_scope() as session:
        return session.exec(select(User.id).where(col(User.is_demo)).limit(1)).first() is not None


def any_user_exists() -> bool:
    with db.session_scope() as session:
        return session.exec(select(User.id).limit(1)).first() is not None
