"""Accounts: creating users with a level, a duty and a scope; listing them in scope."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, func, select

from portal.auth.actor import Actor
from portal.auth.passwords import hash_password, password_problems
from portal.auth.policy import Action, require, scope_filter
from portal.auth.roles import BUREAU_LEVELS, Duty, Level, is_valid_role, role_label
from portal.data import db
from portal.data.models import Institution, Region, User
from portal.services import audit
from portal.services.errors import ValidationError

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


def create_user(actor: Actor, data: NewUser) -> User:
    """Create an account. The actor must be allowed to manage accounts of that level and scope."""
    username = data.username.strip().lower()
    errors: dict[str, str] = {}
    if not USERNAME_RE.match(username):
        errors["username"] = "用户名应为 3–64 位小写字母、数字、点、下划线或连字符，以字母或数字开头。"
    if not data.real_name.strip() or len(data.real_name) > 64:
        errors["real_name"] = "真实姓名不能为空，且不超过 64 个字。"
    if data.phone and not PHONE_RE.match(data.phone):
        errors["phone"] = "联系电话格式不正确。"
    if not is_valid_role(data.level, data.duty):
        errors["duty"] = f"{role_label(data.level, data.duty)}不是有效的角色。"
    problems = password_problems(data.password, (username, data.real_name))
    if problems:
        errors["password"] = "，".join(problems) + "。"
    with db.session_scope(write=True) as session:
        codes = _scope_codes(session, data, errors)
        if session.exec(select(User).where(User.username == username)).first():
            errors["username"] = f"用户名 {username} 已被使用。"
        if errors:
            raise ValidationError(errors)
        user = User(
            username=username,
            real_name=data.real_name.strip(),
            phone=data.phone.strip(),
            level=data.level.value,
            duty=data.duty.value,
            password_hash=hash_password(data.password),
            must_change_password=data.must_change_password,
            is_demo=data.is_demo,
            **codes,  # type: ignore[arg-type]
        )
        require(actor, Action.MANAGE_USER, user)
        session.add(user)
        session.flush()
        audit.record(
            session,
            actor,
            "user_create",
            object_type="user",
            object_id=user.id or "",
            after={
                "username": user.username,
                "real_name": user.real_name,
                "role": role_label(data.level, data.duty),
                "region_code": user.region_code,
                "institution_id": user.institution_id,
            },
        )
    return user


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
    if search and search.strip():
        term = search.strip()
        conditions.append(col(User.username).contains(term.lower()) | col(User.real_name).contains(term))
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
